"""SMOTE-family row generation written here, on scikit-learn's public neighbour search.

The Lineage samplers (:mod:`augment._oversample`) make their synthetic rows with these functions
inside ``_fit_resample`` (imbalanced-learn's public extension point for a sampler) instead of
overriding imbalanced-learn's private helpers, so every row's parents and interpolation factor
are known by construction. The draws follow imbalanced-learn's published algorithms call by call
(the same ``check_random_state(random_state)`` calls in the same order), so with the same
``random_state`` the rows equal imbalanced-learn's own samplers' rows (the tests compare them for
the supported versions); nothing here depends on imbalanced-learn's internals.

Each generator returns ``(X_new, base, partner, steps, factor)``: positions (in the arrays passed)
of the first and second parent of each new row, the interpolation factor ``lam`` (the new row is
``X[base] + lam * factor * (X[partner] - X[base])``), and ``factor`` (Borderline-SMOTE-2's extra
scaling of a difference to a row of another class; None otherwise).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

__all__ = ["adasyn_rows", "borderline_danger", "draw_pairs", "neighbours", "smote_rows", "stack"]


def neighbours(value: Any, extra: int = 1) -> Any:
    """A neighbour search for ``value`` neighbours (an int: ``NearestNeighbors(value + extra)``,
    the row itself being its own nearest neighbour) or a clone of the given KNeighbors estimator."""
    if isinstance(value, numbers.Integral):
        return NearestNeighbors(n_neighbors=int(value) + extra)
    return clone(value)


def _interpolate(X_base, nn_data, nn_num, rows, cols, steps, factor_draws=None):
    diffs = nn_data[nn_num[rows, cols]] - X_base[rows]
    if factor_draws is not None:
        mask, draws = factor_draws
        if sparse.issparse(diffs):  # (imbalanced-learn 0.14's in-place product fails on sparse rows)
            scale = np.ones((diffs.shape[0], 1))
            scale[mask] = draws
            diffs = type(diffs)(diffs.multiply(scale))
        else:
            diffs[mask] *= draws
    if sparse.issparse(X_base):
        steps_m = getattr(sparse, type(X_base).__name__)(steps)
        X_new = X_base[rows] + steps_m.multiply(diffs)
    else:
        X_new = X_base[rows] + steps * diffs
    return X_new.astype(X_base.dtype)


def draw_pairs(random_state: Any, n_pairs: int, k: int, n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMOTE's draws: a (row, neighbour) pair uniformly among ``n_pairs`` and a factor in [0, 1)."""
    rng = check_random_state(random_state)
    picks = rng.randint(low=0, high=n_pairs, size=n_samples)
    steps = rng.uniform(size=n_samples)[:, np.newaxis]
    return np.floor_divide(picks, k), np.mod(picks, k), steps


def smote_rows(X_base, nn_data, nn_num, n_samples, random_state, *, y=None, y_type=None):
    """``n_samples`` rows between rows of ``X_base`` and their neighbours ``nn_num`` (rows of
    ``nn_data``). With ``y`` (Borderline-SMOTE-2), a difference to a row of another class than
    ``y_type`` is scaled by a factor drawn in [0, 0.5)."""
    rows, cols, steps = draw_pairs(random_state, nn_num.size, nn_num.shape[1], n_samples)
    factor = None
    factor_draws = None
    if y is not None:
        mask = y[nn_num[rows, cols]] != y_type
        draws = check_random_state(random_state).uniform(low=0.0, high=0.5, size=(int(mask.sum()), 1))
        factor = np.ones(n_samples)
        factor[mask] = draws[:, 0]
        factor_draws = (mask, draws)
    X_new = _interpolate(X_base, nn_data, nn_num, rows, cols, steps, factor_draws)
    return X_new, rows, nn_num[rows, cols], steps[:, 0].astype(np.float64), factor


def borderline_danger(nn_m: Any, X, X_class, y: np.ndarray, y_type: Any) -> np.ndarray:
    """Rows of ``X_class`` "in danger": at least half, but not all, of their ``m`` neighbours in
    ``X`` belong to another class (Han et al. 2005)."""
    nn_m.fit(X)
    nb = nn_m.kneighbors(X_class, return_distance=False)[:, 1:]
    n_other = np.sum(y[nb] != y_type, axis=1)
    m = nn_m.n_neighbors - 1
    return (n_other >= m / 2) & (n_other < m)


def adasyn_rows(nn, X, y, positions, y_type, n_samples, random_state, *, no_neighbour_error, none_error):
    """ADASYN (He et al. 2008): more rows around the class's rows with more neighbours of other
    classes. ``random_state`` is the sampler's generator, shared by the classes in turn.
    ``no_neighbour_error`` / ``none_error`` are raised when no row has another class nearby / when
    the counts round to zero."""
    X_class = X[positions]
    nn.fit(X)
    nns = nn.kneighbors(X_class, return_distance=False)[:, 1:]
    k = nn.n_neighbors - 1
    ratio = np.sum(y[nns] != y_type, axis=1) / k
    if not np.sum(ratio):
        raise no_neighbour_error
    ratio /= np.sum(ratio)
    per_row = np.rint(ratio * n_samples).astype(int)
    total = int(np.sum(per_row))
    if not total:
        raise none_error
    nn.fit(X_class)
    nns = nn.kneighbors(X_class, return_distance=False)[:, 1:]
    rows = np.repeat(np.arange(len(positions)), per_row)
    cols = random_state.choice(k, size=total)
    steps = random_state.uniform(size=(total, 1))
    X_new = _interpolate(X_class, X_class, nns, rows, cols, steps)
    return X_new, rows, nns[rows, cols], steps[:, 0].astype(np.float64), None


def stack(parts: list, like) -> Any:
    """Row-stack the original rows and the new ones (sparse in ``like``'s format, else dense)."""
    if sparse.issparse(like):
        return sparse.vstack(parts, format=like.format)
    return np.vstack(parts)
