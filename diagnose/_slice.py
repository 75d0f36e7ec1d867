"""The ``Slice`` record: a group of rows where the model is weak or the data is thin.

A slice is plain, frozen data. Besides its statistics it carries a JSON-able
``definition`` saying how to re-apply it to rows it has never seen (``Slice.contains``):

==============  ===========================================================  ==========
kind            definition keys                                               needs
==============  ===========================================================  ==========
``rule``        ``conditions``: list of ``{"feature", "op", "value"}``        features
``centroid``    ``centroids`` (k, d), ``member`` (list of centroid rows),     embeddings
                ``radius`` (max distance to the nearest member centroid)
``class``       ``label``                                                     labels
``pair``        ``true``, ``pred``                                            labels, predictions
``indices``     (none: only the analysed rows; cannot be re-applied)
==============  ===========================================================  ==========

``op`` in a rule is one of ``<=``, ``>``, ``<``, ``>=``, ``==``, ``!=``, ``in``, ``not in``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from curakit.plugins import PluginRegistry
from curakit.records import check_keys, check_schema_version, index_array, json_ready, parse_json

__all__ = ["MEMBERSHIP", "SCHEMA_VERSION", "Slice", "slice_id"]

SCHEMA_VERSION = 1

#: How each ``definition["kind"]`` re-applies a slice: fn(definition, **inputs) -> bool mask.
MEMBERSHIP: PluginRegistry[Callable[..., np.ndarray]] = PluginRegistry("slice definition kind")


def slice_id(method: str, definition: Mapping[str, Any]) -> str:
    """A stable id: the method plus a short hash of the canonical JSON definition."""
    canon = json.dumps(json_ready(definition), sort_keys=True, separators=(",", ":"))
    return f"{method}-{hashlib.sha1(canon.encode()).hexdigest()[:8]}"


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Slice:
    """A group of analysed rows, how it was found, how bad it is, and how to find it again.

    Attributes
    ----------
    id : stable id (``method-hash``), the same for the same definition on every run.
    method : the diagnoser that found it (``"confusion"``, ``"clusters"``, ``"rules"``, ...).
    description : readable text, e.g. ``"AGEP > 64 and SCHL <= 15"``.
    indices : positions of member rows in the analysed set (sorted, int64, read-only).
    n_analysed : number of analysed rows (to turn ``size`` into ``share``).
    error_rate, baseline_error_rate : the error inside the slice and over all analysed rows.
    error_ci : a confidence interval of ``error_rate`` (Wilson, 95%) or None.
    train_share : share of *training* rows in this slice (None when unknown); compared with
        ``share`` it tells under-representation.
    p_value, q_value : test of "error higher than elsewhere"; q after Benjamini-Hochberg.
    severity : the ranking score (higher is worse); diagnosers document theirs.
    definition : JSON-able recipe for :meth:`contains` (see module docstring).
    evidence : JSON-able extra statistics (lift, confused pair, support, ...).
    """

    id: str
    method: str
    description: str
    indices: np.ndarray
    n_analysed: int
    error_rate: float
    baseline_error_rate: float
    error_ci: tuple[float, float] | None = None
    train_share: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    severity: float = 0.0
    definition: dict[str, Any] = field(default_factory=lambda: {"kind": "indices"})
    evidence: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise DataError(
                f"Slice {self.id!r}: indices must be a 1-d array of ints. "
                f"Got shape {idx.shape} and dtype {idx.dtype} instead."
            )
        idx = np.unique(idx.astype(np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= self.n_analysed):
            raise DataError(
                f"Slice {self.id!r}: indices must lie in [0, n_analysed={self.n_analysed}). "
                f"Got range [{idx[0]}, {idx[-1]}] instead."
            )
        idx.setflags(write=False)
        object.__setattr__(self, "indices", idx)
        for name in ("error_rate", "baseline_error_rate"):
            v = float(getattr(self, name))
            if not (0.0 <= v <= 1.0) and not math.isnan(v):
                raise ParameterError(f"Slice {self.id!r}: {name} must lie in [0, 1]. Got {v} instead.")
            object.__setattr__(self, name, v)
        if self.train_share is not None:
            object.__setattr__(self, "train_share", float(self.train_share))
        if self.error_ci is not None:
            lo, hi = self.error_ci
            object.__setattr__(self, "error_ci", (float(lo), float(hi)))
        if not isinstance(self.definition, Mapping) or "kind" not in self.definition:
            raise ParameterError(
                f"Slice {self.id!r}: definition must be a mapping with a 'kind' key. "
                f"Got {type(self.definition).__name__} instead."
            )
        object.__setattr__(self, "definition", json_ready(dict(self.definition)))
        object.__setattr__(self, "evidence", json_ready(dict(self.evidence)))
        object.__setattr__(self, "p_value", _opt_float(self.p_value))
        object.__setattr__(self, "q_value", _opt_float(self.q_value))
        object.__setattr__(self, "severity", float(self.severity))

    # -- derived statistics -------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of member rows in the analysed set."""
        return int(self.indices.size)

    @property
    def share(self) -> float:
        """Share of the analysed rows that fall in this slice."""
        return self.size / self.n_analysed if self.n_analysed else 0.0

    @property
    def lift(self) -> float:
        """``error_rate / baseline_error_rate`` (inf when the baseline is 0 and the slice is not)."""
        if self.baseline_error_rate == 0:
            return math.inf if self.error_rate > 0 else 1.0
        return self.error_rate / self.baseline_error_rate

    @property
    def representation(self) -> float | None:
        """``train_share / share``: below 1 the slice is under-represented in training."""
        if self.train_share is None or self.share == 0:
            return None
        return self.train_share / self.share

    @property
    def reason(self) -> str:
        """Why this slice is listed, in words (from ``evidence["reasons"]``)."""
        words = [_REASON_WORDS.get(r, str(r).replace("_", " ")) for r in self.evidence.get("reasons", [])]
        if not words:
            return "error-dense" if self.error_rate > self.baseline_error_rate else "listed by " + self.method
        return ", ".join(dict.fromkeys(words))

    def mask(self, n: int | None = None) -> np.ndarray:
        """Boolean membership of the analysed rows."""
        out = np.zeros(self.n_analysed if n is None else n, dtype=bool)
        out[self.indices] = True
        return out

    # -- re-application -----------------------------------------------------------------
    def contains(
        self,
        features: Any = None,
        embeddings: Any = None,
        *,
        labels: Any = None,
        predictions: Any = None,
    ) -> np.ndarray:
        """Membership (bool array) of other rows, from the inputs this slice's kind needs."""
        kind = self.definition["kind"]
        fn = MEMBERSHIP.get(kind)
        return fn(
            self.definition,
            slice_id=self.id,
            features=features,
            embeddings=embeddings,
            labels=labels,
            predictions=predictions,
        )

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "method": self.method,
            "description": self.description,
            "indices": self.indices.tolist(),
            "n_analysed": int(self.n_analysed),
            "error_rate": self.error_rate,
            "baseline_error_rate": self.baseline_error_rate,
            "error_ci": None if self.error_ci is None else list(self.error_ci),
            "train_share": self.train_share,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "severity": self.severity,
            "definition": self.definition,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Slice:
        """A slice from :meth:`to_dict`'s record; a missing or unknown key, or a value of the wrong
        type, is one :class:`DataError` naming the key."""
        fix = "Re-run the diagnosis with this version of curakit."
        check_schema_version(data, "Slice", SCHEMA_VERSION, fix=fix)
        check_keys(data, "Slice", _REQUIRED_KEYS, _OPTIONAL_KEYS, fix=fix)
        d = dict(data)
        d.pop("schema_version", None)
        d["indices"] = index_array(d.get("indices", []), "Slice")
        _check_record_types(d)
        for key in ("error_rate", "baseline_error_rate", "severity"):
            if key in d and d[key] is None:  # NaN is written as null
                d[key] = math.nan
        if d.get("error_ci") is not None:
            d["error_ci"] = tuple(d["error_ci"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Slice:
        return cls.from_dict(parse_json(text, "Slice"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Slice):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.id, self.n_analysed, self.indices.tobytes()))

    def __repr__(self) -> str:
        return (
            f"Slice(id={self.id!r}, method={self.method!r}, size={self.size}, "
            f"error_rate={self.error_rate:.3f}, baseline={self.baseline_error_rate:.3f}, "
            f"description={self.description!r})"
        )


_REQUIRED_KEYS = ("id", "method", "description", "n_analysed", "error_rate", "baseline_error_rate")
_OPTIONAL_KEYS = ("indices", "error_ci", "train_share", "p_value", "q_value", "severity", "definition", "evidence")


def _check_record_types(d: Mapping[str, Any]) -> None:
    """The value types of a slice record (one DataError naming the key)."""
    def bad(key: str, want: str) -> DataError:
        return DataError(f"Slice key {key!r} must be {want}. Got a {type(d[key]).__name__} instead. "
                         "Re-run the diagnosis with this version of curakit.")

    for key in ("id", "method", "description"):
        if not isinstance(d[key], str):
            raise bad(key, "a string")
    if isinstance(d["n_analysed"], bool) or not isinstance(d["n_analysed"], int) or d["n_analysed"] < 0:
        raise bad("n_analysed", "a non-negative integer")
    for key in ("error_rate", "baseline_error_rate", "train_share", "p_value", "q_value", "severity"):
        v = d.get(key)
        if key in d and not (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))):
            raise bad(key, "a number (or null)")
    ci = d.get("error_ci")
    if ci is not None and (not isinstance(ci, (list, tuple)) or len(ci) != 2
                           or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ci)):
        raise bad("error_ci", "a pair of numbers (or null)")
    for key in ("definition", "evidence"):
        if key in d and not isinstance(d[key], Mapping):
            raise bad(key, "a JSON object")


_REASON_WORDS = {
    "under_represented": "under-represented in training",
    "vanished": "common in training, rare now (information)",
    "high_error": "error-dense",
    "significantly_worse": "error-dense",
    "low_recall": "low recall",
    "isolated": "isolated",
    "most_confused_pair": "confused pair",
}


# -- membership functions -------------------------------------------------------------------
def _need(value: Any, what: str, slice_id: str, kind: str) -> Any:
    if value is None:
        raise ParameterError(
            f"Slice {slice_id!r} is a {kind!r} slice: contains() needs {what}=. Pass {what}= for the rows to test."
        )
    return value


@MEMBERSHIP.register("indices")
def _indices_membership(definition, *, slice_id, **_):
    raise ParameterError(
        f"Slice {slice_id!r} is defined only by row positions in the analysed set and cannot be "
        "re-applied to other rows. Use slice.mask() for the analysed rows, or a method that yields "
        "rules or centroids."
    )


_OPS: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "<=": lambda col, v: col <= v,
    "<": lambda col, v: col < v,
    ">": lambda col, v: col > v,
    ">=": lambda col, v: col >= v,
    "==": lambda col, v: col == v,
    "!=": lambda col, v: col != v,
    "in": lambda col, v: np.isin(col, list(v)),
    "not in": lambda col, v: ~np.isin(col, list(v)),
}


@MEMBERSHIP.register("rule")
def _rule_membership(definition, *, slice_id, features, **_):
    features = _need(features, "features", slice_id, "rule")
    if not hasattr(features, "columns"):
        raise DataError(
            f"Slice {slice_id!r}: features must be a pandas DataFrame with named columns. "
            f"Got {type(features).__name__} instead."
        )
    from curakit.validation import check_columns

    check_columns(features, f"Slice {slice_id!r}: features")
    mask = np.ones(len(features), dtype=bool)
    for cond in definition["conditions"]:
        col = cond["feature"]
        if col not in features.columns:
            raise DataError(
                f"Slice {slice_id!r} uses column {col!r}, which the given features lack. "
                "Pass a DataFrame with the columns the slice was found on."
            )
        op = cond["op"]
        if op not in _OPS:
            raise ParameterError(f"Slice {slice_id!r}: unknown rule operator {op!r}. Use one of {sorted(_OPS)}.")
        values = features[col].to_numpy()
        try:
            with np.errstate(invalid="ignore"):
                mask &= np.asarray(_OPS[op](values, cond["value"]), dtype=bool)
        except TypeError:  # text where the rule compares numbers (or the reverse)
            raise DataError(
                f"Slice {slice_id!r} compares column {col!r} with {op!r}, but the given column has dtype "
                f"{features[col].dtype}. Pass the column with the type the slice was found on."
            ) from None
    return mask


@MEMBERSHIP.register("centroid")
def _centroid_membership(definition, *, slice_id, embeddings, **_):
    emb = np.asarray(_need(embeddings, "embeddings", slice_id, "centroid"), dtype=np.float64)
    centroids = np.asarray(definition["centroids"], dtype=np.float64)
    if emb.ndim != 2 or emb.shape[1] != centroids.shape[1]:
        raise DataError(
            f"Slice {slice_id!r} was found in a {centroids.shape[1]}-d embedding space; "
            f"got embeddings of shape {emb.shape}. Embed the rows with the same model and layer."
        )
    if not np.isfinite(emb).all():
        raise DataError(f"Slice {slice_id!r}: embeddings contain NaN or inf. Remove or impute those rows first.")
    # squared distances to every centroid, in chunks to bound memory
    member = np.asarray(definition["member"], dtype=np.int64)
    radius = float(definition["radius"])
    out = np.empty(len(emb), dtype=bool)
    c2 = (centroids**2).sum(1)
    for start in range(0, len(emb), 8192):
        block = emb[start : start + 8192]
        d2 = (block**2).sum(1)[:, None] - 2 * block @ centroids.T + c2[None, :]
        nearest = d2.argmin(1)
        dist = np.sqrt(np.maximum(d2[np.arange(len(block)), nearest], 0.0))
        out[start : start + 8192] = np.isin(nearest, member) & (dist <= radius)
    return out


@MEMBERSHIP.register("class")
def _class_membership(definition, *, slice_id, labels, **_):
    labels = np.asarray(_need(labels, "labels", slice_id, "class"))
    return labels == np.asarray(definition["label"], dtype=labels.dtype)


@MEMBERSHIP.register("pair")
def _pair_membership(definition, *, slice_id, labels, predictions, **_):
    labels = np.asarray(_need(labels, "labels", slice_id, "pair"))
    predictions = np.asarray(_need(predictions, "predictions", slice_id, "pair"))
    if labels.shape != predictions.shape:
        raise DataError(
            f"Slice {slice_id!r}: labels and predictions differ in length "
            f"({labels.shape[0]} vs {predictions.shape[0]}). Pass one prediction per label."
        )
    return (labels == np.asarray(definition["true"], dtype=labels.dtype)) & (
        predictions == np.asarray(definition["pred"], dtype=predictions.dtype)
    )
