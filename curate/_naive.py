"""The ``naive`` baseline of every comparison: the same strategy family trained on the plain old + new
rows of the training set (no fills, no replay buffer, unit weights), so that a table says what the
curation itself added.

Decision: the naive rows are every old and new row of the builder's sources with only the steps a
plain "retrain on old + new" keeps (leakage exclusion against the eval sets, the split, the
preprocessing: ``TrainingSetBuilder.naive()``, reached through ``TrainingSet.naive_rows``), weights 1.
A training set loaded from disk has no sources: its own rows whose manifest ``operation`` is
``"original"`` and whose ``origin`` is ``old`` or ``new`` are used then (old rows a window or
``mix(alpha=...)`` left out cannot come back), and ``info["naive"]["rows_from"]`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from curakit.exceptions import DataError

from ._evaluation import EvalPredictions
from ._strategies import supported_strategies

__all__ = ["NAIVE_GUARDS", "naive_strategy", "naive_training_set", "paired_difference", "selection_rows"]

#: parameters of the curated strategies that the naive baseline never takes
NAIVE_GUARDS = ("replay", "l2_old", "ewc", "ewc_samples", "alpha", "lr_scale")


def naive_strategy(model: Any) -> str | None:
    """The strategy the naive baseline runs: ``continue_all`` when the model supports it, else
    ``scratch_all`` (None when neither runs)."""
    supported = supported_strategies(model)
    for name in ("continue_all", "scratch_all"):
        if name in supported:
            return name
    return None


def naive_training_set(ts: Any) -> Any:
    """The plain old + new rows behind ``ts``, weights 1 (a new :class:`TrainingSet`)."""
    rows_from = "training set"
    if ts.naive_rows is not None:
        ts, rows_from = ts.naive_rows(), "sources"
    man = ts.manifest
    mask = (man["operation"].astype(str).to_numpy() == "original") & \
        man["origin"].astype(str).isin(["old", "new"]).to_numpy()
    if not mask.any():
        raise DataError("The training set has no plain old or new rows (manifest origin 'old'/'new', operation "
                        "'original'), so there is no naive baseline. Build it with TrainingSetBuilder(old, new).")
    sub = ts.subset(mask)
    manifest = sub.manifest.copy()
    manifest["weight"] = 1.0
    info = dict(sub.info)
    info["naive"] = {"rows": int(mask.sum()), "dropped": int((~mask).sum()), "rows_from": rows_from}
    return replace(sub, manifest=manifest, info=info)


def paired_difference(cand: EvalPredictions, base: EvalPredictions, *, n_bootstrap: int = 1000,
                      confidence: float = 0.95, seed: int = 0) -> dict[str, float] | None:
    """Accuracy difference ``cand - base`` on the same rows with a two-sided paired bootstrap
    interval (None when the rows differ)."""
    if len(cand.y_true) != len(base.y_true) or not np.array_equal(cand.y_true, base.y_true) or not len(cand.y_true):
        return None
    diff = (cand.y_pred == cand.y_true).astype(np.float64) - (base.y_pred == base.y_true).astype(np.float64)
    rng = np.random.default_rng(seed)
    n = len(diff)
    boot = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 200):  # bounded memory
        stop = min(start + 200, n_bootstrap)
        boot[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(1)
    a = (1.0 - confidence) / 2
    return {"observed": float(diff.mean()), "low": float(np.quantile(boot, a)),
            "high": float(np.quantile(boot, 1.0 - a))}


def naive_columns(results: Mapping[str, Any], name: str) -> dict[str, float]:
    """``vs_naive:<set>`` (accuracy difference against naive) and its 95% interval per eval set."""
    naive = results.get("naive")
    if naive is None or name not in results:
        return {}
    out: dict[str, float] = {}
    for k, (set_name, preds) in enumerate(sorted(results[name].predictions.items())):
        base = naive.predictions.get(set_name)
        d = None if base is None else paired_difference(preds, base, seed=k)
        if d is not None:
            out[f"vs_naive:{set_name}"] = d["observed"]
            out[f"vs_naive:{set_name}:low"] = d["low"]
            out[f"vs_naive:{set_name}:high"] = d["high"]
    return out


def selection_rows(y: Any, fraction: float, random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split an eval set's row positions into (selection, scoring) parts, stratified by label.

    Decision: the selection part is where a candidate is picked (``ComparisonTable.best(on="selection")``)
    and the scoring part is where it is judged, so the reported score is not the one the pick was
    made on. Each class gives ``round(fraction * its rows)`` rows to the selection part (at least one
    row stays on each side when the class has two or more); same seed, same split."""
    if not 0.0 < float(fraction) < 1.0:
        from curakit.exceptions import ParameterError

        raise ParameterError(f"The 'selection_split' parameter must be a share between 0 and 1 (e.g. 0.5). "
                             f"Got {fraction!r} instead.")
    y = np.asarray(y)
    rng = np.random.default_rng(0 if random_state is None else random_state)
    chosen = np.zeros(len(y), dtype=bool)
    for label in np.unique(y.astype(str)):
        rows = rng.permutation(np.flatnonzero(y.astype(str) == label))
        k = int(round(fraction * len(rows)))
        if len(rows) >= 2:
            k = min(max(k, 1), len(rows) - 1)
        chosen[rows[:k]] = True
    return np.flatnonzero(chosen), np.flatnonzero(~chosen)
