"""Shared pieces of the Dask build: counts over masks, window masks, the alpha share of old rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curate._build.sources import OWNER
from curate._windows import WindowSpec

from .select import (
    AllRows,
    And,
    ClassIs,
    HashKey,
    IndexKey,
    Or,
    TimeKey,
    TimeRange,
    compute_many,
    compute_parts,
    select_k,
)

__all__ = ["alpha_select", "summaries", "summary", "value_counts", "window_masks"]


def summary(parts: list[Any], mask: Any) -> tuple[int, Any, Any]:
    """(rows, min time, max time) of the rows ``mask`` selects."""
    return summaries([(parts, mask)])[0]


def summaries(jobs: list[tuple[list[Any], Any]]) -> list[tuple[int, Any, Any]]:
    """:func:`summary` of several (parts, mask), in one round trip."""
    return [_combine(got) for got in compute_many([(_summary, parts, (mask,)) for parts, mask in jobs])]


def _combine(got: list[Any]) -> tuple[int, Any, Any]:
    n = sum(g[0] for g in got)
    live = [g for g in got if g[0]]
    return n, (min(g[1] for g in live) if live else None), (max(g[2] for g in live) if live else None)


def _summary(part: pd.DataFrame, mask: Any):
    m = mask(part)
    t = part["_t"].to_numpy()[m]
    return int(m.sum()), (t.min() if len(t) else None), (t.max() if len(t) else None)


def value_counts(parts: list[Any], mask: Any, target: str) -> pd.Series:
    """Rows per class among the rows ``mask`` selects, classes sorted."""
    got = compute_parts(_value_counts, parts, mask, target)
    got = [g for g in got if len(g)]
    if not got:
        return pd.Series(dtype=np.int64)
    s = pd.concat(got).groupby(level=0, sort=True).sum()
    return s[s > 0]


def _value_counts(part: pd.DataFrame, mask: Any, target: str) -> pd.Series:
    return part[target][mask(part)].value_counts(sort=False)


def window_masks(b: Any, spec: WindowSpec, ref: Any = None) -> tuple[Any, Any]:
    """(old mask, new mask) of a window; ``last`` / ``last_n`` count back from ``ref`` (default: latest time)."""
    owner = f"{OWNER}.window"
    if spec.is_all:
        return AllRows(), AllRows()
    r = max(b.old.t_max, b.new.t_max) if ref is None else ref
    if spec.last is not None:
        span = b._axis.span(spec.last, owner, "last")
        m = TimeRange(lo=r - span, hi=r, lo_open=True)
        return m, m
    if spec.last_n is not None:
        elig = TimeRange(hi=r)
        items = [(b.old.parts, elig, TimeKey(True), IndexKey(0, True)),
                 (b.new.parts, elig, TimeKey(True), IndexKey(len(b.old), True))]
        mo, mn = select_k(items, spec.last_n)
        return mo, mn
    lo = None if spec.start is None else b._axis.point(spec.start, owner, "start")
    hi = None if spec.end is None else b._axis.point(spec.end, owner, "end")
    m = TimeRange(lo=lo, hi=hi)
    return m, m


def alpha_select(b: Any, old_mask: Any, n_avail: int, alpha: float, seed: int, stratify: bool) -> tuple[Any, int]:
    """(mask, rows) of the ``alpha`` share of the old rows in ``old_mask`` by seeded rank (per class if stratified)."""
    key1, key2 = HashKey("old", seed), IndexKey(0)
    if not stratify:
        k = int(round(alpha * n_avail))
        return select_k([(b.old.parts, old_mask, key1, key2)], k)[0], k
    counts = value_counts(b.old.parts, old_mask, b.target)
    picks, total = [], 0
    for c, n in counts.items():
        q = int(np.round(alpha * n))
        total += q
        picks.append(select_k([(b.old.parts, And((old_mask, ClassIs(b.target, c))), key1, key2)], q)[0])
    return Or(tuple(picks)), total
