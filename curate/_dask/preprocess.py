"""``preprocess()`` on the Dask engine: the built-in preprocessing fitted on the ``train`` rows
partition-wise, with the pandas engine's fitted values.

The pandas engine fits :func:`curate._preprocess.default_preprocessor` (numeric columns: median
or mean imputation, then standardisation; other columns: the most frequent value, then one-hot
encoding) on the train rows. Here, over the train rows of the emitted partitions:

- counts and exact sums of each numeric column (:func:`curakit.dedup.exact_sums`), and the
  value counts of each other column (exact; categories are few by nature);
- an exact median: the k-th smallest value (and the k+1-th for an even count) of every numeric
  column at once, by narrowing 4096-bucket histograms of the values' order keys (each pass
  returns counts; a bucket of at most 50,000 values is gathered) -- a few passes in all;
- the scaler's mean and variance of the imputed values from exact sums (a last pass).

The scikit-learn objects are then fitted on a few synthetic rows (same columns, dtypes,
categories and most frequent values) and their numeric statistics set to the exact ones, so the
fitted preprocessor equals the pandas engine's to float rounding. A user pipeline
(``steps=``) cannot be fitted this way and is refused with a one-line error.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from curakit import dedup as _dedup
from curakit.optional import import_optional

from .select import _orderable, compute_parts

__all__ = ["fit_preprocess", "unsupported_preprocess"]

_BITS = 12
_GATHER = 50_000
_TOP = np.uint64(1 << 63)


def unsupported_preprocess(plan: Any) -> list[str]:
    """``preprocess(steps=<a pipeline>)`` does not run on Dask (a user pipeline cannot be fitted
    partition-wise); the built-in one does."""
    if plan.preprocess is not None and plan.preprocess["steps"] is not None:
        return ["preprocess(steps=<a scikit-learn pipeline>) (use the built-in preprocess(impute=..., scale=...))"]
    return []


def _train(out: tuple[pd.DataFrame, pd.DataFrame], cols: list[Any]) -> pd.DataFrame:
    data, man = out
    return data.loc[(man["split"].astype(str) == "train").to_numpy(), cols].reset_index(drop=True)


def _num(frame: pd.DataFrame, num: list[Any]) -> np.ndarray:
    return frame[num].to_numpy(dtype=np.float64, na_value=np.nan) if num else np.zeros((len(frame), 0))


def _first(frame: pd.DataFrame, num: list[Any], other: list[Any]):
    counts = {c: frame[c].value_counts(dropna=True, sort=False) for c in other}
    return len(frame), _dedup.exact_sums(_num(frame, num)), counts


def _keys(frame: pd.DataFrame, col: Any) -> np.ndarray:
    v = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
    return _orderable(v[~np.isnan(v)])


def _hists(frame: pd.DataFrame, tasks: list[tuple[Any, int, int, int, bool]]) -> list[np.ndarray]:
    """Per task (column, lo, width, shift, gather): a histogram of the keys in [lo, lo + 2**width),
    or (gather) those keys themselves."""
    out, cache = [], {}
    for col, lo, w, shift, gather in tasks:
        if col not in cache:
            cache[col] = _keys(frame, col)
        k = cache[col][cache[col] >= np.uint64(lo)] - np.uint64(lo)
        if w < 64:
            k = k[k < np.uint64(1 << w)]
        out.append(k if gather else np.bincount((k >> np.uint64(shift)).astype(np.int64), minlength=1 << (w - shift)))
    return out


def _value_of(key: np.uint64) -> float:
    key = np.uint64(key)
    bits = key ^ _TOP if key & _TOP else ~key
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _kth_many(parts: list[Any], targets: list[tuple[Any, int, int]]) -> list[float]:
    """The k-th smallest non-missing value of each (column, k, count) target, all columns narrowed together."""
    st = [{"lo": 0, "w": 64, "below": 0, "gather": n <= _GATHER, "v": None} for _, _, n in targets]
    while any(s["v"] is None for s in st):
        live = [i for i, s in enumerate(st) if s["v"] is None]
        tasks = [(targets[i][0], st[i]["lo"], st[i]["w"], max(st[i]["w"] - _BITS, 0), st[i]["gather"]) for i in live]
        got = compute_parts(_hists, parts, tasks)
        for j, i in enumerate(live):
            s, k = st[i], targets[i][1]
            if s["gather"]:
                keys = np.sort(np.concatenate([g[j] for g in got]))
                s["v"] = _value_of(keys[k - s["below"] - 1] + np.uint64(s["lo"]))
                continue
            hist = np.sum([g[j] for g in got], axis=0)
            cum = s["below"] + np.cumsum(hist)
            b = int(np.searchsorted(cum, k))
            shift = tasks[j][3]
            s["below"], s["lo"], s["w"] = int(cum[b] - hist[b]), s["lo"] + (b << shift), shift
            if s["w"] == 0:
                s["v"] = _value_of(np.uint64(s["lo"]))
            s["gather"] = int(hist[b]) <= _GATHER
    return [s["v"] for s in st]


def _squares(frame: pd.DataFrame, num: list[Any], fill: np.ndarray, center: np.ndarray):
    v = _num(frame, num)
    return _dedup.squared_deviations(np.where(np.isnan(v), fill, v), center)


def _mode(counts: pd.Series) -> Any:
    """scikit-learn's most frequent value: the smallest among the most frequent."""
    top = counts[counts == counts.max()]
    return min(top.index.tolist())


def _synthetic(meta: pd.DataFrame, num: list[Any], other: list[Any], valid: np.ndarray,
               counts: dict[Any, pd.Series]) -> pd.DataFrame:
    """A few rows whose fit gives the train rows' categories, most frequent values and missing columns."""
    cats = {c: sorted(counts[c].index.tolist()) for c in other}
    n = max([2] + [len(v) + 1 for v in cats.values()])
    cols: dict[Any, Any] = {}
    for j, c in enumerate(num):
        cols[c] = np.arange(n, dtype=np.float64) % 2 if valid[j] else np.full(n, np.nan)
    for c in other:
        cols[c] = cats[c] + [_mode(counts[c])] * (n - len(cats[c])) if cats[c] else [pd.NA] * n
    frame = pd.DataFrame(cols)[list(meta.columns)]
    for c in frame.columns:
        try:
            frame[c] = frame[c].astype(meta[c].dtype)
        except (TypeError, ValueError):
            pass  # e.g. an all-missing integer column stays float
    return frame


def _imputed_stats(plan: dict[str, Any], sums: list[tuple[int, int]], values: dict[Any, list[float]],
                   num: list[Any]) -> np.ndarray:
    stats = np.full(len(num), np.nan)
    means = _dedup.centers_from_sums(sums)
    for j, (cnt, _) in enumerate(sums):
        if cnt and plan["impute"] == "mean":
            stats[j] = means[j]
        elif cnt:
            v = values[num[j]]
            stats[j] = v[0] if len(v) == 1 else float(np.mean(v))
    return stats


def _medians(parts: list[Any], sums: list[tuple[int, int]], num: list[Any]) -> dict[Any, list[float]]:
    targets, at = [], []
    for j, (cnt, _) in enumerate(sums):
        if cnt:
            ks = [(cnt + 1) // 2] if cnt % 2 else [cnt // 2, cnt // 2 + 1]
            targets += [(num[j], k, cnt) for k in ks]
            at += [num[j]] * len(ks)
    out: dict[Any, list[float]] = {c: [] for c in num}
    for c, v in zip(at, _kth_many(parts, targets) if targets else []):
        out[c].append(v)
    return out


def _set_numeric(pre: Any, stats: np.ndarray, valid: np.ndarray, moments: tuple[np.ndarray, np.ndarray], n: int) -> None:
    pipe = pre.named_transformers_["numeric"]
    pipe.named_steps["impute"].statistics_ = stats
    scaler = pipe.named_steps.get("scale")
    if scaler is None:
        return
    mean, var = moments[0][valid], moments[1][valid]
    try:
        from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature

        scale = _handle_zeros_in_scale(np.sqrt(var), copy=False, constant_mask=_is_constant_feature(var, mean, n))
    except ImportError:  # pragma: no cover - another scikit-learn layout
        scale = np.where(var > 0, np.sqrt(var), 1.0)
    seen = scaler.n_samples_seen_
    scaler.mean_, scaler.var_, scaler.scale_ = mean, var, scale
    scaler.n_samples_seen_ = type(seen)(n) if np.ndim(seen) == 0 else np.full_like(seen, n)


def fit_preprocess(b: Any, outs: list[Any], meta: pd.DataFrame, persist: bool):
    """(preprocessor, info) as the pandas engine's ``fit_preprocess``, from the emitted partitions ``outs``."""
    plan = b._plan.preprocess
    if plan is None:
        return None, None
    from curate._preprocess import default_preprocessor, preprocessor_to_dict

    dask = import_optional("dask")
    feats = list(b.features)
    meta = meta[feats]
    num = _dedup.numeric_columns(meta.dtypes)
    other = [c for c in feats if c not in num]
    parts = [dask.delayed(_train, pure=False)(o, feats) for o in outs]
    if persist:  # the train rows' features are read by every pass below
        parts = list(dask.persist(*parts))
    first = compute_parts(_first, parts, num, other)
    n = sum(g[0] for g in first)
    sums = [(0, 0)] * len(num)
    for g in first:
        sums = _dedup.add_sums(sums, g[1])
    counts = {c: pd.concat([g[2][c] for g in first]).groupby(level=0, sort=False).sum() for c in other}
    valid = np.array([cnt > 0 for cnt, _ in sums], dtype=bool)
    stats = _imputed_stats(plan, sums, _medians(parts, sums, num) if plan["impute"] == "median" else {}, num)
    unit = 1 << 1074  # curakit.dedup.exact_sums' integers count multiples of 2**-1074
    imputed = [(n, t + (n - cnt) * int(Fraction(float(stats[j])) * unit)) if cnt else (0, 0)
               for j, (cnt, t) in enumerate(sums)]
    mean = _dedup.centers_from_sums(imputed)
    sq = [(0, 0)] * len(num)
    for g in compute_parts(_squares, parts, num, stats, mean):
        sq = _dedup.add_sums(sq, g)
    var = np.array([_dedup.centers_from_sums([s])[0] if s[1] is not None else np.inf for s in sq])
    synth = _synthetic(meta, num, other, valid, counts)
    pre = default_preprocessor(synth, feats, impute=plan["impute"], scale=plan["scale"]).fit(synth)
    if num:
        _set_numeric(pre, stats, valid, (mean, var), n)
    preprocessor_to_dict(pre)  # fail now, not at save time, when a step cannot be saved as JSON
    names = [str(c) for c in pre.get_feature_names_out()]
    info = {"steps": "default", "impute": plan["impute"], "scale": plan["scale"], "fitted_on": "train rows",
            "fitted_rows": int(n), "output_features": names}
    return pre, info
