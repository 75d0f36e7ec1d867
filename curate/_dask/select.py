"""Row selection on Dask partitions without collecting the data.

A selection is a picklable mask: a callable ``mask(part) -> bool array`` on one prepared
partition (a pandas DataFrame with ``_pos``, the row's position in its source, and ``_t``, its
comparable time). The ``k`` rows of smallest key (a seeded hash rank, or a time) are found by
narrowing histograms: each pass over the partitions returns 4096 bucket counts; once the
bucket that holds the ``k``-th key is small, its keys are gathered. Only counts and the keys of
one bucket ever reach the client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate._build.selection import id_hash, order_key

__all__ = ["And", "AllRows", "ClassIs", "HashKey", "IndexKey", "Not", "Or", "Parts", "PosIn", "Selected", "TimeKey",
           "TimeRange", "compute_many", "compute_parts", "kth", "select_k"]

_BITS = 12
_GATHER = 50_000
_TOP = np.uint64(1 << 63)


class Parts(list):
    """A list of (delayed) prepared partitions that knows how many rows they hold in all."""

    def __init__(self, items: Any = (), rows: int | None = None) -> None:
        super().__init__(items)
        self.rows = rows


def compute_parts(fn: Callable[..., Any], parts: list[Any], *args: Any) -> list[Any]:
    """``fn(part, *args)`` on every (delayed) partition, computed together; results in partition order."""
    return compute_many([(fn, parts, args)])[0]


def compute_many(jobs: list[tuple[Callable[..., Any], list[Any], tuple]]) -> list[list[Any]]:
    """Several :func:`compute_parts` jobs ``(fn, parts, args)`` in one round trip to the scheduler."""
    from curakit.optional import import_optional

    dask = import_optional("dask")
    tasks = [[dask.delayed(fn, pure=False)(p, *args) for p in parts] for fn, parts, args in jobs]
    flat = list(dask.compute(*[t for group in tasks for t in group]))
    out, at = [], 0
    for group in tasks:
        out.append(flat[at : at + len(group)])
        at += len(group)
    return out


# -- masks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllRows:
    def __call__(self, part: Any) -> np.ndarray:
        return np.ones(len(part), dtype=bool)


@dataclass(frozen=True)
class TimeRange:
    """``lo < t <= hi`` (``lo_open``) or ``lo <= t <= hi``; None leaves a side open."""

    lo: Any = None
    hi: Any = None
    lo_open: bool = False

    def __call__(self, part: Any) -> np.ndarray:
        t = part["_t"].to_numpy()
        m = np.ones(len(t), dtype=bool)
        if self.lo is not None:
            m &= (t > self.lo) if self.lo_open else (t >= self.lo)
        if self.hi is not None:
            m &= t <= self.hi
        return m


@dataclass(frozen=True)
class And:
    masks: tuple

    def __call__(self, part: Any) -> np.ndarray:
        m = np.ones(len(part), dtype=bool)
        for f in self.masks:
            m &= f(part)
        return m


@dataclass(frozen=True)
class Or:
    masks: tuple

    def __call__(self, part: Any) -> np.ndarray:
        m = np.zeros(len(part), dtype=bool)
        for f in self.masks:
            m |= f(part)
        return m


@dataclass(frozen=True)
class Not:
    mask: Any

    def __call__(self, part: Any) -> np.ndarray:
        return ~self.mask(part)


@dataclass(frozen=True)
class ClassIs:
    target: str
    value: Any

    def __call__(self, part: Any) -> np.ndarray:
        return (part[self.target] == self.value).to_numpy(dtype=bool, na_value=False)


@dataclass(frozen=True)
class PosIn:
    positions: np.ndarray  # sorted

    def __call__(self, part: Any) -> np.ndarray:
        return np.isin(part["_pos"].to_numpy(), self.positions)


# -- keys (uint64, smaller = picked first) ------------------------------------------------------
@dataclass(frozen=True)
class HashKey:
    """The seeded rank of rows of ``source`` (the pandas engine's order, see curate._build.selection)."""

    source: str
    seed: int

    def __call__(self, part: Any) -> np.ndarray:
        return order_key(id_hash(self.source, part["_pos"].to_numpy()), self.seed)


def _orderable(t: np.ndarray) -> np.ndarray:
    if t.dtype.kind == "f":
        bits = (t + 0.0).view(np.uint64)
        return np.where(bits & _TOP, ~bits, bits | _TOP)
    return t.astype(np.int64).view(np.uint64) ^ _TOP


@dataclass(frozen=True)
class TimeKey:
    """Times ascending (``descending=True``: the latest first)."""

    descending: bool = False

    def __call__(self, part: Any) -> np.ndarray:
        k = _orderable(part["_t"].to_numpy())
        return ~k if self.descending else k


@dataclass(frozen=True)
class IndexKey:
    """The row's index in a concatenation (``offset + _pos``); ``descending``: later rows first."""

    offset: int = 0
    descending: bool = False

    def __call__(self, part: Any) -> np.ndarray:
        k = (part["_pos"].to_numpy().astype(np.int64) + self.offset).astype(np.uint64)
        return ~k if self.descending else k


# -- the k-th key ----------------------------------------------------------------------------------
def _hist(part: Any, mask: Any, key: Any, lo: int, w: int, shift: int) -> np.ndarray:
    keys = key(part)[mask(part)]
    keys = keys[keys >= np.uint64(lo)] - np.uint64(lo)
    if w < 64:
        keys = keys[keys < np.uint64(1 << w)]
    return np.bincount((keys >> np.uint64(shift)).astype(np.int64), minlength=1 << (w - shift))


def _gather(part: Any, mask: Any, key: Any, lo: int, hi: int) -> np.ndarray:
    keys = key(part)[mask(part)]
    return keys[(keys >= np.uint64(lo)) & (keys <= np.uint64(hi))]


def kth(items: list[tuple[list[Any], Any, Any]], k: int, extra: tuple[np.ndarray, np.ndarray] | None = None):
    """(v, weight of keys < v, weight of keys == v) for the key ``v`` at which the cumulative
    weight (1 per row of ``items`` = [(parts, mask, key)], plus ``extra`` = (keys, weights) held on
    the client) first reaches ``k``; None when the total weight is below ``k``."""
    ek = np.zeros(0, np.uint64) if extra is None else np.asarray(extra[0], np.uint64)
    ew = np.zeros(0, np.int64) if extra is None else np.asarray(extra[1], np.int64)
    bound = sum(parts.rows if getattr(parts, "rows", None) is not None else _GATHER + 1 for parts, _, _ in items)
    if bound + len(ek) <= _GATHER:  # small: gather every key at once
        return _finish(items, ek, ew, 0, (1 << 64) - 1, 0, k)
    lo, w, below = 0, 64, 0
    while True:
        shift = max(w - _BITS, 0)
        hist = np.zeros(1 << (w - shift), dtype=np.int64)
        for got in compute_many([(_hist, parts, (mask, key, lo, w, shift)) for parts, mask, key in items]):
            for h in got:
                hist += h
        if len(ek):
            d = ek[ek >= np.uint64(lo)] - np.uint64(lo)
            dw = ew[ek >= np.uint64(lo)]
            inside = d < np.uint64(1 << w) if w < 64 else np.ones(len(d), bool)
            np.add.at(hist, (d[inside] >> np.uint64(shift)).astype(np.int64), dw[inside])
        cum = below + np.cumsum(hist)
        if len(cum) == 0 or cum[-1] < k:
            return None
        b = int(np.searchsorted(cum, k))
        below = int(cum[b] - hist[b])
        lo, w = lo + (b << shift), shift
        if w == 0:
            return np.uint64(lo), below, int(hist[b])
        if hist[b] <= _GATHER:
            return _finish(items, ek, ew, lo, lo + (1 << w) - 1, below, k)


def _finish(items, ek, ew, lo: int, hi: int, below: int, k: int):
    keys = [np.zeros(0, np.uint64)]
    weights = [np.zeros(0, np.int64)]
    for got in compute_many([(_gather, parts, (mask, key, lo, hi)) for parts, mask, key in items]):
        keys += got
        weights += [np.ones(len(g), np.int64) for g in got]
    inside = (ek >= np.uint64(lo)) & (ek <= np.uint64(hi))
    keys.append(ek[inside])
    weights.append(ew[inside])
    kk, ww = np.concatenate(keys), np.concatenate(weights)
    order = np.argsort(kk, kind="stable")
    kk, ww = kk[order], ww[order]
    if below + int(ww.sum()) < k:
        return None
    at = int(np.searchsorted(below + np.cumsum(ww), k))
    v = kk[at]
    less = below + int(ww[kk < v].sum())
    return np.uint64(v), less, int(ww[kk == v].sum())


@dataclass(frozen=True)
class Selected:
    """The rows picked by :func:`select_k` from item ``index``: key1 < v1, or key1 == v1 and key2 <= v2."""

    mode: str  # "none" / "all" / "le" / "tie"
    base: Any
    key1: Any
    key2: Any
    v1: Any = None
    v2: Any = None

    def __call__(self, part: Any) -> np.ndarray:
        m = self.base(part)
        if self.mode == "none":
            return np.zeros(len(part), dtype=bool)
        if self.mode == "all":
            return m
        k1 = self.key1(part)
        if self.mode == "le":
            return m & (k1 <= self.v1)
        return m & ((k1 < self.v1) | ((k1 == self.v1) & (self.key2(part) <= self.v2)))


def select_k(items: list[tuple[list[Any], Any, Any, Any]], k: int) -> list[Selected]:
    """The ``k`` rows of smallest (key1, key2) over ``items`` = [(parts, mask, key1, key2)] (key2
    unique: it breaks ties as the pandas engine's stable sort does); one mask per item."""
    if k <= 0:
        return [Selected("none", m, k1, k2) for _, m, k1, k2 in items]
    r = kth([(p, m, k1) for p, m, k1, _ in items], k)
    if r is None:
        return [Selected("all", m, k1, k2) for _, m, k1, k2 in items]
    v1, less, eq = r
    if less + eq <= k:
        return [Selected("le", m, k1, k2, v1) for _, m, k1, k2 in items]
    ties = [(p, And((m, _Eq(k1, v1))), k2) for p, m, k1, k2 in items]
    v2, _, _ = kth(ties, k - less)
    return [Selected("tie", m, k1, k2, v1, v2) for _, m, k1, k2 in items]


@dataclass(frozen=True)
class _Eq:
    key: Any
    value: Any

    def __call__(self, part: Any) -> np.ndarray:
        return self.key(part) == self.value
