"""Tabular over- and under-sampling through imbalanced-learn, with the parents of every row.

Each method of :data:`OVERSAMPLERS` is an imbalanced-learn sampler subclass that also records
where every output row comes from (fitted attributes):

``parents_`` int64 (n_out, 2)
    input positions of each output row's parents: ``(a, b)`` for an interpolated row, ``(a, -1)``
    for an original row or a copy.
``steps_`` float64 (n_out,)
    the interpolation factor ``lam`` of each interpolated row (NaN otherwise): the synthetic row is
    exactly ``X[a] + lam * (X[b] - X[a])`` (float columns; SMOTE-NC sets categorical columns to the
    most frequent category among ``a``'s neighbours; Borderline-SMOTE-2 also scales the difference
    to a neighbour of another class by ``factor``, in ``provenance_.params``).
``synthetic_`` bool (n_out,)
``provenance_`` DataFrame
    the lineage of every output row (``augment.LINEAGE_COLUMNS``), row-aligned with the output.

The samplers subclass imbalanced-learn's (parameters, validation, ``sampling_strategy``) and implement
``_fit_resample``, its public extension point. SMOTE, Borderline-SMOTE and ADASYN make their rows
with own code (:mod:`augment._interpolation`, neighbours through scikit-learn's ``NearestNeighbors``),
and SMOTE-NC (its one-hot encoding and categorical vote too), so every parent is known by construction
and no private imbalanced-learn method is overridden. The draws follow imbalanced-learn's algorithms call by call,
so with ``select=None`` the output equals the plain imbalanced-learn sampler's output for the same
``random_state`` (tested with imbalanced-learn 0.14.1 and 0.14.2).

Resampling a slice (``select=``; ``target=`` is its deprecated old name): rows that are "in the
selection and of class c" are treated as a class of their own (the minority to resample), so
neighbours, interpolation partners and (for ADASYN / Borderline-SMOTE) the danger assessment
against every other row follow the slice, not the whole class. ``n`` new rows are made per class
present in the selection (int, or a mapping {class: count}; default: as many as the selection
holds of that class). For ``random_under`` ``n`` is the number of selected rows of each class to keep.
"""

from __future__ import annotations

import json
import logging
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from scipy import sparse
from sklearn.utils import check_random_state

from curakit.exceptions import DataError, ParameterError
from curakit.plugins import PluginRegistry
from curakit.records import plain_value
from curakit.seeds import resolve_seed
from curakit.validation import UNSET, check_columns, check_labels, renamed

from . import _interpolation as _interp
from ._manifest import (
    _arrow_floats,
    _arrow_ints,
    _arrow_join,
    _arrow_take,
    _concat,
    _repeat,
    fast_lineage_frame,
)
from ._select import Group, check_count, resolve_groups

__all__ = [
    "OVERSAMPLERS",
    "LineageADASYN",
    "LineageBorderlineSMOTE",
    "LineageRandomOverSampler",
    "LineageRandomUnderSampler",
    "LineageSMOTE",
    "LineageSMOTENC",
    "fast_lineage_frame",
    "oversample",
]

logger = logging.getLogger(__name__)

#: name -> sampler class (meta: kind "over"/"under", interpolates, display name).
OVERSAMPLERS: PluginRegistry[type] = PluginRegistry("oversampling method")


# -- fast lineage frames ------------------------------------------------------------------------
def _rows(n: int) -> str:
    return "row" if n == 1 else "rows"




# -- the recording mixin ------------------------------------------------------------------------
_DISPLAY = {
    "smote": "SMOTE",
    "smotenc": "SMOTENC",
    "borderline": "BorderlineSMOTE",
    "adasyn": "ADASYN",
    "random_over": "RandomOverSampler",
    "random_under": "RandomUnderSampler",
}


class _LineageMixin:
    """Builds the provenance after ``_fit_resample``: the interpolating samplers make their rows
    in ``_resample_core`` with :mod:`augment._interpolation` (parents known by construction)."""

    _method = ""
    _interpolates = True
    _under = False

    # -- parameters shared by every lineage sampler
    def _lineage_params(self) -> dict[str, Any]:
        return {}

    @property
    def _neighbors(self) -> int | None:
        k = getattr(self, "k_neighbors", None)
        return int(k) if isinstance(k, numbers.Integral) else None

    def fit_resample(self, X, y, **params):
        self._lin_X_raw = X
        try:
            return super().fit_resample(X, y, **params)
        finally:
            del self._lin_X_raw

    def _resample_core(self, X, y):
        """The resampling itself: imbalanced-learn's for the copying samplers (parents from
        ``sample_indices_``); the interpolating ones override it with own code."""
        return super()._fit_resample(X, y)

    # -- selection and provenance
    def _selection(self) -> Any:
        """``select``, or the deprecated ``target`` with a FutureWarning (both: ParameterError)."""
        old = getattr(self, "target", None)
        return renamed(type(self).__name__, "target", "select", UNSET if old is None else old, getattr(self, "select", None))

    def _fit_resample(self, X, y, **params):
        n_in = X.shape[0]
        self._lin_records = []
        select = self._selection()
        classes = np.unique(y)
        if select is None:
            self._lin_y = y
            self._check_group_sizes(y, None, None)
            X_res, y_res = self._resample_core(X, y)
            out_labels = None
            group_ids = {c: str(c) for c in self.sampling_strategy_}
            slice_ids: tuple[str, ...] = ()
            description = None
        else:
            group = self._target_group(select, X, y, n_in)
            codes = np.searchsorted(classes, y)
            k = len(classes)
            special = codes.copy()
            special[group.positions] += k
            counts = self._target_counts(classes, codes, group)
            self._lin_y = special
            self.sampling_strategy_ = {k + j: c for j, c in counts.items() if c > 0 or self._under}
            self._check_group_sizes(special, group, classes)
            X_res, codes_res = self._resample_core(X, special)
            codes_res = np.asarray(codes_res)
            out_labels = classes[np.where(codes_res >= k, codes_res - k, codes_res)]
            self.sampling_strategy_ = {classes[j]: c for j, c in counts.items()}
            group_ids = {kk: group.id for kk in range(k, 2 * k)}
            slice_ids = group.slice_ids
            description = group.description or group.id
        self._build_provenance(n_in, X_res, group_ids, slice_ids, description)
        if out_labels is not None:
            return X_res, out_labels
        return X_res, y_res

    def _target_group(self, select, X, y, n_in) -> Group:
        raw = getattr(self, "_lin_X_raw", None)
        features = raw if isinstance(raw, pd.DataFrame) else None
        groups = resolve_groups(select, n_in, labels=y, features=features, param="select", owner=type(self).__name__)
        if len(groups) != 1:
            raise ParameterError(
                f"The 'select' parameter of {type(self).__name__} must select one group of rows (a Slice, a mask or "
                f"row positions). Got {len(groups)} groups; resample one slice at a time."
            )
        return groups[0]

    def _target_counts(self, classes: np.ndarray, codes: np.ndarray, group: Group) -> dict[int, int]:
        n = check_count(getattr(self, "n", None), "n", type(self).__name__)
        present = np.unique(codes[group.positions])
        sizes = {int(j): int((codes[group.positions] == j).sum()) for j in present}
        if isinstance(n, dict):
            out = {}
            for lab, count in n.items():
                hit = np.flatnonzero(classes == lab)
                if hit.size == 0 or int(hit[0]) not in sizes:
                    raise DataError(
                        f"n asks for class {plain_value(lab)!r} but the selection holds no row of that class. "
                        "Remove the class from n or select rows that hold it."
                    )
                out[int(hit[0])] = count
            if self._under:
                for j, c in out.items():
                    if c > sizes[j]:
                        raise ParameterError(
                            f"random_under keeps at most the {sizes[j]} selected rows of class {plain_value(classes[j])!r}; "
                            f"n asks to keep {c}. Lower n."
                        )
                out = {**sizes, **out}
            return out
        if n is None:
            if self._under:
                raise ParameterError(
                    "random_under with select= needs n= (how many selected rows of each class to keep). Pass n."
                )
            return dict(sizes)
        if self._under:
            too_many = [j for j, s in sizes.items() if n > s]
            if too_many:
                j = too_many[0]
                raise ParameterError(
                    f"random_under keeps at most the {sizes[j]} selected rows of class {plain_value(classes[j])!r}; n={n}. Lower n."
                )
        return {j: n for j in sizes}

    def _check_group_sizes(self, y: np.ndarray, group: Group | None, classes: np.ndarray | None) -> None:
        k = self._neighbors
        if not self._interpolates or k is None:
            return
        name = _DISPLAY.get(self._method, type(self).__name__)
        param = "n_neighbors" if self._method == "adasyn" else "k_neighbors"
        for lab, count in self.sampling_strategy_.items():
            if count <= 0:
                continue
            size = int((y == lab).sum())
            if size >= k + 1:
                continue
            fix = f"Lower {param} or use method='random_over'."
            if group is None:
                raise DataError(f"Class {plain_value(lab)!r} has {size} {_rows(size)} but {name}({param}={k}) needs at least {k + 1}. {fix}")
            what = f"Slice {group.id!r}" if group.slice_ids else ("The selection" if group.label is None else f"Class {group.label!r}")
            cls = plain_value(classes[int(lab) - len(classes)])
            n_classes = len(np.unique(y[group.positions]))
            of_class = "" if n_classes == 1 else f" of class {cls!r}"
            raise DataError(f"{what} has {size} {_rows(size)}{of_class} but {name}({param}={k}) needs at least {k + 1}. {fix}")

    def _build_provenance(self, n_in, X_res, group_ids, slice_ids, description) -> None:
        if self._under:
            self._kept_provenance()
            return
        base, partner, steps, labels_new, factors = self._synthetic_parents(n_in)
        m = len(base)
        if n_in + m != X_res.shape[0]:  # pragma: no cover - guards against an imbalanced-learn change
            raise RuntimeError(f"Recorded {m} synthetic rows but the sampler made {X_res.shape[0] - n_in}.")
        self.parents_ = np.vstack(
            [np.column_stack([np.arange(n_in), np.full(n_in, -1)]), np.column_stack([base, partner])]
        ).astype(np.int64)
        self.steps_ = np.concatenate([np.full(n_in, np.nan), steps])
        self.synthetic_ = np.concatenate([np.zeros(n_in, dtype=bool), np.ones(m, dtype=bool)])
        self._synthetic_provenance(n_in, base, partner, steps, labels_new, factors, group_ids, slice_ids, description)

    def _kept_provenance(self) -> None:
        """Under-sampling: the provenance of the kept rows."""
        method = self._method
        origin = getattr(self, "origin", "old")
        kept = np.asarray(self.sample_indices_, dtype=np.int64)
        self.parents_ = np.column_stack([kept, np.full(len(kept), -1, dtype=np.int64)])
        self.steps_ = np.full(len(kept), np.nan)
        self.synthetic_ = np.zeros(len(kept), dtype=bool)
        self.provenance_ = fast_lineage_frame(
            row_ids=[f"{origin}:{i}" for i in kept.tolist()],
            origin=origin,
            source=origin,
            parent_ids="[]",
            operation="original",
            params="{}",
            slice_ids="[]",
            seed=None,
            reason=f"kept by {method}",
        )

    def _synthetic_parents(self, n_in: int):
        """(base, partner, steps, labels, factors) of the new rows, from the recorded draws."""
        if self._method == "random_over":
            idx = np.asarray(self.sample_indices_, dtype=np.int64)
            base = idx[n_in:]
            partner = np.full(len(base), -1, dtype=np.int64)
            steps = np.full(len(base), np.nan)
            labels_new = self._lin_y[base]
            factors = None
        else:
            if not self._lin_records:
                base = partner = np.zeros(0, dtype=np.int64)
                steps = np.zeros(0)
                labels_new = np.zeros(0, dtype=self._lin_y.dtype)
                factors = None
            else:
                base = np.concatenate([r[0] for r in self._lin_records]).astype(np.int64)
                partner = np.concatenate([r[1] for r in self._lin_records]).astype(np.int64)
                steps = np.concatenate([r[2] for r in self._lin_records])
                labels_new = np.concatenate([np.full(len(r[0]), r[3]) for r in self._lin_records])
                has_factor = any(r[4] is not None for r in self._lin_records)
                factors = (
                    np.concatenate([r[4] if r[4] is not None else np.ones(len(r[0])) for r in self._lin_records])
                    if has_factor
                    else None
                )
        return base, partner, steps, labels_new, factors

    def _synthetic_provenance(self, n_in, base, partner, steps, labels_new, factors, group_ids, slice_ids, description):
        """The lineage frame: the input rows, then the new rows with their parents and factors."""
        method = self._method
        m = len(base)
        origin = getattr(self, "origin", "old")
        seed = self.random_state if isinstance(self.random_state, numbers.Integral) else None
        slice_json = json.dumps(list(slice_ids))
        # row ids "aug:<group>:<k>", k counting within each group (vectorised through pyarrow)
        uniq, codes = np.unique(labels_new, return_inverse=True) if m else (np.zeros(0), np.zeros(0, dtype=np.int64))
        gid_names = [group_ids.get(lab, str(lab)) for lab in uniq.tolist()]
        gnames, gcodes = np.unique(np.asarray(gid_names, dtype=object), return_inverse=True) if m else ([], codes)
        per_row_g = np.asarray(gcodes, dtype=np.int64)[codes] if m else codes
        k = pd.Series(per_row_g).groupby(per_row_g).cumcount().to_numpy() if m else codes
        new_ids = _arrow_join("aug:", _arrow_take([f"{g}:" for g in list(gnames)], per_row_g), _arrow_ints(k))
        extra = self._lineage_params()
        b_text = _arrow_ints(base)
        if method == "random_over":
            parent_json = _arrow_join('["', b_text, '"]')
            params = _repeat(json.dumps(extra, sort_keys=True), m)
        else:
            parent_json = _arrow_join('["', b_text, '", "', _arrow_ints(partner), '"]')
            if factors is None:
                params = _params_texts(extra, steps)
            else:
                import pyarrow as pa

                params = pa.array(
                    [self._params_text(extra, s, f) for s, f in zip(steps.tolist(), factors.tolist())], pa.string()
                )
        if description is None:
            reasons = _arrow_take([f"{method} to fill class {lab}" for lab in uniq.tolist()], codes)
        else:
            reasons = _repeat(f"{method} to fill {description}", m)
        ids = _concat(_arrow_join(f"{origin}:", _arrow_ints(np.arange(n_in))), new_ids)
        seeds = np.concatenate([np.full(n_in, -1), np.full(m, -1 if seed is None else int(seed))])
        self.provenance_ = fast_lineage_frame(
            row_ids=ids,
            origin=_concat(_repeat(origin, n_in), _repeat("synthetic", m)),
            source=origin,
            parent_ids=_concat(_repeat("[]", n_in), parent_json),
            operation=_concat(_repeat("original", n_in), _repeat(method, m)),
            params=_concat(_repeat("{}", n_in), params),
            slice_ids=_concat(_repeat("[]", n_in), _repeat(slice_json, m)),
            seed=seeds,
            reason=_concat(_repeat("original row", n_in), reasons),
        )

    @staticmethod
    def _params_text(extra: dict[str, Any], step: float, factor: float | None = None) -> str:
        d = dict(extra)
        d["lambda"] = step
        if factor is not None:
            d["factor"] = factor
        return json.dumps(d, sort_keys=True)


def _params_texts(extra: dict[str, Any], steps: np.ndarray) -> Any:
    """``json.dumps({**extra, "lambda": s}, sort_keys=True)`` for every step (a pyarrow array), vectorised."""
    before = {k: v for k, v in extra.items() if k < "lambda"}
    after = {k: v for k, v in extra.items() if k > "lambda"}
    pre = json.dumps(before, sort_keys=True)[1:-1]
    post = json.dumps(after, sort_keys=True)[1:-1]
    head = "{" + pre + (", " if pre else "") + '"lambda": '
    tail = (", " + post if post else "") + "}"
    return _arrow_join(head, _arrow_floats(steps), tail)


def _constraints(base: type, **more: Any) -> dict[str, Any]:
    return {**base._parameter_constraints, **{k: "no_validation" for k in more}}


# -- the samplers -----------------------------------------------------------------------------
@OVERSAMPLERS.register("smote", kind="over", interpolates=True)
class LineageSMOTE(_LineageMixin, SMOTE):
    """imbalanced-learn's SMOTE that records both parents and the interpolation factor of each row.

    Extra parameters: ``select`` (a Slice, mask, positions or ``{"classes": [...]}``: resample the
    rows "selected and of class c" as their own minority; ``target`` is its deprecated old name),
    ``n`` (new rows per class in the selection), ``origin`` (lineage origin of the input rows).
    See :mod:`augment._oversample`.
    """

    _method = "smote"
    _parameter_constraints = _constraints(SMOTE, select=None, target=None, n=None, origin=None)

    def __init__(self, *, sampling_strategy="auto", random_state=None, k_neighbors=5, select=None, n=None, origin="old", target=None):
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=k_neighbors)
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

    def _lineage_params(self):
        return {"k_neighbors": self.k_neighbors} if isinstance(self.k_neighbors, numbers.Integral) else {}

    def _resample_core(self, X, y):
        """SMOTE per class: k nearest neighbours within the class, one partner and factor per row."""
        self.nn_k_ = _interp.neighbours(self.k_neighbors)
        parts, labels = [X.copy()], [y.copy()]
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            pos = np.flatnonzero(y == class_sample)
            X_class = X[pos]
            self.nn_k_.fit(X_class)
            nns = self.nn_k_.kneighbors(X_class, return_distance=False)[:, 1:]
            X_new, rows, nbr, steps, _ = _interp.smote_rows(X_class, X_class, nns, n_samples, self.random_state)
            self._lin_records.append((pos[rows], pos[nbr], steps, class_sample, None))
            parts.append(X_new)
            labels.append(np.full(n_samples, fill_value=class_sample, dtype=y.dtype))
        return _interp.stack(parts, X), np.hstack(labels)


def smotenc_split(X: Any, categorical: Any, n_features: int, param: str = "categorical_features") -> tuple:
    """(categorical, continuous) positions for SMOTE-NC: one-line ParameterErrors for unknown columns and for
    a split that leaves no continuous or no categorical column."""
    cat, cont = _interp.smotenc_columns(X, categorical, n_features, param=param)
    if cat.size == n_features:
        raise ParameterError(f"{param} names every column of X; SMOTE-NC needs some numeric ones to interpolate. "
                             "Leave the numeric columns out of it, or use method='random_over'.")
    if cat.size == 0:
        raise ParameterError(f"{param} names no column of X; SMOTE-NC needs some categorical ones. "
                             "Name them, or use method='smote' for an all-numeric table.")
    return cat, cont


@OVERSAMPLERS.register("smotenc", kind="over", interpolates=True)
class LineageSMOTENC(_LineageMixin, SMOTENC):
    """SMOTE-NC (continuous and categorical columns) with recorded parents; see :class:`LineageSMOTE`."""

    _method = "smotenc"
    _parameter_constraints = _constraints(SMOTENC, select=None, target=None, n=None, origin=None)

    def __init__(
        self,
        categorical_features,
        *,
        categorical_encoder=None,
        sampling_strategy="auto",
        random_state=None,
        k_neighbors=5,
        select=None,
        n=None,
        origin="old",
        target=None,
    ):
        super().__init__(
            categorical_features,
            categorical_encoder=categorical_encoder,
            sampling_strategy=sampling_strategy,
            random_state=random_state,
            k_neighbors=k_neighbors,
        )
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

    def _lineage_params(self):
        d = {"categorical": "most frequent among the k nearest neighbours of the first parent"}
        if isinstance(self.k_neighbors, numbers.Integral):
            d["k_neighbors"] = self.k_neighbors
        return d

    def _resample_core(self, X, y):
        """SMOTE-NC per class (augment._interpolation.smotenc_*): continuous columns interpolated,
        categorical ones the most frequent among the first parent's neighbours."""
        self.n_features_ = X.shape[1]
        cat, cont = smotenc_split(X, self.categorical_features, self.n_features_)
        self.categorical_features_, self.continuous_features_ = cat, cont
        X_encoded, self.categorical_encoder_ = _interp.smotenc_encode(X, cat, cont, self.categorical_encoder)
        self.nn_k_ = _interp.neighbours(self.k_neighbors)
        sizes = [c.size for c in self.categorical_encoder_.categories_]
        parts, labels, self.median_std_ = [X_encoded.copy()], [y.copy()], {}
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            pos = np.flatnonzero(y == class_sample)
            X_new, rows, nbr, steps, self.median_std_[class_sample] = _interp.smotenc_rows(
                self.nn_k_, X_encoded[pos], cont.size, sizes, n_samples, self.random_state
            )
            self._lin_records.append((pos[rows], pos[nbr], steps, class_sample, None))
            parts.append(X_new)
            labels.append(np.full(n_samples, fill_value=class_sample, dtype=y.dtype))
        X_res = sparse.vstack(parts, format=X_encoded.format)
        return _interp.smotenc_decode(X_res, X, cont.size, cont, cat, self.categorical_encoder_), np.hstack(labels)


@OVERSAMPLERS.register("borderline", kind="over", interpolates=True)
class LineageBorderlineSMOTE(_LineageMixin, BorderlineSMOTE):
    """Borderline-SMOTE with recorded parents; see :class:`LineageSMOTE`."""

    _method = "borderline"
    _parameter_constraints = _constraints(BorderlineSMOTE, select=None, target=None, n=None, origin=None)

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        k_neighbors=5,
        m_neighbors=10,
        kind="borderline-1",
        select=None,
        n=None,
        origin="old",
        target=None,
    ):
        super().__init__(
            sampling_strategy=sampling_strategy,
            random_state=random_state,
            k_neighbors=k_neighbors,
            m_neighbors=m_neighbors,
            kind=kind,
        )
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

    def _lineage_params(self):
        d = {"kind": self.kind}
        if isinstance(self.k_neighbors, numbers.Integral):
            d["k_neighbors"] = self.k_neighbors
        return d

    def _resample_core(self, X, y):
        """Borderline-SMOTE per class: rows "in danger" (m neighbours in all rows) are the first
        parents; partners among the class (kind 1) or all rows (kind 2, other-class differences
        scaled by a factor in [0, 0.5))."""
        self.nn_m_ = _interp.neighbours(self.m_neighbors)
        self.nn_k_ = _interp.neighbours(self.k_neighbors)
        parts, labels = [X.copy()], [y.copy()]
        self.in_danger_indices = {}
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            pos = np.flatnonzero(y == class_sample)
            X_class = X[pos]
            danger = _interp.borderline_danger(self.nn_m_, X, X_class, y, class_sample)
            if not danger.any():
                continue
            self.in_danger_indices[class_sample] = pos[danger]
            one = self.kind == "borderline-1"
            source, source_pos = (X_class, pos) if one else (X, np.arange(len(y)))
            self.nn_k_.fit(source)
            nns = self.nn_k_.kneighbors(X_class[danger], return_distance=False)[:, 1:]
            X_new, rows, nbr, steps, factor = _interp.smote_rows(
                X_class[danger], source, nns, n_samples, self.random_state, y=None if one else y, y_type=class_sample
            )
            self._lin_records.append((pos[danger][rows], source_pos[nbr], steps, class_sample, factor))
            parts.append(X_new)
            labels.append(np.full(n_samples, fill_value=class_sample, dtype=y.dtype))
        return _interp.stack(parts, X), np.hstack(labels)


@OVERSAMPLERS.register("adasyn", kind="over", interpolates=True)
class LineageADASYN(_LineageMixin, ADASYN):
    """ADASYN with recorded parents; see :class:`LineageSMOTE` (``n_neighbors`` as in imbalanced-learn)."""

    _method = "adasyn"
    _parameter_constraints = _constraints(ADASYN, select=None, target=None, n=None, origin=None)

    def __init__(self, *, sampling_strategy="auto", random_state=None, n_neighbors=5, select=None, n=None, origin="old", target=None):
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state, n_neighbors=n_neighbors)
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

    @property
    def _neighbors(self):
        k = self.n_neighbors
        return int(k) if isinstance(k, numbers.Integral) else None

    def _lineage_params(self):
        return {"n_neighbors": self.n_neighbors} if isinstance(self.n_neighbors, numbers.Integral) else {}

    def _resample_core(self, X, y):
        """ADASYN per class (augment._interpolation.adasyn_rows), one generator for all classes."""
        self.nn_ = _interp.neighbours(self.n_neighbors)
        random_state = check_random_state(self.random_state)
        parts, labels = [X.copy()], [y.copy()]
        no_neighbour = DataError(
            "ADASYN found no neighbour of another class around the rows to resample, so it has nothing to "
            "adapt to. Use method='smote' instead."
        )
        no_rows = DataError("ADASYN would make no rows with these settings (the requested count rounds to 0). Ask for more rows.")
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            pos = np.flatnonzero(y == class_sample)
            X_new, rows, nbr, steps, _ = _interp.adasyn_rows(
                self.nn_, X, y, pos, class_sample, n_samples, random_state,
                no_neighbour_error=no_neighbour, none_error=no_rows,
            )
            self._lin_records.append((pos[rows], pos[nbr], steps, class_sample, None))
            parts.append(X_new)
            labels.append(np.full(len(rows), fill_value=class_sample, dtype=y.dtype))
        return _interp.stack(parts, X), np.hstack(labels)


@OVERSAMPLERS.register("random_over", kind="over", interpolates=False)
class LineageRandomOverSampler(_LineageMixin, RandomOverSampler):
    """Random over-sampling (copies, or a smoothed bootstrap with ``shrinkage``) with recorded parents."""

    _method = "random_over"
    _interpolates = False
    _parameter_constraints = _constraints(RandomOverSampler, select=None, target=None, n=None, origin=None)

    def __init__(self, *, sampling_strategy="auto", random_state=None, shrinkage=None, select=None, n=None, origin="old", target=None):
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state, shrinkage=shrinkage)
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

    def _lineage_params(self):
        return {} if self.shrinkage is None else {"shrinkage": self.shrinkage}


@OVERSAMPLERS.register("random_under", kind="under", interpolates=False)
class LineageRandomUnderSampler(_LineageMixin, RandomUnderSampler):
    """Random under-sampling; ``provenance_`` lists the kept rows (``sample_indices_`` as in imbalanced-learn)."""

    _method = "random_under"
    _interpolates = False
    _under = True
    _parameter_constraints = _constraints(RandomUnderSampler, select=None, target=None, n=None, origin=None)

    def __init__(self, *, sampling_strategy="auto", random_state=None, replacement=False, select=None, n=None, origin="old", target=None):
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state, replacement=replacement)
        self.select = select
        self.target = target  # deprecated name of select
        self.n = n
        self.origin = origin

# -- the function -------------------------------------------------------------------------------
def _check_table(X: Any, method: str, categorical: Any) -> Any:
    shape = X.shape if hasattr(X, "shape") else np.shape(X)
    cat = np.zeros(0, dtype=np.int64)
    if method == "smotenc" and len(shape) == 2:  # unknown columns, an all / no categorical split: before any work
        cat, _ = smotenc_split(X, categorical, int(shape[1]), param="categorical")
    if isinstance(X, pd.DataFrame):
        if method in ("random_over", "random_under"):
            return X
        non_numeric = [
            c
            for c in X.columns
            if not (pd.api.types.is_numeric_dtype(X[c].dtype) and not pd.api.types.is_bool_dtype(X[c].dtype))
        ]
        cats = set(X.columns[cat])  # named, by position, by mask or "auto"
        bad = [c for c in non_numeric if c not in cats]
        if bad:
            hint = (
                "use method='smotenc' with categorical=[...] naming them"
                if method != "smotenc"
                else "name them in categorical=[...]"
            )
            raise DataError(
                f"X has {len(bad)} non-numeric column(s) (first: {str(bad[0])!r}) that {method} cannot interpolate; {hint}."
            )
        numeric = [c for c in X.columns if c not in non_numeric]
        values = X[numeric].to_numpy(dtype=np.float64, na_value=np.nan) if numeric else np.zeros((len(X), 0))
    else:
        values = np.asarray(X)
        if values.ndim != 2:
            raise DataError(f"X must be 2-d (rows, features). Got shape {values.shape} instead.")
        if method in ("random_over", "random_under") or values.dtype.kind not in "fiub":
            return X
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad_n = int((~np.isfinite(values)).sum())
        raise DataError(
            f"X has {bad_n} NaN or inf value(s) (shape {values.shape}); {method} interpolates between rows and cannot "
            "use them. Impute them first, or use method='random_over'."
        )
    return X


def oversample(
    X: Any,
    y: Any,
    *,
    method: str = "smote",
    select: Any = None,
    n: int | dict[Any, int] | None = None,
    sampling_strategy: Any = "auto",
    k_neighbors: int = 5,
    categorical: Any = None,
    random_state: int = 0,
    eval_sets: Any = None,
    leak_tolerance: float | None = None,
    on_leak: str = "refuse",
    origin: str = "old",
    target: Any = UNSET,
    **options: Any,
) -> tuple[Any, np.ndarray, pd.DataFrame]:
    """Over- (or under-) sample a table with recorded parents for every new row.

    Parameters
    ----------
    X : DataFrame or 2-d array. y : labels.
    method : a name of :data:`OVERSAMPLERS`: ``smote``, ``smotenc`` (needs ``categorical``),
        ``borderline``, ``adasyn``, ``random_over``, ``random_under``.
    select : None (class-level resampling by ``sampling_strategy``, or ``n={class: new rows}``), or
        the rows to fill: a ``Slice`` (re-applied to ``X`` by its rule / class definition, else its
        indices), a boolean mask, row positions, or ``{"classes": [...]}``. The rows "selected and of
        class c" are resampled as their own minority: SMOTE interpolates only between them.
    n : new rows per class of the selection (int or {class: count}; default: as many as it holds).
        For ``random_under``: selected rows of each class to keep.
    k_neighbors : neighbours for the SMOTE family (ADASYN's ``n_neighbors``).
    categorical : SMOTE-NC's categorical columns (names or positions, or ``"auto"`` for pandas categoricals).
    eval_sets : mapping name -> evaluation rows (DataFrame, array or (X, y)); synthetic rows that
        duplicate one (exactly, or within ``leak_tolerance`` standard deviations, default 0.01) are
        dropped and listed in ``prov.attrs["refused"]`` (a list of dicts: position, row_id, eval_set,
        eval_position, match; ``on_leak="raise"`` raises instead).
    origin : lineage origin and row-id prefix of the input rows (``"old"`` or ``"new"``).
    target : deprecated old name of ``select`` (FutureWarning; removed in the next release).
    options : further parameters of the sampler class (``m_neighbors``, ``kind``, ``shrinkage``, ...).

    Returns
    -------
    (X2, y2, prov): the input rows (all of them; the kept ones for ``random_under``) then the new
    rows; ``prov`` the lineage row-aligned with ``X2``: original rows ``origin``/``"original"``,
    synthetic rows ``"synthetic"``/``method`` with ``parent_ids`` the input positions and
    ``params["lambda"]`` the interpolation factor.
    """
    from ._leakage import check_on_leak, check_tolerance

    select = renamed("oversample", "target", "select", target, select)
    cls = OVERSAMPLERS.get(method)
    on_leak = check_on_leak(on_leak, "oversample")
    tol = check_tolerance(leak_tolerance, "table", "oversample")
    random_state = resolve_seed(random_state, "oversample")
    count = _check_oversample_args(k_neighbors, categorical, method, n)
    y_arr = _check_labels(X, y)
    X = _check_table(X, method, categorical)
    select, count = _whole_classes(select, count, y_arr)
    strategy = _class_strategy(select, count, sampling_strategy, y_arr, method)
    kwargs: dict[str, Any] = {"sampling_strategy": strategy, "random_state": int(random_state), "origin": origin}
    if select is not None:
        kwargs.update(select=select, n=count)
    if method == "adasyn":
        kwargs["n_neighbors"] = int(k_neighbors)
    elif OVERSAMPLERS.meta(method)["interpolates"]:
        kwargs["k_neighbors"] = int(k_neighbors)
    if method == "smotenc":
        kwargs["categorical_features"] = categorical
    _check_sampler_options(cls, options, method)
    kwargs.update(options)
    try:
        sampler = cls(**kwargs)
    except TypeError as exc:
        raise ParameterError(f"oversample(method={method!r}) got an unknown option: {exc}.") from None
    X2, y2 = _fit_resample(sampler, X, y_arr, method)
    X2, y2, prov = _drop_leaks(sampler, X2, np.asarray(y2), sampler.provenance_, eval_sets, tol, on_leak)
    logger.info("oversample(%s) made %d rows from %d", method, int(sampler.synthetic_.sum()), len(y_arr))
    return X2, y2, prov


def _check_oversample_args(k_neighbors: Any, categorical: Any, method: str, n: Any) -> Any:
    if not isinstance(k_neighbors, numbers.Integral) or isinstance(k_neighbors, bool) or k_neighbors < 1:
        raise ParameterError(f"The 'k_neighbors' parameter of oversample must be an int >= 1. Got {k_neighbors!r} instead.")
    if (categorical is not None) != (method == "smotenc"):
        raise ParameterError(
            "The 'categorical' parameter of oversample names SMOTE-NC's categorical columns: pass it with "
            f"method='smotenc' (and only then). Got method={method!r} and categorical={categorical!r}."
        )
    return check_count(n, "n", "oversample")


def _check_sampler_options(cls: Any, options: dict[str, Any], method: str) -> None:
    """Extra options must be the sampler's own parameters (or oversample's: a did-you-mean for both)."""
    import inspect

    from curakit.plugins import did_you_mean

    own = [p for p in inspect.signature(oversample).parameters if p not in ("X", "y", "options")]
    known = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]
    for key in options:
        if key not in known:
            raise ParameterError(
                f"oversample(method={method!r}) has no option {key!r}.{did_you_mean(key, own + known)} "
                f"Its options are: {', '.join(own)}"
                + (f"; and the sampler's: {', '.join(extra)}." if (extra := [k for k in known if k not in own]) else ".")
            )


def _fit_resample(sampler: Any, X: Any, y: np.ndarray, method: str) -> tuple[Any, Any]:
    """``sampler.fit_resample`` with scikit-learn's parameter validation as one curakit error."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        return sampler.fit_resample(X, y)
    except InvalidParameterError as exc:
        first = str(exc).split(". Got", 1)[0][:400]
        raise ParameterError(f"oversample(method={method!r}): {first}. Check that option.") from None


def _check_labels(X: Any, y: Any) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        check_columns(X, "X", "oversample")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise DataError(f"y must be 1-d (one label per row). Got shape {y_arr.shape} instead.")
    check_labels(y_arr, "y", "oversample", min_classes=2)
    if len(y_arr) != len(X):
        raise DataError(f"X and y differ in length ({len(X)} vs {len(y_arr)}). Pass one label per row.")
    return y_arr


def _whole_classes(select: Any, count: Any, y_arr: np.ndarray) -> tuple[Any, Any]:
    """``select={"classes": [...]}``: class-level resampling with n rows per named class (default: its size)."""
    if not (isinstance(select, Mapping) and set(select) == {"classes"}):
        return select, count
    classes = select["classes"]
    classes = [classes] if np.isscalar(classes) else list(classes)
    if isinstance(count, dict):
        extra = [c for c in count if c not in classes]
        if extra:
            raise ParameterError(f"n names class {plain_value(extra[0])!r}, which select={{'classes': ...}} does not list.")
    count = {
        c: (count.get(c, int((y_arr == c).sum())) if isinstance(count, dict) else int((y_arr == c).sum()) if count is None else count)
        for c in classes
    }
    return None, count


def _class_strategy(select: Any, count: Any, sampling_strategy: Any, y_arr: np.ndarray, method: str) -> Any:
    """The sampling strategy of class-level resampling (``select=None``) with ``n={class: count}``."""
    if select is not None:
        return sampling_strategy
    if isinstance(count, int):
        raise ParameterError(
            "The 'n' parameter of oversample is per class of the selection; without select= pass n as "
            "{class: count}, or use sampling_strategy."
        )
    if not isinstance(count, dict):
        return sampling_strategy
    under = OVERSAMPLERS.meta(method)["kind"] == "under"
    have = {lab: int((y_arr == lab).sum()) for lab in count}
    missing = [lab for lab, h in have.items() if h == 0]
    if missing:
        raise DataError(f"n asks for class {missing[0]!r}, which y does not hold. Remove it from n.")
    return dict(count) if under else {lab: have[lab] + c for lab, c in count.items()}


def _drop_leaks(sampler, X2, y2, prov, eval_sets, tol, on_leak) -> tuple[Any, np.ndarray, pd.DataFrame]:
    """Drop synthetic rows that duplicate an evaluation row; list them in ``prov.attrs["refused"]``."""
    from ._leakage import find_leaks, refuse

    refused = pd.DataFrame()
    evals_given = eval_sets is not None and len(eval_sets) > 0
    if evals_given and sampler.synthetic_.any():
        syn = np.flatnonzero(sampler.synthetic_)
        cand = X2.iloc[syn] if isinstance(X2, pd.DataFrame) else np.asarray(X2)[syn]
        refused = find_leaks(cand, eval_sets, tolerance=tol, row_ids=prov["row_id"].iloc[syn].tolist())
        refuse(refused, on_leak, "rows")
        if not refused.empty:
            drop = syn[refused["position"].to_numpy()]
            refused = refused.assign(position=drop)
            keep = np.ones(len(y2), dtype=bool)
            keep[drop] = False
            X2 = X2.iloc[keep].reset_index(drop=True) if isinstance(X2, pd.DataFrame) else np.asarray(X2)[keep]
            y2 = y2[keep]
            prov = prov.iloc[keep].reset_index(drop=True)
    # JSON-able, so the manifest still writes to Parquet: one {position, row_id, eval_set, eval_position, match}
    prov.attrs["refused"] = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()} for rec in refused.to_dict("records")
    ]
    return X2, y2, prov
