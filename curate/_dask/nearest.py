"""``rehearse(how="nearest")`` on Dask: the pandas engine's replay buffer, partition-wise.

The seeded draws (the pool of at most ``max_candidates`` candidates, at most
:data:`curate._build.nearness.ANCHORS` anchors) are ranks among the candidate old rows / the new
rows in the window (:func:`curate._build.nearness.nearest_draws`), mapped to rows with
per-partition counts. What reaches the client is small by design: the anchors' feature rows (at
most 20,000 rows; the pandas engine measures nearness to them too), and from every old
partition its at most ``n`` nearest pool rows as (distance, position) pairs (in all at most
``max_candidates`` pairs, 16 bytes each). The old rows stay on the workers. Distances are
computed per row exactly as the pandas engine computes them (same encoding from the same anchor
rows, same KD-tree query), and ties go to the lower position, as its stable sort does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from curakit.optional import import_optional
from curate._build.nearness import design_ref, design_rows, nearest_draws, nearest_order

from .select import PosIn, compute_many

__all__ = ["nearest_pick"]


def _count(part: pd.DataFrame, mask: Any) -> int:
    return int(mask(part).sum())


def _local(ranks: np.ndarray | None, counts: list[int]) -> list[np.ndarray | None]:
    """Per partition, the ranks (among its own masked rows) of the drawn ranks; None: all of them."""
    if ranks is None:
        return [None] * len(counts)
    out, at = [], 0
    for c in counts:
        lo, hi = np.searchsorted(ranks, [at, at + c])
        out.append(ranks[lo:hi] - at)
        at += c
    return out


def _rows(part: pd.DataFrame, mask: Any, local: np.ndarray | None) -> np.ndarray:
    """Indices (in the partition) of its masked rows that were drawn."""
    idx = np.flatnonzero(mask(part))
    return idx if local is None else idx[local]


def _anchor_rows(part: pd.DataFrame, mask: Any, local: np.ndarray | None, cols: list[Any]) -> pd.DataFrame:
    return part[cols].iloc[_rows(part, mask, local)]


def _nearest_in(part: pd.DataFrame, mask: Any, local: np.ndarray | None, features: list[Any], ref: dict, A: np.ndarray,
                n: int):
    """(distance, position) of the at most ``n`` pool rows of one old partition nearest to the anchors."""
    from scipy.spatial import cKDTree

    rows = _rows(part, mask, local)
    if len(rows) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int64)
    B = design_rows(features, part[features].iloc[rows], ref)
    dist, _ = cKDTree(A).query(B, k=1)
    pos = part["_pos"].to_numpy()[rows]
    order = np.argsort(dist, kind="stable")[:n]  # positions ascend within a partition: ties keep the lower
    return dist[order], pos[order]


def _each(fn: Callable[..., Any], parts: list[Any], per_part: list[Any], *shared: Any) -> list[Any]:
    """``fn(part, per_part[k], *shared)`` on every partition, computed together."""
    dask = import_optional("dask")
    return list(dask.compute(*[dask.delayed(fn, pure=False)(p, a, *shared) for p, a in zip(parts, per_part)]))


def nearest_pick(b: Any, cand: Any, new_mask: Any, n: int, max_candidates: int, seed: int) -> PosIn:
    """The replay rows of ``rehearse(how="nearest")``: the pandas engine's rows, as a mask."""
    dask = import_optional("dask")
    c_old, c_new = compute_many([(_count, b.old.parts, (cand,)), (_count, b.new.parts, (new_mask,))])
    rng = np.random.default_rng(seed)
    pool, anchors = nearest_draws(sum(c_old), sum(c_new), n, max_candidates, rng)
    feats = list(b.features)
    got = _each(lambda p, loc: _anchor_rows(p, new_mask, loc, feats), b.new.full, _local(anchors, c_new))
    frame = pd.concat(got, ignore_index=True)  # partitions in position order: the anchors in position order
    ref = design_ref(feats, frame, [b.new.dtypes, b.old.dtypes])
    A = dask.delayed(design_rows(feats, frame, ref), pure=True)  # one copy in the graph for every task
    got = _each(lambda p, loc, a: _nearest_in(p, cand, loc, feats, ref, a, n), b.old.full, _local(pool, c_old), A)
    dist = np.concatenate([np.zeros(0, np.float64)] + [g[0] for g in got])
    pos = np.concatenate([np.zeros(0, np.int64)] + [g[1] for g in got])
    return PosIn(nearest_order(dist, pos, n))
