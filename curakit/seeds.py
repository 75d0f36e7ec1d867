"""Seed handling: one ``random_state`` spawns independent child seeds for numpy, torch,
albumentations and UMAP, so one seed gives identical outputs everywhere."""

from __future__ import annotations

import numbers

import numpy as np

from .exceptions import ParameterError

__all__ = ["check_random_state", "child_seed", "resolve_seed", "spawn_seeds", "torch_generator"]

_MAX_SEED = 2**31 - 1


def _as_seed(random_state: int | np.random.Generator | None, owner: str | None = None) -> int | None:
    if random_state is None or isinstance(random_state, np.random.Generator):
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    where = f" of {owner}" if owner else ""
    raise ParameterError(
        f"The 'random_state' parameter{where} must be a non-negative int, a numpy Generator or None. "
        f"Got {random_state!r} instead."
    )


def check_random_state(
    random_state: int | np.random.Generator | None, owner: str | None = None
) -> np.random.Generator:
    """A numpy ``Generator`` from an int seed, a Generator (returned as is) or None.

    Every ``random_state`` in curakit accepts these three; ``owner`` names the function in the
    error message.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(_as_seed(random_state, owner))


def resolve_seed(random_state: int | np.random.Generator | None, owner: str | None = None) -> int:
    """An int seed from any accepted ``random_state``: an int as is, a Generator draws one, None
    draws a fresh one from the OS. Functions that record their seed (manifests, run.json) record
    this int, so a run with ``random_state=None`` can still be repeated."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, _MAX_SEED))
    seed = _as_seed(random_state, owner)
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % _MAX_SEED)
    return seed


def spawn_seeds(random_state: int | np.random.Generator | None, n: int) -> list[int]:
    """``n`` independent child seeds (ints in [0, 2**31 - 1)) derived from ``random_state``.

    The same int ``random_state`` always gives the same children.
    """
    if isinstance(random_state, np.random.Generator):
        return [int(s) for s in random_state.integers(0, _MAX_SEED, size=n)]
    seed = _as_seed(random_state)
    seq = np.random.SeedSequence(seed)
    return [int(c.generate_state(1, dtype=np.uint32)[0] % _MAX_SEED) for c in seq.spawn(n)]


def child_seed(random_state: int | np.random.Generator | None, *keys: int | str) -> int:
    """A seed derived from ``random_state`` and a path of keys (stable across runs).

    ``child_seed(0, "umap")`` and ``child_seed(0, "hdbscan")`` differ, and each is the same
    every run. Strings are hashed with a stable hash (not Python's salted ``hash``).
    """
    base = _as_seed(random_state) if not isinstance(random_state, np.random.Generator) else int(
        random_state.integers(0, _MAX_SEED)
    )
    words = [0 if base is None else base]
    for key in keys:
        if isinstance(key, str):
            words.extend(key.encode("utf-8"))
        else:
            words.append(int(key) % (2**32))
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0] % _MAX_SEED)


def torch_generator(seed: int):
    """A ``torch.Generator`` seeded with ``seed`` (imports torch lazily)."""
    from .optional import import_optional

    torch = import_optional("torch")
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
