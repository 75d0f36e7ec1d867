"""Which classes a data file (a recipe, a registry's ``model.json``) may name.

A recipe or a registry is data: it may name a model class, never a function, and never a module
the user has not allowed. :func:`resolve_class` checks a ``"pkg.mod:Class"`` / ``"pkg.mod.Class"``
spec against an allow-list **before importing anything**, then checks that the attribute is a
class of the expected kind:

* allowed by default: curakit's own packages (``curakit``, ``diagnose``, ``augment``, ``curate``),
  ``sklearn``, ``imblearn``, ``torchvision.models`` and ``torch.nn`` (with their sub-modules);
* plus the modules in ``trusted`` (a recipe's ``trusted_modules:`` key, the CLI's
  ``--trust MODULE``) and in the environment variable ``CURAKIT_TRUST`` (comma-separated).

Trusting a module means: importing it runs its code. Trust only modules you wrote or vetted.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from .exceptions import ParameterError

__all__ = ["DEFAULT_TRUSTED", "KINDS", "is_trusted", "resolve_class", "trusted_modules"]

#: module prefixes importable without the user naming them
DEFAULT_TRUSTED: tuple[str, ...] = ("curakit", "diagnose", "augment", "curate", "sklearn", "imblearn",
                                    "torchvision.models", "torch.nn")
#: kind -> what the class must be
KINDS = {"module": "a torch nn.Module class", "estimator": "a scikit-learn estimator class",
         "any": "a scikit-learn estimator or torch nn.Module class"}


def trusted_modules(trusted: Sequence[str] = ()) -> tuple[str, ...]:
    """The allow-list: the defaults, ``trusted`` and ``$CURAKIT_TRUST`` (comma-separated)."""
    if isinstance(trusted, str):
        trusted = [trusted]
    env = [m.strip() for m in os.environ.get("CURAKIT_TRUST", "").split(",") if m.strip()]
    extra = []
    for name in (*trusted, *env):
        if not isinstance(name, str) or not _valid_module(name.strip()):
            raise ParameterError(
                f"A trusted module must be a dotted module name such as 'mymodels'. Got {name!r} instead."
            )
        extra.append(name.strip())
    return tuple(dict.fromkeys((*DEFAULT_TRUSTED, *extra)))


def _valid_module(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def is_trusted(module: str, trusted: Sequence[str] = ()) -> bool:
    """Whether ``module`` is on the allow-list (equal to, or a sub-module of, an entry)."""
    return any(module == p or module.startswith(p + ".") for p in trusted_modules(trusted))


def _split(spec: str, where: str) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise ParameterError(f"{where} must be a class path such as 'sklearn.linear_model.LogisticRegression'. "
                             f"Got {type(spec).__name__} instead.")
    if ":" in spec:
        module, _, attr = spec.partition(":")
    else:
        module, _, attr = spec.rpartition(".")
    if not _valid_module(module) or not attr.isidentifier():
        raise ParameterError(
            f"{where} names {spec!r}, which is not a class path. Give 'package.module:Class' or "
            "'package.module.Class', such as 'sklearn.linear_model.LogisticRegression'."
        )
    return module, attr


def _kind_ok(cls: object, kind: str) -> bool:
    if not isinstance(cls, type):
        return False
    bases: list[type] = []
    if kind in ("estimator", "any"):
        from sklearn.base import BaseEstimator

        bases.append(BaseEstimator)
    if kind in ("module", "any"):
        torch = sys.modules.get("torch")
        if torch is not None:  # a class that subclasses nn.Module has imported torch already
            bases.append(torch.nn.Module)
    return issubclass(cls, tuple(bases)) if bases else False


def resolve_class(spec: str, *, kind: str, trusted: Sequence[str] = (), where: str = "The class path") -> type:
    """The class ``spec`` names, imported only if its module is allowed and checked to be of ``kind``
    (``"module"``: a torch ``nn.Module`` subclass, ``"estimator"``: a scikit-learn ``BaseEstimator``
    subclass, ``"any"``: either). ``where`` names the spec's origin in messages
    (e.g. ``"Recipe key 'model.estimator'"``). Every refusal is a one-line :class:`ParameterError`."""
    if kind not in KINDS:
        raise ParameterError(f"kind must be one of {', '.join(KINDS)}. Got {kind!r} instead.")
    module, attr = _split(spec, where)
    if not is_trusted(module, trusted):
        raise ParameterError(
            f"{where} names {spec!r} from module {module!r}, which is not trusted: importing it would run its code. "
            f"If you wrote or vetted it, add it to the recipe's 'trusted_modules:' list or pass --trust {module} "
            "(or set CURAKIT_TRUST)."
        )
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise ParameterError(
            f"{where} names {spec!r}, but module {missing!r} cannot be imported. Check the name, install it, or run "
            "from the folder that holds it (or add that folder to PYTHONPATH)."
        ) from None
    cls = getattr(mod, attr, None)
    if cls is None:
        raise ParameterError(f"{where} names {spec!r}, but module {module!r} has no attribute {attr!r}. Check the name.")
    if not _kind_ok(cls, kind):
        raise ParameterError(
            f"{where} names {spec!r}, which is not {KINDS[kind]}: a data file may name a model class, never a "
            "function. Give a class path such as 'sklearn.linear_model.LogisticRegression'."
        )
    return cls
