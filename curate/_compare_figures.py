"""Intervals and figures of a strategy comparison (ComparisonTable.intervals / figure / slice_figure).

Intervals are 95%: Wilson score intervals when the metric is accuracy (a share of rows, so its
interval follows from the score and the row count alone, for whole eval sets and for slices);
for any other metric a seeded percentile bootstrap over the eval set's rows (slices: none, their
rows are not kept). matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from curakit.optional import import_optional

__all__ = ["candidate_name", "score_intervals", "comparison_figure", "slice_figure"]

_Z = 1.959963984540054
_BASELINES = ("do_nothing", "naive")
_COLORS = {"old": "#1f77b4", "new": "#ff7f0e"}
_N_BOOT = 300


def wilson(p: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a share ``p`` observed on ``n`` rows."""
    if n <= 0 or p is None or not math.isfinite(p):
        return math.nan, math.nan
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _bootstrap(preds: Any, metric_name: str) -> tuple[float, float]:
    """Seeded percentile bootstrap of any named metric on one eval set's predictions."""
    from ._evaluation import resolve_metric

    try:
        metric = resolve_metric(metric_name)
    except Exception:  # a callable metric the table only knows by name: no interval
        return math.nan, math.nan
    n = len(preds.y_true)
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(_N_BOOT):
        rows = rng.integers(0, n, n)
        try:
            v = preds.score(metric, rows)
        except ValueError:  # e.g. a resample with a single class for roc_auc
            continue
        if v is not None and math.isfinite(v):
            scores.append(v)
    if len(scores) < _N_BOOT // 2:
        return math.nan, math.nan
    lo, hi = np.percentile(scores, [2.5, 97.5])
    return float(lo), float(hi)


def _interval(score: Any, n: int, metric: str, preds: Any) -> tuple[float, float]:
    if score is None or n <= 0 or not math.isfinite(float(score)):
        return math.nan, math.nan
    if metric == "accuracy":
        return wilson(float(score), n)
    return _bootstrap(preds, metric) if preds is not None else (math.nan, math.nan)


def score_intervals(table: Any) -> pd.DataFrame:
    """One row per (strategy, eval set, slice): ``strategy``, ``eval_set``, ``slice`` (slice id,
    empty for the whole eval set), ``slice_name`` (readable), ``n`` (rows scored), ``score``,
    ``low`` / ``high`` (95% interval, NaN where none can be given), in the table's strategy order."""
    names = getattr(table, "slice_names", {}) or {}
    rows: list[dict[str, Any]] = []
    for name in table.frame["strategy"]:
        r = table.results.get(name)
        if r is None:
            continue
        for set_name, m in r.metrics.items():
            if set_name == "slices" or not isinstance(m, dict):
                continue
            score, n = m.get(table.metric), int(m.get("n", 0))
            lo, hi = _interval(score, n, table.metric, r.predictions.get(set_name))
            rows.append({"strategy": name, "eval_set": set_name, "slice": "", "slice_name": "", "n": n,
                         "score": math.nan if score is None else float(score), "low": lo, "high": hi})
        for sid, per_set in r.metrics.get("slices", {}).items():
            for set_name, m in per_set.items():
                score, n = m.get(table.metric), int(m.get("n", 0))
                lo, hi = _interval(score, n, table.metric, None)
                rows.append({"strategy": name, "eval_set": set_name, "slice": sid, "slice_name": names.get(sid, sid),
                             "n": n, "score": math.nan if score is None else float(score), "low": lo, "high": hi})
    cols = ["strategy", "eval_set", "slice", "slice_name", "n", "score", "low", "high"]
    return pd.DataFrame(rows, columns=cols)


def candidate_name(table: Any) -> str | None:
    """The best strategy on ``new`` (else the first eval set) that is not a baseline; None when none scored."""
    frame = table.frame
    cands = frame[~frame["strategy"].isin(_BASELINES)]
    by = "new" if "new" in frame.columns else next((c for c in ("old",) if c in frame.columns), None)
    if by is None or cands.empty or not cands[by].notna().any():
        return None
    order = cands.dropna(subset=[by]).sort_values([by], ascending=[False], kind="mergesort")
    return str(order.iloc[0]["strategy"])


def _errs(sub: pd.DataFrame) -> np.ndarray:
    """(2, n) asymmetric error-bar lengths (0 where there is no interval)."""
    lo = (sub["score"] - sub["low"]).to_numpy(dtype=float)
    hi = (sub["high"] - sub["score"]).to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([lo, hi]), nan=0.0).clip(min=0.0)


def _bars(ax: Any, iv: pd.DataFrame, strategies: list[str], sets: list[str], metric: str) -> None:
    y = np.arange(len(strategies))
    h = 0.8 / max(len(sets), 1)
    for i, s in enumerate(sets):
        sub = iv[(iv["eval_set"] == s) & (iv["slice"] == "")].set_index("strategy").reindex(strategies)
        ax.barh(y + i * h, sub["score"].fillna(0.0), h, xerr=_errs(sub), label=f"{s} holdout",
                color=_COLORS.get(s), capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_yticks(y + h * (len(sets) - 1) / 2, strategies)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (95% interval)")
    ax.set_title(f"{metric} per strategy")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def _scatter(ax: Any, iv: pd.DataFrame, strategies: list[str], metric: str) -> None:
    whole = iv[iv["slice"] == ""]
    old = whole[whole["eval_set"] == "old"].set_index("strategy").reindex(strategies)
    new = whole[whole["eval_set"] == "new"].set_index("strategy").reindex(strategies)
    ok = old["score"].notna().to_numpy() & new["score"].notna().to_numpy()
    for k, name in enumerate(strategies):
        if not ok[k]:
            continue
        o, n = old.iloc[[k]], new.iloc[[k]]
        ax.errorbar(o["score"], n["score"], xerr=_errs(o), yerr=_errs(n), fmt="o", ms=4, capsize=2,
                    elinewidth=0.8, color="#7f7f7f" if name in _BASELINES else "#2ca02c")
        ax.annotate(name, (float(o["score"].iloc[0]), float(n["score"].iloc[0])), fontsize=7,
                    xytext=(4, 4 + 7 * (k % 3)), textcoords="offset points")
    ax.set_xlabel(f"old {metric}")
    ax.set_ylabel(f"new {metric}")
    ax.set_title("old vs new, 95% intervals (up-right is better)")


def comparison_figure(table: Any):
    """Scores per strategy as horizontal bars with 95% intervals (legend outside the bars) and, with
    ``old`` and ``new`` eval sets, the old-vs-new plane with both intervals. Returns the Figure."""
    plt = import_optional("matplotlib.pyplot")
    iv = score_intervals(table)
    strategies = [str(s) for s in table.frame["strategy"]]
    sets = [s for s in ("old", "new") if s in set(iv["eval_set"])] or sorted(set(iv["eval_set"]))[:2]
    both = {"old", "new"} <= set(sets)
    height = max(3.0, 0.45 * len(strategies) * max(len(sets), 1) ** 0.5 + 1.2)
    fig, axes = plt.subplots(1, 2 if both else 1, figsize=(11 if both else 7, height), layout="constrained",
                             squeeze=False, gridspec_kw={"width_ratios": [3, 2]} if both else None)
    _bars(axes[0, 0], iv, strategies, sets, table.metric)
    if both:
        _scatter(axes[0, 1], iv, strategies, table.metric)
    return fig


def slice_figure(table: Any, strategy: str | None = None):
    """Per-slice before (``do_nothing``) / after (``strategy``, default the best candidate on new)
    bars with 95% intervals, each labelled with its row count; slices with no rows in an eval set are
    left out. Returns the Figure, or None when the table has no slice with rows."""
    plt = import_optional("matplotlib.pyplot")
    after = strategy or candidate_name(table)
    iv = score_intervals(table)
    sl = iv[(iv["slice"] != "") & (iv["n"] > 0)]
    if after is None or sl.empty:
        return None
    before_rows = sl[sl["strategy"] == "do_nothing"].set_index(["slice", "eval_set"])
    after_rows = sl[sl["strategy"] == after].set_index(["slice", "eval_set"])
    keys = [k for k in before_rows.index if k in after_rows.index]
    if not keys:
        return None
    from ._compare_report import short_name

    labels = [f"{short_name(before_rows.loc[k, 'slice_name'])} ({k[1]}, n={int(before_rows.loc[k, 'n'])})" for k in keys]
    fig, ax = plt.subplots(figsize=(9, max(2.2, 0.55 * len(keys) + 1.0)), layout="constrained")
    y = np.arange(len(keys))
    for off, (name, rows, col) in enumerate((("do_nothing (before)", before_rows, "#9e9e9e"),
                                            (f"{after} (after)", after_rows, "#2ca02c"))):
        sub = rows.loc[keys]
        ax.barh(y + off * 0.4, sub["score"].fillna(0.0), 0.4, xerr=_errs(sub), label=name, color=col, capsize=2,
                error_kw={"elinewidth": 0.8})
    ax.set_yticks(y + 0.2, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{table.metric} on the slice's rows (95% interval)")
    ax.set_title("Weak slices before and after retraining")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)
    return fig
