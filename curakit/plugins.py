"""One registry mechanism for diagnosers, augmenters and strategies.

Entries are added explicitly with a decorator; a duplicate name raises, an unknown name
raises with a did-you-mean. Nothing is swallowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .exceptions import UnknownNameError

__all__ = ["PluginRegistry", "did_you_mean"]

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class PluginRegistry(Generic[T]):
    """A named collection of plugins of one kind (``"diagnoser"``, ``"strategy"``, ...).

    >>> STRATEGIES = PluginRegistry("strategy")
    >>> @STRATEGIES.register("do_nothing")
    ... def do_nothing(model, ts): return model
    >>> STRATEGIES.get("do_nothing") is do_nothing
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator adding ``obj`` under ``name``; ``meta`` is kept for introspection."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"A {self.kind} name must be a non-empty string. Got {name!r} instead.")

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"A {self.kind} named {name!r} is already registered. "
                    "Pick another name or unregister the existing one first."
                )
            self._entries[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._entries[name]
        del self._meta[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            names = sorted(self._entries)
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}.{did_you_mean(str(name), names)} "
                f"Known {self.kind}s: {', '.join(names) or '(none)'}."
            ) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        """Registered names, in registration order (see :meth:`move_to_front`)."""
        return list(self._entries)

    def move_to_front(self, names: list[str] | tuple[str, ...]) -> None:
        """Put the registered ``names`` first, in that order; the others keep theirs. A package whose
        built-in plugins register when their modules are imported fixes their order with it, whichever
        module a program happened to import first."""
        first = [n for n in names if n in self._entries]
        self._entries = {n: self._entries[n] for n in first + [n for n in self._entries if n not in first]}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PluginRegistry({self.kind!r}, names={self.names()!r})"
