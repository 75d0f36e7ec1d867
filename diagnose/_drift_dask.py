"""The statistics behind :func:`diagnose.drift` when the data are Dask DataFrames.

Nothing is collected on the client but small summaries, each computed partition by partition
and summed:

* **categorical columns**: the exact count of every level (``astype(str)``, as the pandas path),
  so the chi-square test and the PSI equal the pandas path's exactly;
* **numeric columns**, two passes: (1) Dask's partition-wise quantile sketch
  (``DataFrame.quantile``) of each set at ``grid`` levels, and of the reference at the PSI's
  ``n_bins`` levels; (2) exact counts of the values ``<= t`` and ``< t`` at every sketch point
  ``t`` (the union of both sets' points) and in the PSI bins. The KS statistic is the largest
  ``|F_ref - F_cur|`` over those points and their left limits, a lower bound of the exact one;
  the exact statistic is at most ``ks_error`` above it, where ``ks_error`` comes from the same
  exact counts (between two points each empirical CDF moves by at most the mass that lies
  strictly between them). It is reported per feature. The p-value is the asymptotic two-sample
  one (``scipy.stats.kstwo`` at ``n*m/(n+m)``) of the lower bound, so it errs towards "no drift".
  The PSI is exact on bins whose edges are the sketch's reference quantiles (its reference
  shares, in ``bins``, show how close each bin is to ``1/n_bins``);
* the **domain classifier** and the **where** regions run on a documented sample: partition
  ``i`` of each set keeps each row with probability ``frac = min(1, 1.1 * max_rows / n)`` (a
  Bernoulli draw from ``default_rng([seed, i])``, ``seed`` from ``random_state``), then the union
  is cut to at most ``max_rows`` rows by a seeded choice; ``domain["sample"]`` states the rows
  used of each set. The sample, and so the report, is the same for the same data, partitioning
  and ``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError
from curakit.optional import import_optional
from curakit.seeds import child_seed

__all__ = ["DEFAULT_GRID", "dask_drift_stats", "is_dask_frame"]

#: Sketch points per set and numeric column.
DEFAULT_GRID = 2048


def is_dask_frame(obj: Any) -> bool:
    """True for a Dask DataFrame (checked without importing Dask)."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "npartitions") and hasattr(obj, "columns")


def as_dask_frame(obj: Any, name: str):
    """A Dask DataFrame of ``obj`` (a pandas one becomes one partition)."""
    dd = import_optional("dask.dataframe")
    if is_dask_frame(obj):
        return obj
    if isinstance(obj, pd.DataFrame):
        return dd.from_pandas(obj, npartitions=1)
    raise DataError(
        f"With a Dask DataFrame on one side, {name} must be a Dask or pandas DataFrame. "
        f"Got {type(obj).__name__} instead."
    )


# -- partition functions (run on the workers) --------------------------------------------------
def _partition_stats(part: pd.DataFrame, cat_cols: list, num_cols: list) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(part), "levels": {}, "missing": {}, "sum": {}, "bad": {}}
    for c in cat_cols:
        col = part[c]
        out["missing"][c] = int(col.isna().sum())
        out["levels"][c] = col.astype(str).value_counts(sort=False).to_dict()
    for c in num_cols:
        arr = part[c].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(arr)
        out["bad"][c] = int(arr.size - finite.sum())
        out["sum"][c] = float(arr[finite].sum())
    return out


def _merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"n": 0, "levels": {}, "missing": {}, "sum": {}, "bad": {}}
    for p in parts:
        total["n"] += p["n"]
        for key in ("missing", "sum", "bad"):
            for c, v in p[key].items():
                total[key][c] = total[key].get(c, 0) + v
        for c, counts in p["levels"].items():
            acc = total["levels"].setdefault(c, {})
            for level, k in counts.items():
                acc[level] = acc.get(level, 0) + int(k)
    return total


def _partition_counts(part: pd.DataFrame, points: dict[Any, np.ndarray]) -> dict[Any, np.ndarray]:
    """Per column: counts of values ``<= t`` then ``< t`` at every point ``t`` (one int64 array)."""
    out = {}
    for c, t in points.items():
        arr = np.sort(part[c].to_numpy(dtype=np.float64))
        out[c] = np.concatenate([np.searchsorted(arr, t, side="right"), np.searchsorted(arr, t, side="left")])
    return out


def _add_counts(items: list[dict[Any, np.ndarray]]) -> dict[Any, np.ndarray]:
    total = {c: v.copy() for c, v in items[0].items()}
    for item in items[1:]:
        for c, v in item.items():
            total[c] += v
    return total


def _tree_sum(dask, items: list, fn, fan_in: int = 8):
    """Sum delayed partition results in a tree (no single task receives every partition)."""
    while len(items) > 1:
        items = [dask.delayed(fn)(items[i : i + fan_in]) for i in range(0, len(items), fan_in)]
    return items[0]


# -- the two passes ------------------------------------------------------------------------------
def _pass_one(dask, frame, cat_cols, num_cols):
    parts = [dask.delayed(_partition_stats)(p, cat_cols, num_cols) for p in frame.to_delayed()]
    return _tree_sum(dask, parts, _merge_stats)


def _check_counts(which: str, stats: dict[str, Any], cat_cols: list, num_cols: list) -> None:
    if stats["n"] < 2:
        raise DataError(f"{which} has {stats['n']} row(s); drift tests need at least 2 rows in each set. Pass more rows.")
    for c in cat_cols:
        if stats["missing"].get(c, 0):
            raise DataError(
                f"{which} column {c!r} has {stats['missing'][c]} missing value(s). "
                "Fill them (e.g. with a 'missing' level) before testing drift."
            )
    for c in num_cols:
        if stats["bad"].get(c, 0):
            raise DataError(
                f"{which} column {c!r} contains {stats['bad'][c]} NaN or inf value(s). Remove or impute them first."
            )


def _ks_from_counts(le_r, lt_r, le_c, lt_c, n_r: int, n_c: int) -> tuple[float, float]:
    """(lower bound of the KS statistic, how far above it the exact statistic can be)."""
    fr, fr_minus = le_r / n_r, lt_r / n_r
    fc, fc_minus = le_c / n_c, lt_c / n_c
    d_at = np.abs(fr - fc)
    lower = float(max(d_at.max(), np.abs(fr_minus - fc_minus).max()))
    # between consecutive points each CDF moves by at most the mass strictly between them;
    # before the first point and after the last, D starts from / returns to 0
    gap_r = np.concatenate([[fr_minus[0]], fr_minus[1:] - fr[:-1], [1.0 - fr[-1]]])
    gap_c = np.concatenate([[fc_minus[0]], fc_minus[1:] - fc[:-1], [1.0 - fc[-1]]])
    base = np.concatenate([[0.0], d_at])
    upper = float((base + np.maximum(gap_r, gap_c)).max())
    return lower, max(0.0, max(upper, lower) - lower)


def _partition_sample(part: pd.DataFrame, cols: list, frac: float, seed: int, index: int) -> pd.DataFrame:
    if frac >= 1.0:
        return part[cols]
    keep = np.random.default_rng([seed, index]).random(len(part)) < frac
    return part.loc[keep, cols]


def _sample(dask, frame, cols, n: int, max_rows: int, seed: int):
    """Each partition ``i`` keeps each row with probability ``frac`` (generator seeded by (seed, i))."""
    frac = min(1.0, 1.1 * max_rows / max(n, 1))
    parts = [dask.delayed(_partition_sample)(p, cols, frac, seed, i) for i, p in enumerate(frame.to_delayed())]
    return dask.delayed(pd.concat)(parts, ignore_index=True)


def _cut(sample: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    sample = sample.reset_index(drop=True)
    if len(sample) <= max_rows:
        return sample
    rng = np.random.default_rng(seed)
    return sample.iloc[np.sort(rng.choice(len(sample), max_rows, replace=False))].reset_index(drop=True)


def dask_drift_stats(
    reference, current, cols: list, kinds: dict[Any, bool], *, n_bins: int, max_rows: int, random_state: int,
    grid: int = DEFAULT_GRID,
) -> dict[str, Any]:
    """Exact level counts, sketch-based KS with its error bound, PSI bin counts and the samples."""
    dask = import_optional("dask")
    cat_cols = [c for c in cols if kinds[c]]
    num_cols = [c for c in cols if not kinds[c]]
    fine = np.linspace(0.0, 1.0, grid + 1)
    psi_levels = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    ref_levels = np.unique(np.concatenate([fine, psi_levels]))
    # Dask's quantile sketches (expressions) and the partition summaries (delayed) in two calls:
    # one call mixing both kinds of collection mixes up their results in this Dask version
    rq, cq = dask.compute(reference[num_cols].quantile(ref_levels), current[num_cols].quantile(fine)) if num_cols else (None, None)
    rs, cs = dask.compute(_pass_one(dask, reference, cat_cols, num_cols), _pass_one(dask, current, cat_cols, num_cols))
    _check_counts("reference", rs, cat_cols, num_cols)
    _check_counts("current", cs, cat_cols, num_cols)
    points, edges = {}, {}
    for c in num_cols:
        rcol = rq[c].to_numpy(dtype=np.float64)
        edges[c] = np.unique(rq[c].reindex(psi_levels, method="nearest").to_numpy(dtype=np.float64))
        points[c] = np.unique(np.concatenate([rcol, cq[c].to_numpy(dtype=np.float64), edges[c]]))
    seed_r, seed_c = child_seed(random_state, "drift", "dask", "reference"), child_seed(random_state, "drift", "dask", "current")
    work = [
        _tree_sum(dask, [dask.delayed(_partition_counts)(p, points) for p in f.to_delayed()], _add_counts)
        for f in (reference, current)
    ] if num_cols else [{}, {}]
    (r_counts, c_counts), ref_s, cur_s = dask.compute(
        work, _sample(dask, reference, cols, rs["n"], max_rows, seed_r), _sample(dask, current, cols, cs["n"], max_rows, seed_c)
    )
    features = {}
    for c in cat_cols:
        levels = sorted(set(rs["levels"].get(c, {})) | set(cs["levels"].get(c, {})))
        features[c] = {
            "levels": levels,
            "ref_counts": np.array([rs["levels"][c].get(v, 0) for v in levels], dtype=np.float64),
            "cur_counts": np.array([cs["levels"][c].get(v, 0) for v in levels], dtype=np.float64),
        }
    for c in num_cols:
        features[c] = _numeric_feature(c, points[c], edges[c], r_counts[c], c_counts[c], rs, cs, grid)
    return {
        "n_reference": rs["n"],
        "n_current": cs["n"],
        "features": features,
        "ref_sample": _cut(ref_s, max_rows, seed_r),
        "cur_sample": _cut(cur_s, max_rows, seed_c),
    }


def _numeric_feature(c, points, edges, rc, cc, rs, cs, grid: int) -> dict[str, Any]:
    from scipy.stats import kstwo

    k = len(points)
    n_r, n_c = rs["n"], cs["n"]
    lower, err = _ks_from_counts(rc[:k], rc[k:], cc[:k], cc[k:], n_r, n_c)
    p = float(kstwo.sf(lower, round(n_r * n_c / (n_r + n_c)))) if lower > 0 else 1.0
    # PSI bins: (-inf, e0], (e0, e1], ..., (e_last, inf), from the exact "<= t" counts at the edges
    pos = np.searchsorted(points, edges)
    le_r, le_c = rc[:k][pos], cc[:k][pos]
    r_bins = np.diff(np.concatenate([[0], le_r, [n_r]]))
    c_bins = np.diff(np.concatenate([[0], le_c, [n_c]]))
    return {
        "ks": lower,
        "ks_error": err,
        "p_value": min(1.0, max(0.0, p)),
        "edges": edges,
        "ref_counts": r_bins.astype(np.float64),
        "cur_counts": c_bins.astype(np.float64),
        "reference_mean": rs["sum"][c] / n_r,
        "current_mean": cs["sum"][c] / n_c,
        "sketch_points": int(k),
        "grid": int(grid),
    }
