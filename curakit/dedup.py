"""Exact and near-duplicate detection for tabular rows and images.

Used by ``curate.TrainingSetBuilder`` (``dedup()``, no leakage into evaluation sets) and by
augment's leakage guard. Three functions:

- :func:`exact_keys` -- one 64-bit key per row (vectorised; 10M rows x 20 columns in seconds).
- :func:`duplicated` -- which rows repeat an earlier row of the same set (keep the first).
- :func:`find_duplicates` -- which rows of ``candidates`` repeat a row of ``reference``,
  as ``(candidate, reference)`` position pairs.

Inputs are a DataFrame (tabular), a 2-d numeric array (tabular) or a uint8 image array
shaped (n, H, W) or (n, H, W, C).

Exact duplicates compare every value (NaN equals NaN). Keys are verified against the rows,
so a 64-bit hash collision never reports two different rows as duplicates.

Near duplicates (``tolerance > 0``):

- tabular: every numeric value differs by at most ``tolerance`` standard deviations (of the
  reference set, or of the set itself for :func:`duplicated`) and every non-numeric value is
  equal; NaN only matches NaN (a KD-tree in Chebyshev distance).
- images: the root-mean-square pixel difference is at most ``tolerance * 255`` (``tolerance``
  is a fraction of the pixel range, in [0, 1]). Candidates come from a KD-tree over block-mean
  downsampled images, scaled so that their distance never exceeds the full-resolution RMS
  difference (no pair is missed); every candidate pair is then checked on full pixels.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DataError, ParameterError

__all__ = [
    "duplicated",
    "duplicated_from_keys",
    "exact_key_pairs",
    "exact_keys",
    "find_duplicates",
    "image_space",
    "matches_from_keys",
    "near_radius",
    "near_space",
    "near_stats",
    "numeric_columns",
    "add_sums",
    "centers_from_sums",
    "exact_sums",
    "scales_from_sums",
    "squared_deviations",
    "take_kind",
]

logger = logging.getLogger(__name__)

_HASH_KEYS = ("0123456789123456", "curakit-dedup-k2")
_MIX_SEEDS = (0x9E3779B97F4A7C15, 0xD1B54A32D192ED03)
_DOWNSAMPLE = 8  # near-duplicate images: candidate search on at most 8x8 blocks per channel
_NAN_SENTINEL = 1e15  # standardised NaN (tabular near duplicates): far from every real value


# -- inputs --------------------------------------------------------------------------------
def _kind(X: Any) -> str:
    if isinstance(X, pd.DataFrame):
        return "frame"
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            return "array"
        if X.ndim in (3, 4):
            if X.dtype != np.uint8:
                raise DataError(
                    f"Images must be uint8 in [0, 255]. Got dtype {X.dtype} with shape {X.shape} instead. "
                    "Convert with (x * 255).round().astype('uint8') for floats in [0, 1]."
                )
            return "images"
    shape = getattr(X, "shape", None)
    raise DataError(
        f"Duplicate detection takes a DataFrame, a 2-d array or uint8 images (n, H, W[, C]). "
        f"Got {type(X).__name__} with shape {shape} instead."
    )


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    return pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])], copy=False)


def _check_tolerance(tolerance: Any, kind: str) -> float:
    if tolerance is None or tolerance is False:
        return 0.0
    ok = isinstance(tolerance, numbers.Real) and not isinstance(tolerance, bool) and np.isfinite(tolerance)
    hi = 1.0 if kind == "images" else np.inf
    if not ok or not 0.0 <= float(tolerance) <= hi:
        rng = "[0.0, 1.0] (a fraction of the pixel range)" if kind == "images" else "[0.0, inf) (standard deviations)"
        raise ParameterError(
            f"The 'tolerance' parameter of duplicate detection must be a float in the range {rng}. "
            f"Got {tolerance!r} instead."
        )
    return float(tolerance)


def _align(a: pd.DataFrame, b: pd.DataFrame, *, cast: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Same columns in the same order; with ``cast``, columns whose dtypes differ get one dtype."""
    if list(a.columns) != list(b.columns):
        if set(a.columns) != set(b.columns):
            only_a = sorted(map(str, set(a.columns) - set(b.columns)))
            only_b = sorted(map(str, set(b.columns) - set(a.columns)))
            raise DataError(
                f"Cannot compare rows with different columns (only in candidates: {only_a}; only in reference: "
                f"{only_b}). Select the same feature columns in both."
            )
        b = b[list(a.columns)]
    if not cast:
        return a, b
    casts_a, casts_b = {}, {}
    for col in a.columns:
        da, db = a[col].dtype, b[col].dtype
        if da == db:
            continue
        if pd.api.types.is_numeric_dtype(da) and pd.api.types.is_numeric_dtype(db) and not (
            pd.api.types.is_bool_dtype(da) or pd.api.types.is_bool_dtype(db)
        ):
            casts_a[col] = casts_b[col] = "float64"
        else:
            casts_a[col] = casts_b[col] = object
    if casts_a:
        a = a.astype(casts_a)
        b = b.astype(casts_b)
    return a, b


# -- exact keys ----------------------------------------------------------------------------
def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 wrap-around is intended)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def _image_keys(images: np.ndarray, which: int = 0) -> np.ndarray:
    n = len(images)
    d = int(np.prod(images.shape[1:]))
    flat = np.ascontiguousarray(images).reshape(n, d)
    pad = (-d) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    words = flat.view(np.uint64)
    h = np.full(n, np.uint64(_MIX_SEEDS[which]) ^ np.uint64(d), dtype=np.uint64)
    for j in range(words.shape[1]):
        h = _mix64(h ^ words[:, j])
        with np.errstate(over="ignore"):
            h += np.uint64(j + 1)
    return _mix64(h)


def _column_hash(col: pd.Series, which: int) -> np.ndarray:
    """Hash of one column; numbers hash by float64 value (1 == 1.0, -0.0 == 0.0, one NaN)."""
    dtype = col.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0
        values[np.isnan(values)] = np.nan
        return pd.util.hash_array(values, hash_key=_HASH_KEYS[which])
    return pd.util.hash_pandas_object(col, index=False, hash_key=_HASH_KEYS[which]).to_numpy(np.uint64)


def _frame_keys(frame: pd.DataFrame, rows: np.ndarray | None, which: int) -> np.ndarray:
    n = len(frame) if rows is None else len(rows)
    h = np.full(n, np.uint64(_MIX_SEEDS[which]) ^ np.uint64(frame.shape[1]), dtype=np.uint64)
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        if rows is not None:
            col = col.take(rows)
        with np.errstate(over="ignore"):
            h = _mix64(h + _column_hash(col, which) + np.uint64(j))
    return h


def _keys(X: Any, kind: str, which: int = 0, rows: np.ndarray | None = None) -> np.ndarray:
    if kind == "images":
        return _image_keys(X if rows is None else X[rows], which)
    return _frame_keys(_as_frame(X), rows, which)


def exact_keys(X: Any, *, rows: np.ndarray | None = None) -> np.ndarray:
    """One uint64 key per row (of ``X``, or of ``X``'s rows at positions ``rows``).

    Equal rows have equal keys: numbers compare by value whatever their dtype (1 == 1.0), NaN
    equals NaN. Different rows collide with probability about 2**-64 per pair;
    :func:`duplicated` and :func:`find_duplicates` verify candidate pairs on the rows themselves.
    ``rows`` hashes a subset without copying the whole table.
    """
    kind = _kind(X)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
    return _keys(X, kind, 0, rows)


def exact_key_pairs(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uint64 keys per row (128 bits together): what a distributed dedup compares
    when it cannot verify candidate pairs on the rows (a false match has probability ~2**-128 per pair).
    The first key is :func:`exact_keys`."""
    kind = _kind(X)
    return _keys(X, kind, 0), _keys(X, kind, 1)


def _rows_equal(A: Any, ia: np.ndarray, B: Any, ib: np.ndarray, kind: str) -> np.ndarray:
    """Element-wise: is row ``A[ia[k]]`` equal to row ``B[ib[k]]`` (NaN equals NaN)?"""
    if len(ia) == 0:
        return np.zeros(0, dtype=bool)
    if kind == "images":
        a = A[ia].reshape(len(ia), int(np.prod(A.shape[1:])))
        b = B[ib].reshape(len(ib), int(np.prod(B.shape[1:])))
        return (a == b).all(axis=1)
    fa, fb = _as_frame(A), _as_frame(B)
    out = np.ones(len(ia), dtype=bool)
    for col in fa.columns:
        va = fa[col].to_numpy()[ia]
        vb = fb[col].to_numpy()[ib]
        na, nb = pd.isna(va), pd.isna(vb)
        with np.errstate(invalid="ignore"):
            eq = np.asarray(va == vb, dtype=bool)
        out &= (eq & ~na & ~nb) | (na & nb)
    return out


def _first_of_key(keys: np.ndarray) -> np.ndarray:
    """For each row, the position of the first row with the same key."""
    codes, _ = pd.factorize(keys)  # codes number keys in order of first appearance
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    seen = np.maximum.accumulate(codes)
    is_first = np.empty(len(codes), dtype=bool)
    is_first[0] = True
    is_first[1:] = codes[1:] > seen[:-1]
    return np.flatnonzero(is_first)[codes]


def take_kind(X: Any, rows: np.ndarray, kind: str) -> Any:
    if kind == "images":
        return X[rows]
    return _as_frame(X).iloc[rows].reset_index(drop=True)


def _duplicated_by_value(X: Any, kind: str) -> np.ndarray:
    """Exact duplicates by comparing values (no hashing shortcut); for small sets."""
    if kind == "images":
        flat = X.reshape(len(X), int(np.prod(X.shape[1:])))
        return pd.DataFrame(flat).duplicated(keep="first").to_numpy()
    frame = _as_frame(X)
    return frame.astype(object).where(frame.notna(), None).duplicated(keep="first").to_numpy()


def duplicated_from_keys(keys: np.ndarray, take: Any, kind: str) -> np.ndarray:
    """Rows repeating an earlier row, from precomputed keys; ``take(positions)`` returns those rows.

    Key matches are verified on the rows; rows of a key group holding a collision are
    compared by value, so a collision never merges different rows.
    """
    first = _first_of_key(keys)
    dup = first != np.arange(len(keys))
    idx = np.flatnonzero(dup)
    if len(idx) == 0:
        return dup
    ok = _rows_equal(take(idx), np.arange(len(idx)), take(first[idx]), np.arange(len(idx)), kind)
    if ok.all():
        return dup
    logger.info("64-bit key collision among %d rows; comparing the colliding groups by value", len(keys))
    bad_groups = np.unique(first[idx[~ok]])
    members = np.flatnonzero(np.isin(first, bad_groups))
    dup[members] = _duplicated_by_value(take(members), kind)
    return dup


def _exact_duplicated(X: Any, kind: str) -> np.ndarray:
    return duplicated_from_keys(_keys(X, kind), lambda rows: take_kind(X, rows, kind), kind)


def _lookup(ref_index: pd.Index, cand_index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Positions (candidate, first reference) of candidate keys found among reference keys."""
    first_mask = ~ref_index.duplicated(keep="first")
    uniq = ref_index[first_mask]
    first_pos = np.flatnonzero(first_mask)
    hit = uniq.get_indexer(cand_index)
    ci = np.flatnonzero(hit >= 0)
    return ci.astype(np.int64), first_pos[hit[ci]].astype(np.int64)


def matches_from_keys(kc: np.ndarray, take_c: Any, kr: np.ndarray, take_r: Any, kind: str) -> np.ndarray:
    """(candidate, first equal reference) pairs from precomputed keys, verified on the rows."""
    ci, ri = _lookup(pd.Index(kr), pd.Index(kc))
    if len(ci) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    ok = _rows_equal(take_c(ci), np.arange(len(ci)), take_r(ri), np.arange(len(ri)), kind)
    if not ok.all():
        logger.info("64-bit key collision between candidates and reference; comparing by value")
        for k in np.flatnonzero(~ok).tolist():
            same = np.flatnonzero(kr == kc[ci[k]])
            eq = _rows_equal(take_c(np.full(len(same), ci[k])), np.arange(len(same)), take_r(same),
                             np.arange(len(same)), kind)
            if eq.any():
                ri[k], ok[k] = same[np.argmax(eq)], True
    return np.column_stack([ci[ok], ri[ok]]).astype(np.int64)


def _exact_matches(C: Any, R: Any, kind: str) -> np.ndarray:
    return matches_from_keys(_keys(C, kind), lambda r: take_kind(C, r, kind), _keys(R, kind),
                             lambda r: take_kind(R, r, kind), kind)


# -- near duplicates: tabular ----------------------------------------------------------------
_EXP_BASE = 1074  # every finite float64 is an integer multiple of 2**-1074 (subnormals included)
_EXP_BINS = 2046  # one bin per biased exponent of a finite float64 (subnormals share the first)
_CHUNK = 1 << 25  # float accumulation of < 2**27-sized integers stays exact below 2**53


def exact_sums(values: np.ndarray) -> list[tuple[int, int]]:
    """Per column of a 2-d float64 array: (count of finite values, their exact sum as an integer
    ``N`` with sum = ``N * 2**-1074``). Sums of parts add up exactly (partition-wise statistics)."""
    n_cols = values.shape[1]
    counts = np.zeros(n_cols, np.int64)
    sh, sl = np.zeros(n_cols * _EXP_BINS), np.zeros(n_cols * _EXP_BINS)
    step = max(1, _CHUNK // max(1, n_cols))
    for s in range(0, len(values), step):
        bits = np.ascontiguousarray(values[s : s + step], dtype=np.float64).view(np.uint64)
        ex = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
        finite = ex != 0x7FF
        counts += finite.sum(axis=0)
        mant = (bits & np.uint64((1 << 52) - 1)).astype(np.int64) | ((ex > 0).astype(np.int64) << 52)
        mant = np.where(finite, np.where(bits >> np.uint64(63), -mant, mant), 0)  # value = mant * 2**(k - 1074)
        at = (np.clip(ex, 1, 0x7FE) - 1) + np.arange(n_cols, dtype=np.int64) * _EXP_BINS
        sh += np.bincount(at.ravel(), (mant >> 26).ravel().astype(np.float64), n_cols * _EXP_BINS)
        sl += np.bincount(at.ravel(), (mant & ((1 << 26) - 1)).ravel().astype(np.float64), n_cols * _EXP_BINS)
    out = []
    for j in range(n_cols):
        hj, lj = sh[j * _EXP_BINS : (j + 1) * _EXP_BINS], sl[j * _EXP_BINS : (j + 1) * _EXP_BINS]
        total = 0
        for k in np.flatnonzero((hj != 0) | (lj != 0)).tolist():
            total += ((int(hj[k]) << 26) + int(lj[k])) << k
        out.append((int(counts[j]), total))
    return out


def _ratio(total: int, count: int) -> float:
    from fractions import Fraction

    return float(Fraction(total, count << _EXP_BASE))  # correctly rounded


def centers_from_sums(sums: list[tuple[int, int]]) -> np.ndarray:
    """Correctly rounded means of the finite values from :func:`exact_sums` (0.0 for none)."""
    return np.array([_ratio(t, n) if n else 0.0 for n, t in sums], dtype=np.float64)


def add_sums(a: list[tuple[int, Any]], b: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Two parts' :func:`exact_sums` / :func:`squared_deviations` together (None: overflowed)."""
    return [(na + nb, None if ta is None or tb is None else ta + tb) for (na, ta), (nb, tb) in zip(a, b)]


def squared_deviations(values: np.ndarray, center: np.ndarray) -> list[tuple[int, Any]]:
    """:func:`exact_sums` of ``(x - center) ** 2`` (each rounded as float64) over the finite values;
    the sum is None for a column where a square overflows (its scale is then 1.0, as numpy's inf)."""
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(values)
        d = np.where(finite, values - center, 0.0)
        dd = np.where(finite, d * d, np.nan)
    over = (finite & ~np.isfinite(dd)).any(axis=0)
    return [(n, None if over[j] else t) for j, (n, t) in enumerate(exact_sums(dd))]


def scales_from_sums(sq: list[tuple[int, Any]]) -> np.ndarray:
    """Population standard deviations from :func:`squared_deviations`; 1.0 where it is 0 or undefined."""
    var = np.array([_ratio(t, n) if n and t is not None else np.nan for n, t in sq], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(var)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def near_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) that near-duplicate tolerances are measured in: the mean and population
    standard deviation of each column's finite values, from exact sums (so a partition-wise
    computation gives the same floats)."""
    center = centers_from_sums(exact_sums(values))
    return center, scales_from_sums(squared_deviations(values, center))


def numeric_columns(dtypes: pd.Series) -> list[Any]:
    """The columns near-duplicate detection compares as numbers (numeric, not boolean)."""
    return [c for c, d in dtypes.items() if pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d)]


def near_space(frames: list[pd.DataFrame], num: list[Any], other: list[Any], center: np.ndarray,
               scale: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Standardised numeric values plus a spread-out code for the non-numeric part of each row
    (rows of the frames are near iff their Chebyshev distance is within ``tolerance``)."""
    spread = 4.0 * tolerance + 1.0  # distinct non-numeric values lie farther apart than the tolerance
    other_codes = None
    if other:
        all_other = pd.concat([f[other].astype(object) for f in frames], ignore_index=True)
        codes, _ = pd.factorize(pd.util.hash_pandas_object(all_other, index=False).to_numpy(np.uint64))
        other_codes = np.split(codes.astype(np.float64) * spread, np.cumsum([len(f) for f in frames])[:-1])
    out = []
    for k, f in enumerate(frames):
        Z = (f[num].to_numpy(dtype=np.float64, na_value=np.nan) - center) / scale if num else np.zeros((len(f), 0))
        Z = np.where(np.isnan(Z), _NAN_SENTINEL, Z)
        Z = np.where(np.isposinf(Z), 2 * _NAN_SENTINEL, Z)
        Z = np.where(np.isneginf(Z), -2 * _NAN_SENTINEL, Z)
        if other_codes is not None:
            Z = np.column_stack([Z, other_codes[k]])
        if Z.shape[1] == 0:
            Z = np.zeros((len(f), 1))
        out.append(np.ascontiguousarray(Z))
    return out


def _tabular_space(frames: list[pd.DataFrame], scale_from: pd.DataFrame, tolerance: float) -> list[np.ndarray]:
    num = numeric_columns(scale_from.dtypes)
    other = [c for c in scale_from.columns if c not in num]
    center, scale = near_stats(scale_from[num].to_numpy(dtype=np.float64, na_value=np.nan))
    return near_space(frames, num, other, center, scale, tolerance)


def near_radius(tolerance: float) -> float:
    """The Chebyshev radius a tolerance searches within (a hair wider, for rounding)."""
    return float(np.nextafter(tolerance, np.inf)) * (1 + 1e-9)


# -- near duplicates: images -------------------------------------------------------------------
def image_space(images: np.ndarray) -> np.ndarray:
    """Block means, scaled so ||f(a) - f(b)||_2 <= RMS pixel difference of a and b."""
    arr = images if images.ndim == 4 else images[..., None]
    n, H, W, C = arr.shape
    bh, bw = max(1, -(-H // _DOWNSAMPLE)), max(1, -(-W // _DOWNSAMPLE))
    gh, gw = H // bh, W // bw
    crop = arr[:, : gh * bh, : gw * bw, :].astype(np.float32)
    means = crop.reshape(n, gh, bh, gw, bw, C).mean(axis=(2, 4))
    weight = np.sqrt(bh * bw / float(H * W * C))
    return (means.reshape(n, -1) * weight).astype(np.float64)


def _rms(A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray) -> np.ndarray:
    out = np.empty(len(ia))
    step = 4096
    for s in range(0, len(ia), step):
        a = A[ia[s : s + step]].reshape(min(step, len(ia) - s), -1).astype(np.float32)
        b = B[ib[s : s + step]].reshape(len(a), -1).astype(np.float32)
        out[s : s + step] = np.sqrt(((a - b) ** 2).mean(axis=1))
    return out


def _check_image_shapes(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise DataError(
            f"Cannot compare images of shape {a.shape[1:]} with images of shape {b.shape[1:]}. "
            "Resize them to one shape first."
        )


# -- public API --------------------------------------------------------------------------------
def _keep_first(n: int, pairs: np.ndarray) -> np.ndarray:
    """Greedy: walk rows in order; a row is dropped when it is near a kept earlier row."""
    dup = np.zeros(n, dtype=bool)
    if len(pairs) == 0:
        return dup
    i, j = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    order = np.lexsort((i, j))
    for a, b in zip(i[order].tolist(), j[order].tolist()):
        if not dup[a]:
            dup[b] = True
    return dup


def duplicated(X: Any, *, tolerance: float | None = None) -> np.ndarray:
    """Boolean mask: True for each row that duplicates an earlier row of ``X`` (the first is kept).

    ``tolerance=None`` (or 0) finds exact duplicates; a positive ``tolerance`` finds near
    duplicates (see the module docstring). For near duplicates the rows are walked in order
    and a row is dropped when it is within ``tolerance`` of an earlier row that was kept.
    """
    kind = _kind(X)
    tol = _check_tolerance(tolerance, kind)
    n = len(X)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if tol == 0.0:
        return _exact_duplicated(X, kind)
    from scipy.spatial import cKDTree

    if kind == "images":
        space = image_space(X)
        pairs = cKDTree(space).query_pairs(near_radius(tol * 255.0), p=2.0, output_type="ndarray")
        if len(pairs):
            keep = _rms(X, pairs[:, 0], X, pairs[:, 1]) <= tol * 255.0 + 1e-9
            pairs = pairs[keep]
    else:
        frame = _as_frame(X)
        (space,) = _tabular_space([frame], frame, tol)
        pairs = cKDTree(space).query_pairs(near_radius(tol), p=np.inf, output_type="ndarray")
    return _keep_first(n, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))


def find_duplicates(
    candidates: Any, reference: Any, *, tolerance: float | None = None, scale_from: Any = None
) -> np.ndarray:
    """Rows of ``candidates`` that duplicate a row of ``reference``.

    Returns an int64 array shaped (k, 2): one ``(candidate position, reference position)``
    pair per candidate row that has a duplicate, sorted by candidate; the reference position
    is the first equal row (exact) or the nearest row (near duplicates). Tabular inputs must
    have the same columns (order may differ); numeric columns whose dtypes differ are compared
    as float64. For near tabular duplicates, values are standardised by the standard deviations
    of ``scale_from`` (a table with the same columns; default: the reference) -- pass the larger
    set when the reference is small.
    """
    kind = _kind(candidates)
    if _kind(reference) != kind:
        raise DataError(
            f"Cannot compare {kind} with {_kind(reference)}: pass two DataFrames, two 2-d arrays or two image arrays."
        )
    tol = _check_tolerance(tolerance, kind)
    empty = np.zeros((0, 2), dtype=np.int64)
    if len(candidates) == 0 or len(reference) == 0:
        return empty
    if kind == "images":
        _check_image_shapes(candidates, reference)
        C, R = candidates, reference
    else:
        if kind == "array" and candidates.shape[1] != reference.shape[1]:
            raise DataError(
                f"Cannot compare rows of {candidates.shape[1]} columns with rows of {reference.shape[1]} columns."
            )
        C, R = _align(_as_frame(candidates), _as_frame(reference), cast=tol > 0.0)
    if tol == 0.0:
        return _exact_matches(C, R, kind)
    from scipy.spatial import cKDTree

    if kind == "images":
        sc, sr = image_space(C), image_space(R)
        limit = tol * 255.0
        hits = cKDTree(sr).query_ball_point(sc, near_radius(limit), p=2.0)
        ci, ri = [], []
        for c, refs in enumerate(hits):
            if not refs:
                continue
            refs = np.asarray(refs, dtype=np.int64)
            d = _rms(C, np.full(len(refs), c), R, refs)
            best = int(np.argmin(d))
            if d[best] <= limit + 1e-9:
                ci.append(c)
                ri.append(int(refs[best]))
        return np.column_stack([ci, ri]).astype(np.int64) if ci else empty
    scale = R if scale_from is None else _align(_as_frame(scale_from), R, cast=True)[0]
    sc, sr = _tabular_space([C, R], scale, tol)
    dist, idx = cKDTree(sr).query(sc, k=1, p=np.inf, distance_upper_bound=near_radius(tol))
    ci = np.flatnonzero(np.isfinite(dist))
    return np.column_stack([ci, idx[ci]]).astype(np.int64) if len(ci) else empty
