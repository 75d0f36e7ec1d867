"""Small statistics shared by the slice finders: Wilson intervals, one-sided tests and
Benjamini-Hochberg control of the false discovery rate.

Severity convention (every diagnoser in this package): ``severity`` is the number of *excess*
errors a slice carries, divided by the number of analysed rows, i.e. how many points the
overall error rate would drop if the slice erred only as often as expected. A slice of 50 rows
erring at 60% where the baseline is 10% has ``(30 - 5) / n`` severity. Diagnosers may add a
documented term (for example for under-representation in training).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "bh_adjust",
    "binom_greater",
    "binom_less",
    "excess_severity",
    "hypergeom_greater",
    "wilson_bounds",
    "wilson_interval",
]


def wilson_bounds(errors: Any, n: Any, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals of ``errors / n``, vectorised (95% by default); (0, 1) where n = 0."""
    e = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    m = np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, e / m, 0.0)
        denom = 1.0 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m**2)) / denom
    # the interval always holds p (rounding could otherwise put p = 1 a hair above hi)
    lo = np.clip(np.minimum(centre - half, p), 0.0, 1.0)
    hi = np.clip(np.maximum(centre + half, p), 0.0, 1.0)
    return np.where(n > 0, lo, 0.0), np.where(n > 0, hi, 1.0)


def wilson_interval(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95% by default) for ``k`` successes out of ``n``."""
    lo, hi = wilson_bounds(k, n, z)
    return (float(lo), float(hi))


def bh_adjust(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as the input."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.clip(q_sorted, 0.0, 1.0)
    return q


def hypergeom_greater(k_in: np.ndarray, n_in: np.ndarray, k_total: int, n_total: int) -> np.ndarray:
    """One-sided Fisher exact test: are errors over-represented in the slice?

    ``k_in`` errors among ``n_in`` slice rows, ``k_total`` errors among ``n_total`` rows.
    Returns P(X >= k_in) under the hypergeometric null (slice membership independent of error).
    """
    from scipy.stats import hypergeom

    k_in = np.asarray(k_in)
    n_in = np.asarray(n_in)
    return np.asarray(hypergeom.sf(k_in - 1, n_total, k_total, n_in), dtype=np.float64).clip(0.0, 1.0)


def binom_greater(k: np.ndarray, n: np.ndarray, p0: np.ndarray | float) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p0)."""
    from scipy.stats import binom

    return np.asarray(binom.sf(np.asarray(k) - 1, n, p0), dtype=np.float64).clip(0.0, 1.0)


def binom_less(k: np.ndarray, n: np.ndarray, p0: np.ndarray | float) -> np.ndarray:
    """P(X <= k) for X ~ Binomial(n, p0)."""
    from scipy.stats import binom

    return np.asarray(binom.cdf(np.asarray(k), n, p0), dtype=np.float64).clip(0.0, 1.0)


def excess_severity(errors_in: float, expected_errors: float, n_analysed: int) -> float:
    """``(errors_in - expected_errors) / n_analysed``, floored at 0 (see the module docstring)."""
    if n_analysed <= 0:
        return 0.0
    return float(max(0.0, errors_in - expected_errors) / n_analysed)
