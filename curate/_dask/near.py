"""Near-duplicate leakage exclusion (``exclude(eval_sets, near=...)``) on the Dask engine.

The pandas engine drops every training row within ``tolerance`` (Chebyshev distance in units of
standard deviations; non-numeric values must be equal) of a row of an evaluation set, with the
mean and standard deviation taken over all the training candidates (every block's rows, before
any filter). Here the same three steps run partition-wise:

1. exact sums of each numeric column's finite values (:func:`curakit.dedup.exact_sums`: integers,
   so partitions add up to the very floats the pandas engine computes), then the means;
2. exact sums of the squared deviations from those means, then the standard deviations;
3. the evaluation sets (small by design, held on the client) go to the workers once (one delayed
   object in the graph); each partition standardises its rows and queries a KD-tree of each set.

Only sums, counts and the positions of the leaked rows come back to the client. Memory: a
worker holds one partition plus the evaluation sets and their KD-tree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curakit import dedup as _dedup
from curakit.optional import import_optional

from .select import compute_many

__all__ = ["near_leak"]


def _block_dtypes(b: Any, blk: Any) -> pd.Series:
    if blk.src.manifest is None:
        return blk.src.dtypes[list(b.features)]
    return blk.src.frame[list(b.features)].dtypes


def _concat_dtypes(series: list[pd.Series], features: list[Any]) -> pd.Series:
    """The dtype of each feature in the pandas engine's concatenation of the blocks' rows."""
    out = {}
    for c in features:
        ds = [s[c] for s in series]
        same = all(d == ds[0] for d in ds)
        out[c] = ds[0] if same else pd.concat([pd.Series([], dtype=d) for d in ds]).dtype
    return pd.Series(out, dtype=object)


def _aligned(x: pd.Series, ev: pd.DataFrame) -> pd.Series:
    """``curakit.dedup``'s alignment of the training rows with an evaluation set (cast=True)."""
    out = {}
    for c, dx in x.items():
        de = ev[c].dtype
        if dx == de:
            out[c] = dx
        elif all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in (dx, de)):
            out[c] = np.dtype(np.float64)
        else:
            out[c] = np.dtype(object)
    return pd.Series(out, dtype=object)


def _values(part: pd.DataFrame, mask: Any, cols: list[Any]) -> np.ndarray:
    rows = part[mask(part)]
    return rows[cols].to_numpy(dtype=np.float64, na_value=np.nan) if cols else np.zeros((len(rows), 0))


def _sums(part: pd.DataFrame, mask: Any, cols: list[Any]):
    v = _values(part, mask, cols)
    return len(v), _dedup.exact_sums(v)


def _squares(part: pd.DataFrame, mask: Any, cols: list[Any], center: np.ndarray):
    return _dedup.squared_deviations(_values(part, mask, cols), center)


def _hits(part: pd.DataFrame, mask: Any, features: list[Any], payloads: dict[str, dict[str, Any]], tol: float):
    """(sorted positions of the rows near an evaluation row, matches per evaluation set)."""
    from scipy.spatial import cKDTree

    m = mask(part)
    rows = part.loc[m, features].reset_index(drop=True)
    leak = np.zeros(len(rows), dtype=bool)
    matches = {}
    for name, p in payloads.items():
        if len(rows) == 0 or len(p["ev"]) == 0:
            matches[name] = 0
            continue
        zc, zr = _dedup.near_space([rows, p["ev"]], p["num"], p["other"], p["center"], p["scale"], tol)
        dist, _ = cKDTree(zr).query(zc, k=1, p=np.inf, distance_upper_bound=_dedup.near_radius(tol))
        hit = np.isfinite(dist)
        matches[name] = int(hit.sum())
        leak |= hit
    return np.sort(part["_pos"].to_numpy()[m][leak]), matches


def _jobs(blocks: list[Any], fn: Any, *args: Any) -> list[tuple[Any, list[Any], tuple]]:
    return [(fn, blk.full or blk.parts, (blk.mask, *args)) for blk in blocks]


def _stats(b: Any, blocks: list[Any]):
    """(training dtypes, numeric columns, center, scale) over every block's rows, exactly as pandas."""
    series = [_block_dtypes(b, blk) for blk in blocks]
    live = list(range(len(blocks)))
    while True:
        xd = _concat_dtypes([series[k] for k in live], list(b.features)) if live else series[0]
        cols = _dedup.numeric_columns(xd)
        got = compute_many(_jobs(blocks, _sums, cols))
        live = [k for k, g in enumerate(got) if sum(n for n, _ in g)]  # blocks the pandas engine concatenates
        if not live or _concat_dtypes([series[k] for k in live], list(b.features)).equals(xd):
            break
    total = [(0, 0)] * len(cols)
    for g in got:
        for _, s in g:
            total = _dedup.add_sums(total, s)
    center = _dedup.centers_from_sums(total)
    sq = [(0, 0)] * len(cols)
    for g in compute_many(_jobs(blocks, _squares, cols, center)):
        for s in g:
            sq = _dedup.add_sums(sq, s)
    return xd, cols, center, _dedup.scales_from_sums(sq)


def near_leak(b: Any, blocks: list[Any], specs: list[dict[str, Any]], tol: float) -> dict[str, int]:
    """Sets ``spec["near"]`` (sorted positions of the block's rows near an evaluation row) for
    every block; returns the matches per evaluation set (training rows near one of its rows)."""
    dask = import_optional("dask")
    evs = {}
    for name, ev in b._plan.eval_sets.items():
        evs[name] = (ev.compute() if hasattr(ev, "compute") else ev)[list(b.features)].reset_index(drop=True)
    xd, cols, center, scale = _stats(b, blocks)
    payloads = {}
    for name, ev in evs.items():
        ad = _aligned(xd, ev)
        num = _dedup.numeric_columns(ad)
        at = [cols.index(c) for c in num]
        payloads[name] = {"ev": ev, "num": num, "other": [c for c in b.features if c not in num],
                          "center": center[at], "scale": scale[at]}
    shared = dask.delayed(payloads, pure=True, traverse=False)  # one copy per worker, not per task
    got = compute_many(_jobs(blocks, _hits, list(b.features), shared, tol))
    by_set = dict.fromkeys(evs, 0)
    for spec, parts in zip(specs, got):
        spec["near"] = np.concatenate([pos for pos, _ in parts]) if parts else np.zeros(0, np.int64)
        spec["near"] = np.sort(spec["near"])
        for _, matches in parts:
            for name, v in matches.items():
                by_set[name] += v
    return by_set
