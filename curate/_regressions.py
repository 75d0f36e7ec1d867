"""Regression search for the gate: regions of an eval set where the candidate is worse than the champion.

Rows are clustered (k-means on the standardised features or embeddings of the eval rows), and each
true class is a region too; in each region of at least ``min_size`` rows the paired drop
``acc(champion) - acc(candidate)`` is bootstrapped and tested against ``max_drop`` (one-sided);
Benjamini-Hochberg controls the false discovery rate over all the regions tested. Named slices
(:func:`check_named_slices`) get the same test. Each significant cluster becomes a ``diagnose.Slice`` over that eval set's rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from curakit.exceptions import DataError

__all__ = ["check_named_slices", "find_regressions", "slice_drop"]


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values."""
    m = len(p)
    order = np.argsort(p)
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def _check_features(X: Any, n: int, name: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"Gate: the features of eval set {name!r} must be numeric (n, d). Pass embeddings "
                        "(diagnose.embed) or the numeric feature columns.") from None
    if X.ndim != 2 or len(X) != n:
        raise DataError(f"Gate: the features of eval set {name!r} have shape {X.shape}, but the eval set has {n} "
                        "rows. Pass one feature row (or embedding) per eval row, in eval-set order.")
    if not np.isfinite(X).all():
        raise DataError(f"Gate: the features of eval set {name!r} hold NaN or inf. Impute or drop them first.")
    return X


def slice_drop(champ_ok: np.ndarray, cand_ok: np.ndarray, rows: np.ndarray, *, max_drop: float, alpha: float,
               n_bootstrap: int, rng: np.random.Generator) -> dict[str, float]:
    """Paired accuracy drop ``acc(champion) - acc(candidate)`` on ``rows``: observed, one-sided
    ``alpha`` bounds (bootstrap quantiles), and the p-value of "drop <= max_drop" (small: the drop
    is above it; a z-test with the bootstrap's standard error)."""
    diff = champ_ok[rows] - cand_ok[rows]
    boot = np.empty(n_bootstrap)
    step = max(1, min(n_bootstrap, 2_000_000 // max(len(rows), 1)))  # bounded memory on large slices
    for start in range(0, n_bootstrap, step):
        stop = min(start + step, n_bootstrap)
        boot[start:stop] = diff[rng.integers(0, len(rows), size=(stop - start, len(rows)))].mean(1)
    drop, se = float(diff.mean()), float(boot.std(ddof=1)) if n_bootstrap > 1 else 0.0
    # p of "drop <= max_drop" from the bootstrap's standard error (a z-test): unlike the share of
    # resamples below max_drop it is not floored at 1 / n_bootstrap, which would cap what BH can
    # accept when many regions are tested
    if se > 0:
        p = 0.5 * math.erfc((drop - max_drop) / se / math.sqrt(2.0))
    else:
        p = 0.0 if drop > max_drop else 1.0
    return {"drop": drop, "lower": float(np.quantile(boot, alpha)),
            "upper": float(np.quantile(boot, 1.0 - alpha)), "p": float(p),
            "negative_flip_rate": float(((champ_ok[rows] == 1) & (cand_ok[rows] == 0)).mean())}


def check_named_slices(cand: Any, champ: Any, masks: dict[str, np.ndarray], name: str, *, max_drop: float,
                       alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0,
                       ) -> tuple[list[dict[str, Any]], list[Any]]:
    """The named slices of eval set ``name`` (``{slice id: bool mask over its rows}``): one record per
    slice (n, drop with its bounds, p and BH q over the named slices, passed), and a ``diagnose.Slice``
    for each slice whose drop is significantly above ``max_drop``."""
    from diagnose import Slice

    n = len(cand.y_true)
    champ_ok = (champ.y_pred == champ.y_true).astype(np.float64)
    cand_ok = (cand.y_pred == cand.y_true).astype(np.float64)
    rng = np.random.default_rng(seed)
    records = []
    for sid in sorted(masks):
        mask = np.asarray(masks[sid])
        if mask.dtype != bool or mask.shape != (n,):
            raise DataError(f"Gate: slice {sid!r} of eval set {name!r} must be a boolean mask of {n} rows; got "
                            f"dtype {mask.dtype} and shape {mask.shape}. Pass the masks of that eval set's rows.")
        rows = np.flatnonzero(mask)
        if len(rows) < 2:
            records.append({"slice": sid, "eval_set": name, "n": int(len(rows)), "tested": False, "passed": True})
            continue
        records.append({"slice": sid, "eval_set": name, "n": int(len(rows)), "tested": True,
                        **slice_drop(champ_ok, cand_ok, rows, max_drop=max_drop, alpha=alpha,
                                     n_bootstrap=n_bootstrap, rng=rng)})
    tested = [r for r in records if r["tested"]]
    failing = []
    if tested:
        for r, qv in zip(tested, _bh(np.array([r["p"] for r in tested]))):
            r["q"] = float(qv)
            r["passed"] = not (qv <= alpha and r["drop"] > max_drop)
            if r["passed"]:
                continue
            rows = np.flatnonzero(np.asarray(masks[r["slice"]]))
            failing.append(Slice(
                id=f"named-{name}-{r['slice']}", method="named",
                description=f"named slice {r['slice']!r} of {name!r} ({r['n']} rows): accuracy drop {r['drop']:+.3f}",
                indices=rows.astype(np.int64), n_analysed=n, error_rate=float(1 - cand_ok[rows].mean()),
                baseline_error_rate=float(1 - champ_ok[rows].mean()), p_value=r["p"], q_value=r["q"],
                severity=r["drop"], evidence={"eval_set": name, "slice": r["slice"], "drop": r["drop"],
                                              "lower": r["lower"], "max_drop": max_drop,
                                              "negative_flip_rate": r["negative_flip_rate"]}))
    return records, failing


def _regions(X: np.ndarray, y_true: np.ndarray, n: int, *, min_size: int, n_clusters: int,
             seed: int) -> list[tuple[str, str, np.ndarray]]:
    """(id suffix, description, rows) of every region tested: k-means clusters of the standardised
    features, and the rows of each true class (a harm confined to one class is often spread over
    clusters in which the candidate gains elsewhere)."""
    from sklearn.cluster import KMeans

    out: list[tuple[str, str, np.ndarray]] = []
    k = min(n_clusters, n // min_size)
    if k >= 2:
        Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z)
        out += [(str(c), f"cluster {c}", np.flatnonzero(labels == c)) for c in range(k)]
    values = np.unique(y_true)
    if 2 <= len(values) <= 50:
        out += [(f"class-{v}", f"true class {v}", np.flatnonzero(y_true == v)) for v in values]
    return [r for r in out if len(r[2]) >= min_size]


def find_regressions(cand: Any, champ: Any, X: Any, name: str, *, max_drop: float, alpha: float = 0.05,
                     n_bootstrap: int = 1000, seed: int = 0, min_size: int = 10, n_clusters: int = 8) -> list[Any]:
    """Slices of eval set ``name`` whose paired accuracy drop is significantly above ``max_drop``:
    among the k-means clusters of ``X`` and the true classes, Benjamini-Hochberg over all tested."""
    from diagnose import Slice

    n = len(cand.y_true)
    X = _check_features(X, n, name)
    champ_ok = (champ.y_pred == champ.y_true).astype(np.float64)
    cand_ok = (cand.y_pred == cand.y_true).astype(np.float64)
    rng = np.random.default_rng(seed)
    tested = []
    for key, what, rows in _regions(X, np.asarray(cand.y_true), n, min_size=min_size, n_clusters=n_clusters,
                                    seed=seed):
        t = slice_drop(champ_ok, cand_ok, rows, max_drop=max_drop, alpha=alpha, n_bootstrap=n_bootstrap, rng=rng)
        tested.append((key, what, rows, t))
    if not tested:
        return []
    q = _bh(np.array([t[3]["p"] for t in tested]))
    out = []
    for (key, what, rows, t), qv in zip(tested, q):
        if qv > alpha or t["drop"] <= max_drop:
            continue
        out.append(Slice(
            id=f"regression-{name}-{key}", method="regressions",
            description=f"{what} of {name!r} ({len(rows)} rows): accuracy drop {t['drop']:+.3f}",
            indices=np.sort(rows).astype(np.int64), n_analysed=n, error_rate=float(1 - cand_ok[rows].mean()),
            baseline_error_rate=float(1 - champ_ok[rows].mean()), p_value=t["p"], q_value=float(qv),
            severity=t["drop"], evidence={"eval_set": name, "region": what, "drop": t["drop"], "lower": t["lower"],
                                          "max_drop": max_drop, "negative_flip_rate": t["negative_flip_rate"]},
        ))
    return sorted(out, key=lambda s: -s.severity)
