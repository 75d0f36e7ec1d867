"""``rehearse(how="nearest")``: the pieces both engines share, so they select the same rows.

The replay buffer is the ``n`` candidate old rows nearest (Euclidean, on standardised numbers and
one-hot top categories) to an anchor sample of the new rows in the window. The random draws (at
most ``max_candidates`` candidates, at most :data:`ANCHORS` anchors) are drawn as ranks among
the candidates / the new rows, so an engine that holds the rows in partitions maps them to rows
without the rows. Ties in distance go to the lower old position (a stable sort of the pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError

__all__ = ["ANCHORS", "design_ref", "design_rows", "nearest_draws", "nearest_order"]

ANCHORS = 20_000  # new rows the distances are measured to (sampled with the seed above this)
TOP = 20  # categories one-hot encoded per non-numeric feature


def _numeric(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def nearest_draws(n_cand: int, n_new: int, n: int, max_candidates: int, rng: np.random.Generator):
    """(pool, anchors): sorted ranks among the ``n_cand`` candidates / the ``n_new`` new rows in the
    window, or None for all of them; the pandas engine's draws and checks, in its order."""
    if n_new == 0:
        raise DataError("rehearse(how='nearest') needs new rows inside the window to measure nearness. Widen the window.")
    pool = np.sort(rng.choice(n_cand, size=max_candidates, replace=False)) if n_cand > max_candidates else None
    n_pool = n_cand if pool is None else len(pool)
    if n > n_pool:
        raise DataError(
            f"rehearse(how='nearest') asks for {n} rows but considers at most {n_pool} candidates. "
            "Raise max_candidates or lower n."
        )
    anchors = np.sort(rng.choice(n_new, size=ANCHORS, replace=False)) if n_new > ANCHORS else None
    return pool, anchors


def design_ref(features: Sequence[Any], ref: pd.DataFrame, dtypes: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """Per feature, what :func:`design_rows` needs from the reference (anchor) rows ``ref``: mean and
    spread of a numeric column, the top categories of another; ``dtypes``: the dtypes (one Series
    per source) of the rows to be designed, which decide each column's encoding."""
    out: dict[Any, dict[str, Any]] = {}
    for c in features:
        kinds = {_numeric(d[c]) for d in dtypes}
        r = ref[c]
        entry: dict[str, Any] = {}
        if True in kinds:
            rv = r.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = np.isfinite(rv).any()
            entry["mu"], entry["sd"] = (np.nanmean(rv) if finite else 0.0), (np.nanstd(rv) if finite else 1.0)
        if False in kinds:
            entry["top"] = list(r.astype(str).value_counts().index[:TOP])
        out[c] = entry
    return out


def design_rows(features: Sequence[Any], frame: pd.DataFrame, ref: dict[Any, dict[str, Any]]) -> np.ndarray:
    """Rows of ``frame`` as float vectors: standardised numbers, one-hot top categories."""
    cols = []
    for c in features:
        s = frame[c]
        if _numeric(s.dtype):
            mu, sd = ref[c]["mu"], ref[c]["sd"]
            v = (s.to_numpy(dtype=np.float64, na_value=np.nan) - mu) / (sd if sd > 0 else 1.0)
            cols.append(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)[:, None])
        else:
            top = ref[c]["top"]
            sv = s.astype(str).to_numpy()
            cols.append(np.stack([sv == v for v in top], axis=1).astype(np.float64) if len(top) else np.zeros((len(s), 0)))
    return np.hstack(cols)


def nearest_order(dist: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` positions of smallest distance (ties: lower position first), sorted."""
    order = np.lexsort((np.asarray(pos), np.asarray(dist)))
    return np.sort(np.asarray(pos)[order[:n]])
