"""Regression search for the gate: regions of an eval set where the candidate is worse than the champion.

Rows are clustered (k-means on the standardised features or embeddings of the eval rows); in each
cluster of at least ``min_size`` rows the paired drop ``acc(champion) - acc(candidate)`` is bootstrapped
and tested against ``max_drop`` (one-sided); Benjamini-Hochberg controls the false discovery rate over
the clusters tested. Each significant cluster becomes a ``diagnose.Slice`` over that eval set's rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curakit.exceptions import DataError

__all__ = ["find_regressions"]


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


def find_regressions(cand: Any, champ: Any, X: Any, name: str, *, max_drop: float, alpha: float = 0.05,
                     n_bootstrap: int = 1000, seed: int = 0, min_size: int = 10, n_clusters: int = 8) -> list[Any]:
    """Slices of eval set ``name`` whose paired accuracy drop is significantly above ``max_drop``."""
    from sklearn.cluster import KMeans

    from diagnose import Slice

    n = len(cand.y_true)
    X = _check_features(X, n, name)
    k = min(n_clusters, n // min_size)
    if k < 2:
        return []
    Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z)
    champ_ok = (champ.y_pred == champ.y_true).astype(np.float64)
    cand_ok = (cand.y_pred == cand.y_true).astype(np.float64)
    rng = np.random.default_rng(seed)
    tested = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if len(rows) < min_size:
            continue
        diff = champ_ok[rows] - cand_ok[rows]
        boot = diff[rng.integers(0, len(rows), size=(n_bootstrap, len(rows)))].mean(1)
        p = (1.0 + np.sum(boot <= max_drop)) / (n_bootstrap + 1.0)
        tested.append((c, rows, float(diff.mean()), float(np.quantile(boot, alpha)), float(p)))
    if not tested:
        return []
    q = _bh(np.array([t[4] for t in tested]))
    out = []
    for (c, rows, drop, lower, p), qv in zip(tested, q):
        if qv > alpha or drop <= max_drop:
            continue
        flips = float(((champ_ok[rows] == 1) & (cand_ok[rows] == 0)).mean())
        out.append(Slice(
            id=f"regression-{name}-{c}", method="regressions",
            description=f"cluster {c} of {name!r} ({len(rows)} rows): accuracy drop {drop:+.3f}",
            indices=np.sort(rows).astype(np.int64), n_analysed=n, error_rate=float(1 - cand_ok[rows].mean()),
            baseline_error_rate=float(1 - champ_ok[rows].mean()), p_value=p, q_value=float(qv), severity=drop,
            evidence={"eval_set": name, "drop": drop, "lower": lower, "max_drop": max_drop,
                      "negative_flip_rate": flips},
        ))
    return sorted(out, key=lambda s: -s.severity)
