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

import math
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


# -- SMOTE-NC (Chawla et al. 2002): continuous columns interpolated, categorical ones voted --------------
def _columns(X, idx: np.ndarray):
    return X.iloc[:, idx] if hasattr(X, "iloc") else X[:, idx]


def smotenc_columns(X, categorical_features: Any, n_features: int, *,
                    param: str = "categorical_features") -> tuple[np.ndarray, np.ndarray]:
    """(categorical, continuous) column positions: ``"auto"`` (pandas categorical dtypes), a boolean
    mask, positions (negative from the end) or column names. A wrong one is a one-line
    ParameterError naming ``param`` (the caller's name for it) and the fix."""
    from curakit.exceptions import ParameterError

    if isinstance(categorical_features, str) and categorical_features == "auto":
        if not hasattr(X, "dtypes"):
            raise ParameterError(f"{param}='auto' picks a DataFrame's category-dtype columns, but X is a "
                                 f"{type(X).__name__}. Pass a DataFrame, or name the columns by position.")
        import pandas as pd

        cat_mask = np.array([isinstance(t, pd.CategoricalDtype) for t in X.dtypes], dtype=bool)
        return np.flatnonzero(cat_mask), np.flatnonzero(~cat_mask)
    key = np.atleast_1d(np.asarray(categorical_features, dtype=object if isinstance(categorical_features, str)
                                   else None))
    if key.ndim != 1 or key.size == 0:
        raise ParameterError(f"{param} must list one or more columns (names, positions or a boolean mask). "
                             f"Got {key.size} entries shaped {key.shape} instead.")
    if key.dtype == bool:
        if key.shape != (n_features,):
            raise ParameterError(f"{param} is a boolean mask of {key.shape[0]} entries for {n_features} columns. "
                                 "Pass one entry per column of X.")
        cat = np.flatnonzero(key)
    elif key.dtype.kind in "iu":
        if ((key < -n_features) | (key >= n_features)).any():
            raise ParameterError(f"{param} holds a column position outside [-{n_features}, {n_features}) "
                                 f"(X has {n_features} columns). Pass positions of X's columns.")
        cat = np.mod(key.astype(np.int64), n_features)
    else:
        if not hasattr(X, "columns"):
            raise ParameterError(f"{param} names columns, but X is a {type(X).__name__} without column names. "
                                 "Pass a DataFrame, or give the columns by position.")
        cat = X.columns.get_indexer(list(key))
        if (cat < 0).any():
            raise ParameterError(_unknown_columns(X.columns, [k for k, i in zip(key.tolist(), cat) if i < 0], param))
    cat = np.asarray(cat, dtype=np.int64)
    return cat, np.setdiff1d(np.arange(n_features), cat)


def _unknown_columns(columns: Any, missing: list[Any], param: str, *, show: int = 20) -> str:
    """"categorical names 1 column(s) that X does not have: 'nope'. Did you mean ...? X's columns: ..." (names only)."""
    from curakit.plugins import did_you_mean

    names = [str(c) for c in columns]
    listed = ", ".join(repr(c) for c in names[:show]) + (f", ... ({len(names)} in all)" if len(names) > show else "")
    return (f"{param} names {len(missing)} column(s) that X does not have: "
            f"{', '.join(repr(str(m)) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}."
            f"{did_you_mean(str(missing[0]), names)} X's columns: {listed}. Name columns of X.")


def smotenc_encode(X, cat: np.ndarray, cont: np.ndarray, encoder: Any):
    """(X_encoded csr: continuous columns then one-hot categories, the fitted encoder)."""
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.utils import check_array

    X_cont = check_array(_columns(X, cont), accept_sparse=["csr", "csc"])
    X_cat = _columns(X, cat)
    dtype = X_cont.dtype if X_cont.dtype.name != "object" else np.float64
    enc = OneHotEncoder(handle_unknown="ignore", dtype=dtype) if encoder is None else clone(encoder)
    X_ohe = enc.fit_transform(X_cat.toarray() if sparse.issparse(X_cat) else X_cat)
    if not sparse.issparse(X_ohe):
        X_ohe = sparse.csr_matrix(X_ohe, dtype=dtype)
    n_categories = sum(c.size for c in enc.categories_)
    if X_ohe.shape[1] != n_categories:
        raise ValueError(
            "SMOTENC requires a one-hot encoding with one column per category for the categorical features. "
            f"The provided `categorical_encoder` produced {X_ohe.shape[1]} columns for {n_categories} categories. "
            "Pass an encoder that keeps all categories, such as `OneHotEncoder(handle_unknown='ignore')`."
        )
    return sparse.hstack((X_cont, X_ohe), format="csr", dtype=dtype), enc


def smotenc_rows(nn, X_class, n_cont: int, category_sizes: list[int], n_samples: int, random_state: Any):
    """Rows for one class of the encoded table: categories scaled to the median std of the
    continuous columns (divided by sqrt 2: one-hot counts a category change twice), SMOTE on all
    columns, then each categorical column set to the category most frequent among the first
    parent's k neighbours (ties broken at random). Returns (X_new lil, base, partner, steps, median std)."""
    from sklearn.utils.sparsefuncs import mean_variance_axis

    _, var = mean_variance_axis(X_class[:, :n_cont], axis=0)
    median_std = float(np.median(np.sqrt(var)))
    original_categories = X_class[:, n_cont:].toarray() if math.isclose(median_std, 0) else None
    X_cat = X_class[:, n_cont:]
    X_cat.data[:] = median_std / np.sqrt(2)
    X_class[:, n_cont:] = X_cat
    nn.fit(X_class)
    nns = nn.kneighbors(X_class, return_distance=False)[:, 1:]
    rows, cols, steps = draw_pairs(random_state, nns.size, nns.shape[1], n_samples)
    X_new = _interpolate(X_class, X_class, nns, rows, cols, steps).tolil()
    rng = check_random_state(random_state)
    nn_data = X_class.toarray()
    if original_categories is not None:
        nn_data[:, n_cont:] = original_categories
    all_neighbours = nn_data[nns[rows]]
    bounds = np.cumsum([n_cont, *category_sizes])
    for start, end in zip(bounds[:-1], bounds[1:]):
        votes = all_neighbours[:, :, start:end].sum(axis=1)
        is_max = np.isclose(votes, votes.max(axis=1, keepdims=True))
        max_idx = rng.permutation(np.argwhere(is_max))
        xs, first = np.unique(max_idx[:, 0], return_index=True)
        X_new[:, start:end] = 0
        X_new[xs, start + max_idx[first, 1]] = 1
    return X_new, rows, nns[rows, cols], steps[:, 0].astype(np.float64), median_std


def smotenc_decode(X_resampled, X_like, n_cont: int, cont: np.ndarray, cat: np.ndarray, encoder: Any):
    """Back from the encoded table: categories decoded, columns in the input's order."""
    X_res_cat = X_resampled[:, n_cont:]
    X_res_cat.data = np.ones_like(X_res_cat.data)
    decoded = encoder.inverse_transform(X_res_cat)
    order = np.argsort(np.hstack((cont, cat)))
    if sparse.issparse(X_like):
        out = sparse.hstack((X_resampled[:, :n_cont], decoded), format="csr")
        col_indices = out.indices.copy()
        for new, old in enumerate(order):
            col_indices[out.indices == old] = new
        out.indices = col_indices
        return out
    return np.hstack((X_resampled[:, :n_cont].toarray(), decoded))[:, order]
