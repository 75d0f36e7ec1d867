"""Readable rule slices on tabular features: ``AGEP > 64 and SCHL <= 15``.

The ``"rules"`` diagnoser searches conjunctions of simple predicates for groups of rows where
the model errs far more often than overall. Two search strategies, both deterministic:

``search="lattice"`` (default), SliceLine-style (Sagadeeva & Boehm, SIGMOD 2021)
    Every feature is turned into *basic predicates*: for a numeric column with more than
    ``n_bins`` distinct values, quantile cuts ``c`` give ``x <= c`` and ``x > c`` plus the
    interior quantile intervals ``a < x <= b``; for a categorical (object, category, bool) or
    low-cardinality numeric column, one ``x == level`` per level (the ``max_levels`` most frequent).
    Level ``L`` slices are conjunctions of ``L`` predicates on distinct features. A slice is scored
    with SliceLine's score::

        score = alpha * (error_rate / baseline_error_rate - 1) - (1 - alpha) * (n / size - 1)

    which rewards a high error rate and penalises small slices. Level ``L + 1`` candidates are
    built Apriori-style from level-``L`` slices that are large enough (``min_support``), contain
    errors, and whose score *upper bound* can still beat the current ``top_k``-th best; every
    ``L``-subset of a candidate must itself have survived. Row membership is evaluated on packed
    bit sets, so a level with many candidates costs a few AND + popcount passes.

``search="tree"``
    A shallow ``DecisionTreeClassifier`` (depth ``max_depth``, leaves of at least
    ``min_support`` rows) is fitted to the per-row error; each node's path becomes a rule.

``search="both"`` pools the two candidate sets.

The survivors are ranked by score (``Slice.severity``); a slice whose rows overlap a
higher-ranked one with Jaccard >= ``redundancy`` is dropped as a restatement of it. Before
ranking, each candidate's numeric thresholds are refined on a finer quantile grid and
conditions that do not raise the score by 1% are dropped (``refine=True``). Each slice
carries its error rate with a Wilson 95% interval, a one-sided binomial test of "more errors
inside than overall", Benjamini-Hochberg q-values corrected over *every* candidate the search
evaluated (refinement steps included), and, when ``train_features`` are given,
the share of training rows that satisfy the rule (``Slice.train_share``; compare with
``Slice.share`` for under-representation).
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.validation import check_choice, check_columns

from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._slice import Slice, slice_id
from ._stats import bh_adjust, wilson_bounds

__all__ = [
    "rule_slices",
]

logger = logging.getLogger(__name__)

_SEARCHES = ("lattice", "tree", "both")


def _binom_pvalue(errors_in: np.ndarray, size: np.ndarray, total_errors: int, n: int) -> np.ndarray:
    """One-sided binomial test P(X >= errors_in), X ~ Binomial(size, total_errors / n).

    "Is the error rate inside the slice higher than the overall one?" Vectorised (scipy.special),
    so the whole search family can be tested; conservative for large slices, whose own rows
    raise the overall rate.
    """
    from scipy.special import bdtrc

    k = np.asarray(errors_in, dtype=np.int64)
    m = np.asarray(size, dtype=np.int64)
    p0 = min(max(total_errors / n, 0.0), 1.0)
    out = np.where(k <= 0, 1.0, bdtrc(np.maximum(k - 1, 0), m, p0))
    return np.clip(out, 0.0, 1.0)


# -- basic predicates ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Predicate:
    feature: int  # column position
    conditions: tuple[tuple[str, str, Any], ...]  # (column, op, value)
    text: str


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    """A JSON-able plain Python value with the same comparison semantics."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_categorical(col: pd.Series) -> bool:
    return (
        isinstance(col.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(col.dtype)
        or pd.api.types.is_object_dtype(col.dtype)
        or pd.api.types.is_string_dtype(col.dtype)
    )


def _check_features(features: Any, name: str) -> pd.DataFrame:
    if not isinstance(features, pd.DataFrame):
        raise DataError(
            f"{name} must be a pandas DataFrame with named columns. Got {type(features).__name__} instead. "
            "Wrap arrays with pd.DataFrame(X, columns=[...])."
        )
    check_columns(features, name)
    if len(features) == 0 or features.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {features.shape}). Pass at least one row and one column.")
    for c in features.columns:
        col = features[c]
        if _is_categorical(col):
            if col.isna().any():
                raise DataError(
                    f"{name} column {c!r} has {int(col.isna().sum())} missing value(s). "
                    "Fill them (e.g. with a 'missing' level) before finding rule slices."
                )
        elif pd.api.types.is_numeric_dtype(col.dtype):
            arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isfinite(arr).all():
                raise DataError(
                    f"{name} column {c!r} contains {int((~np.isfinite(arr)).sum())} NaN or inf value(s). "
                    "Remove or impute them first."
                )
        else:
            raise DataError(
                f"{name} column {c!r} has dtype {col.dtype}, which rule slices cannot split. "
                "Use numeric, bool, category or string columns."
            )
    return features


def _basic_predicates(
    features: pd.DataFrame, n_bins: int, max_levels: int
) -> tuple[list[_Predicate], list[np.ndarray]]:
    preds: list[_Predicate] = []
    masks: list[np.ndarray] = []
    for j, name in enumerate(features.columns):
        col = features[name]
        cname = str(name)
        if _is_categorical(col) or col.nunique() <= n_bins:
            counts = col.value_counts(sort=True)
            # most frequent first; ties broken by the level's text so the order is stable
            levels = sorted(counts.index, key=lambda v: (-int(counts[v]), str(v)))[:max_levels]
            values = col.to_numpy()
            for level in levels:
                level = _plain(level)
                preds.append(_Predicate(j, ((cname, "==", level),), f"{cname} == {_fmt(level)}"))
                masks.append(np.asarray(values == level, dtype=bool))
            continue
        values = col.to_numpy(dtype=np.float64)
        probs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
        cuts = np.unique(np.quantile(values, probs, method="lower"))
        cuts = cuts[cuts < values.max()]
        for c in cuts:
            c = float(c)
            preds.append(_Predicate(j, ((cname, "<=", c),), f"{cname} <= {_fmt(c)}"))
            masks.append(values <= c)
            preds.append(_Predicate(j, ((cname, ">", c),), f"{cname} > {_fmt(c)}"))
            masks.append(values > c)
        for a, b in zip(cuts[:-1], cuts[1:]):
            a, b = float(a), float(b)
            preds.append(_Predicate(j, ((cname, ">", a), (cname, "<=", b)), f"{_fmt(a)} < {cname} <= {_fmt(b)}"))
            masks.append((values > a) & (values <= b))
    return preds, masks


# -- scoring ------------------------------------------------------------------------------------
def _score(size: np.ndarray, errs: np.ndarray, n: int, mean_err: float, alpha: float) -> np.ndarray:
    size = np.asarray(size, dtype=np.float64)
    errs = np.asarray(errs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((errs / size) / mean_err - 1.0) - (1.0 - alpha) * (n / size - 1.0)
    return np.where(size > 0, sc, -np.inf)


def _upper_bound(size: np.ndarray, errs: np.ndarray, min_support: int, n: int, mean_err: float, alpha: float):
    """Best score any sub-slice (size in [min_support, size], errors <= min(errs, its size)) can reach.

    For 0/1 errors the score at a fixed size grows with the errors, and as a function of size
    it is monotone on [min_support, errs] and on [errs, size], so checking the three end points
    suffices.
    """
    size = np.asarray(size, dtype=np.float64)
    errs = np.asarray(errs, dtype=np.float64)
    best = np.full(size.shape, -np.inf)
    for s in (np.full(size.shape, float(min_support)), np.clip(errs, min_support, None), size):
        s = np.minimum(s, size)
        ok = s >= min_support
        e = np.minimum(errs, s)
        best = np.where(ok, np.maximum(best, _score(s, e, n, mean_err, alpha)), best)
    return best


# -- lattice search -------------------------------------------------------------------------
def _popcount_rows(bits: np.ndarray) -> np.ndarray:
    return np.bitwise_count(bits).sum(axis=1, dtype=np.int64)


def _evaluate_candidates(bits, err_bits, cands: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, errors) of each candidate (a row of predicate indices, ANDed), in chunks."""
    sizes = np.empty(len(cands), dtype=np.int64)
    errs = np.empty(len(cands), dtype=np.int64)
    for start in range(0, len(cands), chunk):
        c = cands[start : start + chunk]
        m = bits[c[:, 0]]
        for k in range(1, c.shape[1]):
            m = m & bits[c[:, k]]
        sizes[start : start + chunk] = _popcount_rows(m)
        errs[start : start + chunk] = _popcount_rows(m & err_bits[None, :])
    return sizes, errs


def _push_top(top: list, keep: int, scores, cands, sizes, errs, min_support: int) -> None:
    """Offer the scored candidates to the min-heap ``top`` of the best ``keep``."""
    ok = (sizes >= min_support) & (errs > 0) & (scores > 0)
    for i in np.flatnonzero(ok):
        item = (float(scores[i]), tuple(int(v) for v in cands[i]), int(sizes[i]), int(errs[i]))
        if len(top) < keep:
            heapq.heappush(top, item)
        elif item > top[0]:
            heapq.heapreplace(top, item)


def _apriori_join(parents: np.ndarray, basic: np.ndarray, pred_feature: np.ndarray, parent_sizes, parent_errs):
    """Extend each parent by a surviving basic predicate of a later index on a feature the parent
    does not use; every depth-subset must have survived. Returns (children, size bounds, error bounds)."""
    index = {tuple(p): i for i, p in enumerate(parents.tolist())}
    new, new_size, new_err = [], [], []
    for i, p in enumerate(parents.tolist()):
        used = set(pred_feature[p].tolist())
        for q in basic[basic > p[-1]].tolist():
            if pred_feature[q] in used:
                continue
            cand = (*p, q)
            ok = True
            size_ub, err_ub = parent_sizes[i], parent_errs[i]
            for drop in range(len(cand) - 1):
                sub = cand[:drop] + cand[drop + 1 :]
                j = index.get(sub)
                if j is None:
                    ok = False
                    break
                size_ub = min(size_ub, parent_sizes[j])
                err_ub = min(err_ub, parent_errs[j])
            if not ok:
                continue
            new.append(cand)
            new_size.append(size_ub)
            new_err.append(err_ub)
    return new, new_size, new_err


def _next_level(level, sizes, errs, valid, *, depth, pred_feature, threshold, min_support, n, mean_err, alpha,
                max_candidates):
    """The candidates of level ``depth + 1`` whose upper bound beats ``threshold`` (None: stop)."""
    ub = _upper_bound(sizes, errs, min_support, n, mean_err, alpha)
    expand = valid & (ub > threshold)
    parents = level[expand]
    if len(parents) == 0:
        return None
    basic = np.unique(parents) if depth > 1 else parents[:, 0]
    new, new_size, new_err = _apriori_join(parents, basic, pred_feature, sizes[expand], errs[expand])
    if not new:
        return None
    cand_arr = np.asarray(new, dtype=np.int64)
    ub_child = _upper_bound(np.asarray(new_size), np.asarray(new_err), min_support, n, mean_err, alpha)
    keep_c = ub_child > threshold
    cand_arr, ub_child = cand_arr[keep_c], ub_child[keep_c]
    if len(cand_arr) > max_candidates:
        order = np.lexsort((np.arange(len(cand_arr)), -ub_child))[:max_candidates]
        logger.info(
            "rules: level %d has %d candidates; evaluating the %d with the best upper bound",
            depth + 1,
            len(cand_arr),
            max_candidates,
        )
        cand_arr = cand_arr[np.sort(order)]
    return cand_arr if len(cand_arr) else None


def _lattice(
    bits: np.ndarray,
    err_bits: np.ndarray,
    pred_feature: np.ndarray,
    *,
    n: int,
    total_errors: int,
    min_support: int,
    max_depth: int,
    alpha: float,
    keep: int,
    max_candidates: int,
    chunk_bytes: int = 32 << 20,
) -> tuple[list[tuple[float, tuple[int, ...], int, int]], list[np.ndarray]]:
    """SliceLine-style enumeration. Returns the best ``keep`` (score, preds, size, errors) and the
    p-values of every evaluated candidate (for the multiple-testing correction)."""
    mean_err = total_errors / n
    nbytes = bits.shape[1]
    chunk = max(1, chunk_bytes // max(nbytes, 1))
    top: list[tuple[float, tuple[int, ...], int, int]] = []  # min-heap of (score, -order, preds...)
    pvals: list[np.ndarray] = []
    level = np.arange(bits.shape[0], dtype=np.int64)[:, None]
    sizes, errs = _evaluate_candidates(bits, err_bits, level, chunk)
    for depth in range(1, max_depth + 1):
        scores = _score(sizes, errs, n, mean_err, alpha)
        valid = (sizes >= min_support) & (errs > 0)
        if valid.any():
            pvals.append(_binom_pvalue(errs[valid], sizes[valid], total_errors, n))
        _push_top(top, keep, scores, level, sizes, errs, min_support)
        if depth == max_depth:
            break
        level = _next_level(
            level, sizes, errs, valid, depth=depth, pred_feature=pred_feature,
            threshold=top[0][0] if len(top) >= keep else 0.0, min_support=min_support, n=n, mean_err=mean_err,
            alpha=alpha, max_candidates=max_candidates,
        )
        if level is None:
            break
        sizes, errs = _evaluate_candidates(bits, err_bits, level, chunk)
    best = sorted(top, key=lambda t: (-t[0], t[1]))
    return best, pvals


# -- tree search ----------------------------------------------------------------------------
def _tree_candidates(
    features: pd.DataFrame,
    errors: np.ndarray,
    *,
    min_support: int,
    max_depth: int,
    max_levels: int,
    random_state: int,
) -> list[list[tuple[str, str, Any]]]:
    """Root-to-node paths of a shallow tree fitted to the errors, as lists of conditions."""
    from sklearn.tree import DecisionTreeClassifier

    cols: list[np.ndarray] = []
    meta: list[tuple[str, Any]] = []  # (column, level or None for numeric)
    for name in features.columns:
        col = features[name]
        if _is_categorical(col):
            counts = col.value_counts(sort=True)
            levels = sorted(counts.index, key=lambda v: (-int(counts[v]), str(v)))[:max_levels]
            values = col.to_numpy()
            for level in levels:
                cols.append((values == level).astype(np.float64))
                meta.append((str(name), _plain(level)))
        else:
            cols.append(col.to_numpy(dtype=np.float64))
            meta.append((str(name), None))
    Z = np.column_stack(cols)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_support, random_state=random_state).fit(
        Z, errors.astype(int)
    )
    t = tree.tree_
    paths: list[list[tuple[str, str, Any]]] = []

    def walk(node: int, conds: list[tuple[str, str, Any]]):
        if conds:
            paths.append(list(conds))
        if t.children_left[node] == -1:
            return
        name, level = meta[t.feature[node]]
        thr = float(t.threshold[node])
        if level is None:
            # snap the midpoint threshold to the largest observed value below it, for readability
            values = Z[:, t.feature[node]]
            below = values[values <= thr]
            thr = float(below.max()) if below.size else thr
            left, right = (name, "<=", thr), (name, ">", thr)
        else:
            left, right = (name, "!=", level), (name, "==", level)
        walk(t.children_left[node], [*conds, left])
        walk(t.children_right[node], [*conds, right])

    walk(0, [])
    return [_simplify(p) for p in paths]


def _simplify(conds: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """Keep the tightest bound per numeric column; drop '!=' implied by an '==' on the column."""
    out: dict[tuple[str, str], tuple[str, str, Any]] = {}
    eq_cols = {c for c, op, _ in conds if op == "=="}
    neq: list[tuple[str, str, Any]] = []
    for c, op, v in conds:
        if op == "<=":
            prev = out.get((c, "<="))
            out[(c, "<=")] = (c, op, v if prev is None else min(prev[2], v))
        elif op == ">":
            prev = out.get((c, ">"))
            out[(c, ">")] = (c, op, v if prev is None else max(prev[2], v))
        elif op == "==":
            out[(c, "==")] = (c, op, v)
        elif op == "!=" and c not in eq_cols:
            neq.append((c, op, v))
    return [*out.values(), *neq]


def _conditions_mask(features: pd.DataFrame, conds: list[tuple[str, str, Any]]) -> np.ndarray:
    mask = np.ones(len(features), dtype=bool)
    for c, op, v in conds:
        values = features[c].to_numpy()
        if op == "<=":
            mask &= values <= v
        elif op == ">":
            mask &= values > v
        elif op == "==":
            mask &= values == v
        elif op == "!=":
            mask &= values != v
        else:  # pragma: no cover - only the ops above are generated
            raise ParameterError(f"Unknown rule operator {op!r}.")
    return mask


def _refine(
    features: pd.DataFrame,
    errors: np.ndarray,
    conds: list[tuple[str, str, Any]],
    *,
    min_support: int,
    n: int,
    mean_err: float,
    alpha: float,
    grid: int,
    grids: dict[str, np.ndarray],
    passes: int = 2,
) -> tuple[list[tuple[str, str, Any]], float, list[np.ndarray]]:
    """Coordinate ascent on the numeric thresholds of one rule over a finer quantile grid.

    Each ``<=`` / ``>`` threshold in turn is moved to the grid value (observed data values)
    maximising the score with the other conditions fixed. Returns the refined conditions, their
    score and the p-values of every threshold tried (they join the multiple-testing family).
    """
    conds = list(conds)
    total_errors = int(errors.sum())
    tried: list[np.ndarray] = []
    best_score = float(_score(*_stats(features, errors, conds), n, mean_err, alpha)[0])
    for _ in range(passes):
        improved = False
        for i, (c, op, _v) in enumerate(conds):
            if op not in ("<=", ">"):
                continue
            rest = conds[:i] + conds[i + 1 :]
            other = _conditions_mask(features, rest)
            vals = features[c].to_numpy(dtype=np.float64)[other]
            if vals.size < min_support:
                continue
            errs_o = errors[other]
            if c not in grids:
                grids[c] = np.unique(
                    np.quantile(
                        features[c].to_numpy(dtype=np.float64), np.linspace(0, 1, grid + 1)[1:-1], method="lower"
                    )
                )
            grid_vals = grids[c]
            order = np.argsort(vals, kind="mergesort")
            sv, se = vals[order], np.concatenate([[0], np.cumsum(errs_o[order])])
            below = np.searchsorted(sv, grid_vals, side="right")  # rows with value <= t
            if op == "<=":
                size, err = below, se[below]
            else:
                size, err = sv.size - below, se[-1] - se[below]
            ok = (size >= min_support) & (err > 0)
            if not ok.any():
                continue
            tried.append(_binom_pvalue(err[ok], size[ok], total_errors, n))
            sc = np.where(ok, _score(size, err, n, mean_err, alpha), -np.inf)
            k = int(np.argmax(sc))
            if sc[k] > best_score + 1e-12:
                best_score = float(sc[k])
                conds[i] = (c, op, float(grid_vals[k]))
                improved = True
        if not improved:
            break
    # drop conditions that do not earn their place (score within 1% without them): simpler rules
    out = list(conds)
    while len(out) > 1:
        scores = [
            float(_score(*_stats(features, errors, out[:i] + out[i + 1 :]), n, mean_err, alpha)[0])
            for i in range(len(out))
        ]
        i = int(np.argmax(scores))
        if scores[i] < best_score - 0.01 * abs(best_score):
            break
        best_score = max(best_score, scores[i])
        del out[i]
    return out, best_score, tried


def _stats(features: pd.DataFrame, errors: np.ndarray, conds) -> tuple[np.ndarray, np.ndarray]:
    m = _conditions_mask(features, conds)
    return np.array([m.sum()]), np.array([errors[m].sum()])


def _describe(conds: list[tuple[str, str, Any]]) -> str:
    """``a < x <= b`` for a two-sided bound on one column, else ``x op v`` joined by 'and'."""
    parts: list[str] = []
    seen: set[str] = set()
    for c, op, v in conds:
        if c in seen:
            continue
        lo = [w for cc, o, w in conds if cc == c and o == ">"]
        hi = [w for cc, o, w in conds if cc == c and o == "<="]
        if lo and hi and op in (">", "<="):
            parts.append(f"{_fmt(lo[0])} < {c} <= {_fmt(hi[0])}")
            seen.add(c)
        else:
            parts.append(f"{c} {op} {_fmt(v)}")
    return " and ".join(parts)


# -- the diagnoser --------------------------------------------------------------------------
def _check_options(n: int, min_support, max_depth, n_bins, alpha, top_k, redundancy, max_levels) -> int:
    owner = "the 'rules' diagnoser"
    if isinstance(min_support, float) and 0.0 < min_support < 1.0:
        min_rows = max(1, math.ceil(min_support * n))
    elif isinstance(min_support, (int, np.integer)) and not isinstance(min_support, bool) and min_support >= 1:
        min_rows = int(min_support)
    else:
        raise ParameterError(
            f"The 'min_support' parameter of {owner} must be an int >= 1 (rows) or a float in (0, 1) "
            f"(share of rows). Got {min_support!r} instead."
        )
    for name, value, lo in (
        ("max_depth", max_depth, 1),
        ("n_bins", n_bins, 2),
        ("top_k", top_k, 1),
        ("max_levels", max_levels, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
            raise ParameterError(f"The {name!r} parameter of {owner} must be an int >= {lo}. Got {value!r} instead.")
    if not isinstance(alpha, (int, float)) or not (0.0 < float(alpha) <= 1.0):
        raise ParameterError(
            f"The 'alpha' parameter of {owner} must be a float in the range (0.0, 1.0]. Got {alpha!r} instead."
        )
    if not isinstance(redundancy, (int, float)) or not (0.0 < float(redundancy) <= 1.0):
        raise ParameterError(
            f"The 'redundancy' parameter of {owner} must be a float in the range (0.0, 1.0]. Got {redundancy!r} instead."
        )
    return min_rows


def _check_rule_inputs(inp: AnalysisInput, search, min_support, max_depth, n_bins, alpha, top_k, redundancy,
                       max_levels) -> tuple[pd.DataFrame, int]:
    """Validate rule_slices' inputs and options; return (features, smallest slice in rows)."""
    check_choice(search, "search", "the 'rules' diagnoser", _SEARCHES)
    features = _check_features(inp.features, "features")
    n = inp.n
    if len(features) != n:
        raise DataError(
            f"Inputs differ in length (features={len(features)}, y_true={n}). Pass one feature row per analysed row."
        )
    if n < 2:
        raise DataError(f"Rule slices need at least 2 analysed rows. Got {n}.")
    return features, _check_options(n, min_support, max_depth, n_bins, alpha, top_k, redundancy, max_levels)


def _check_train_features(train_features, features: pd.DataFrame) -> pd.DataFrame | None:
    if train_features is None:
        return None
    train = _check_features(train_features, "train_features")
    missing = [c for c in features.columns if c not in train.columns]
    if missing:
        raise DataError(
            f"train_features lack {len(missing)} column(s) of features ({', '.join(map(str, missing[:5]))}). "
            "Pass training rows with the same columns."
        )
    return train


def _lattice_search(features, errors, candidates, pvals, *, n_bins, max_levels, min_rows, max_depth, alpha, keep,
                    max_candidates) -> None:
    """Add the lattice's best rules to ``candidates`` and its p-values to ``pvals``."""
    preds, masks = _basic_predicates(features, n_bins, max_levels)
    bits = np.packbits(np.vstack(masks), axis=1)
    err_bits = np.packbits(errors)
    pred_feature = np.asarray([p.feature for p in preds], dtype=np.int64)
    best, pv = _lattice(
        bits,
        err_bits,
        pred_feature,
        n=len(errors),
        total_errors=int(errors.sum()),
        min_support=min_rows,
        max_depth=max_depth,
        alpha=float(alpha),
        keep=keep,
        max_candidates=max_candidates,
    )
    pvals.extend(pv)
    for score, combo, _, _ in best:
        conds = [c for k in combo for c in preds[k].conditions]
        candidates[tuple(conds)] = (conds, score)


def _tree_search(features, errors, candidates, pvals, *, min_rows, max_depth, max_levels, alpha, random_state):
    """Add the decision-tree paths that score to ``candidates`` and their p-values to ``pvals``."""
    n, total_errors = len(errors), int(errors.sum())
    mean_err = total_errors / n
    paths = _tree_candidates(
        features,
        errors,
        min_support=min_rows,
        max_depth=max_depth,
        max_levels=max_levels,
        random_state=random_state,
    )
    tree_sizes, tree_errs = [], []
    for conds in paths:
        m = _conditions_mask(features, conds)
        size, errs = int(m.sum()), int(errors[m].sum())
        tree_sizes.append(size)
        tree_errs.append(errs)
        if size < min_rows or errs == 0:
            continue
        sc = float(_score(np.array([size]), np.array([errs]), n, mean_err, float(alpha))[0])
        if sc > 0 and tuple(conds) not in candidates:
            candidates[tuple(conds)] = (conds, sc)
    ts, te = np.asarray(tree_sizes), np.asarray(tree_errs)
    ok = (ts >= min_rows) & (te > 0)
    if ok.any():
        pvals.append(_binom_pvalue(te[ok], ts[ok], total_errors, n))


def _refine_candidates(features, errors, candidates, pvals, *, min_rows, alpha, refine_grid) -> dict:
    """Each candidate with its numeric thresholds refined (the best-scoring version per rule)."""
    n = len(errors)
    refined: dict[tuple, tuple[list[tuple[str, str, Any]], float]] = {}
    grids: dict[str, np.ndarray] = {}
    for conds, _score_before in candidates.values():
        new, new_score, tried = _refine(
            features,
            errors,
            conds,
            min_support=min_rows,
            n=n,
            mean_err=int(errors.sum()) / n,
            alpha=float(alpha),
            grid=refine_grid,
            grids=grids,
        )
        pvals.extend(tried)
        key = tuple(new)
        if new and (key not in refined or refined[key][1] < new_score):
            refined[key] = (new, new_score)
    return refined


def _choose_rules(features, candidates, *, redundancy, top_k) -> list[tuple[list, float, np.ndarray]]:
    """The best ``top_k`` rules, most severe first, skipping those redundant with a better one."""
    ranked = sorted(candidates.values(), key=lambda cs: (-cs[1], _describe(cs[0])))
    chosen: list[tuple[list, float, np.ndarray]] = []
    for conds, score in ranked:
        m = _conditions_mask(features, conds)
        if any((m & c[2]).sum() / max((m | c[2]).sum(), 1) >= redundancy for c in chosen):
            continue
        chosen.append((conds, score, m))
        if len(chosen) >= top_k:
            break
    return chosen


def _rule_slices_report(chosen, errors, pvals, *, train, alpha, search) -> list[Slice]:
    """The Slices of the chosen rules, with q-values over every candidate the search evaluated."""
    n, total_errors = len(errors), int(errors.sum())
    mean_err = total_errors / n
    all_p = np.concatenate(pvals) if pvals else np.zeros(0)
    sizes = np.array([c[2].sum() for c in chosen])
    errs = np.array([errors[c[2]].sum() for c in chosen])
    p = _binom_pvalue(errs, sizes, total_errors, n)
    # q-values: Benjamini-Hochberg over every candidate the search evaluated (the family of
    # tests); each chosen slice was evaluated, so its p-value is in the family.
    family = np.sort(np.concatenate([all_p, p])) if len(all_p) == 0 else np.sort(all_p)
    q_sorted = bh_adjust(family)  # family is sorted, so q_sorted is too
    rank = np.clip(np.searchsorted(family, p * (1 + 1e-12), side="right"), 1, len(family))
    q = np.maximum(q_sorted[rank - 1], p)
    m_total = len(family)
    lo, hi = wilson_bounds(errs, sizes)
    out: list[Slice] = []
    for i, (conds, score, m) in enumerate(chosen):
        definition = {
            "kind": "rule",
            "conditions": [{"feature": c, "op": op, "value": _plain(v)} for c, op, v in conds],
        }
        train_share = None
        evidence: dict[str, Any] = {
            "support": int(sizes[i]),
            "errors": int(errs[i]),
            "score": float(score),
            "alpha": float(alpha),
            "n_conditions": len({c for c, _, _ in conds}),
            "search": search,
            "tests": int(m_total),
        }
        if train is not None:
            train_share = float(_conditions_mask(train, conds).mean())
            evidence["train_rows"] = int(len(train))
        error_rate = float(errs[i] / sizes[i])
        evidence["lift"] = error_rate / mean_err
        out.append(
            Slice(
                id=slice_id("rules", definition),
                method="rules",
                description=_describe(conds),
                indices=np.flatnonzero(m),
                n_analysed=n,
                error_rate=error_rate,
                baseline_error_rate=mean_err,
                error_ci=(float(lo[i]), float(hi[i])),
                train_share=train_share,
                p_value=float(p[i]),
                q_value=float(q[i]),
                severity=float(score),
                definition=definition,
                evidence=evidence,
            )
        )
    return out


@DIAGNOSERS.register("rules", requires=("features",))
def rule_slices(
    inp: AnalysisInput,
    *,
    min_support: int | float = 20,
    max_depth: int = 2,
    n_bins: int = 5,
    alpha: float = 0.9,
    top_k: int = 10,
    search: str = "lattice",
    redundancy: float = 0.8,
    max_levels: int = 20,
    max_candidates: int = 200_000,
    refine: bool = True,
    refine_grid: int = 64,
) -> list[Slice]:
    """Rule slices where the model errs more than overall (see the module docstring).

    Parameters
    ----------
    min_support : smallest slice, in rows (int) or as a share of the analysed rows (float < 1).
    max_depth : most conditions per rule (lattice level / tree depth).
    n_bins : quantile bins per numeric column; columns with at most ``n_bins`` distinct values
        are treated as categorical levels.
    alpha : SliceLine's weight of the error term against the size term in the score.
    top_k : most slices returned, most severe first.
    search : ``"lattice"``, ``"tree"`` or ``"both"``.
    redundancy : drop a slice whose rows overlap a better one with Jaccard >= this.
    max_levels : most levels per categorical column (the most frequent ones).
    max_candidates : cap on candidates evaluated per lattice level (best upper bounds first).
    refine : move each numeric threshold of the best candidates to the value, on a grid of
        ``refine_grid`` quantiles, that maximises the score (coordinate ascent); the bins of
        the lattice are coarse, the populations users care about rarely start on a bin edge.
    """
    features, min_rows = _check_rule_inputs(inp, search, min_support, max_depth, n_bins, alpha, top_k, redundancy,
                                            max_levels)
    n = inp.n
    errors = np.asarray(inp.errors, dtype=bool)
    total_errors = int(errors.sum())
    if total_errors == 0:
        logger.info("rules: no errors among %d rows; no slice to report", n)
        return []
    train = _check_train_features(inp.train_features, features)

    candidates: dict[tuple, tuple[list[tuple[str, str, Any]], float]] = {}
    pvals: list[np.ndarray] = []
    if search in ("lattice", "both"):
        _lattice_search(features, errors, candidates, pvals, n_bins=n_bins, max_levels=max_levels,
                        min_rows=min_rows, max_depth=max_depth, alpha=alpha, keep=top_k * 5,
                        max_candidates=max_candidates)
    if search in ("tree", "both"):
        _tree_search(features, errors, candidates, pvals, min_rows=min_rows, max_depth=max_depth,
                     max_levels=max_levels, alpha=alpha, random_state=inp.random_state)
    if not candidates:
        return []
    if refine:
        candidates = _refine_candidates(features, errors, candidates, pvals, min_rows=min_rows, alpha=alpha,
                                        refine_grid=refine_grid)
    chosen = _choose_rules(features, candidates, redundancy=redundancy, top_k=top_k)
    return _rule_slices_report(chosen, errors, pvals, train=train, alpha=alpha, search=search)
