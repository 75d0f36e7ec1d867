"""``find_slices``: run every applicable diagnoser, rank and merge their slices, and return a
:class:`Diagnosis` (slices, per-row error flags, UMAP coordinates, JSON, HTML report).

Ranking and merging
-------------------
Diagnosers score slices on their own scales (the rules diagnoser uses SliceLine's score), so
``find_slices`` puts every slice on one scale before ranking (:func:`common_severity`):
``severity`` = (errors in the slice - expected errors) / analysed rows, floored at 0, plus the
diagnoser's documented ``evidence["severity_extra"]`` (clusters: under-representation), plus the
representation gap ``evidence["gap"]`` (coverage and class slices: the analysed share's Wilson lower
bound minus the training share's Wilson upper bound, floored at 0), so a small slice strongly
under-represented in training outranks a huge, mildly worse one. The
expected count is ``size * baseline`` unless the diagnoser records ``evidence["expected_errors"]``
(pair slices, whose rows are all errors by construction). A diagnoser's own score, when it
differs, is kept in ``evidence["method_severity"]``.
Slices are sorted by that severity (most severe first; ties by method, then id).
Going down that list, a slice whose members overlap an already kept slice with Jaccard at least
``merge_jaccard`` (default 0.8) is merged into it, and the group keeps its most readable member
(fewest predicates, then most rows; :func:`readability`) among those whose severity is within
``READABLE_TOLERANCE`` (10 %) of the group's most severe; the other ids are recorded in the kept
slice's ``evidence["merged"]``.

Rule slices (methods ``rules`` and ``coverage``) covering more than ``max_share`` of the analysed
rows (default 0.5) are dropped: a "slice" of most rows is not a slice.
Every slice's ``reason`` (:attr:`Slice.reason`) says in words why it is listed.

Training labels
---------------
``train_labels=`` (the training rows' classes) gives class slices their ``train_share`` (and, when
the class is under-represented in training, its gap in the description) and pair slices
``evidence["train_class_share"]`` (the true class's training share). A class that is
under-represented in training (disjoint share intervals, at least twice as common now) is listed
as a ``coverage`` class slice even when its recall is fine (class-prior shift).

Coverage
--------
The ``coverage`` diagnoser (:mod:`diagnose._coverage`) runs by default whenever
``train_features`` or ``train_embeddings`` are given.

Options
-------
Per-method options go in a mapping named after the method, e.g.
``find_slices(..., clusters={"min_cluster_size": 20}, confusion={"min_recall": 0.6})``.

Tabular data
------------
When ``features`` is given but ``embeddings`` is not, the clusters method runs on an embedding
of the features (:class:`diagnose.FeatureEmbedder`: numeric columns standardised, categorical
columns one-hot). ``train_features`` are mapped with the same fitted embedder. With more than
``TABULAR_CLUSTERS_MAX_ROWS`` (5,000) analysed rows and no embeddings, clusters runs only when
named in ``methods``: UMAP dominates the run time there (over 80 s on 20,000 x 16 rows on one
core, against about 6 s for coverage + rules + confusion) while rules and coverage describe
tabular regions readably; the skip is recorded in ``info["skipped"]``. Re-apply such a
cluster slice with ``s.contains(embeddings=d.embed_features(new_rows))``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.io import atomic_write_text
from curakit.plugins import did_you_mean
from curakit.records import check_keys, check_schema_version, json_ready, load_json, parse_json
from curakit.seeds import resolve_seed
from curakit.validation import check_columns, check_options, check_proba

from ._confusion import ConfusionReport, _check_pair, confusion
from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._embed import FeatureEmbedder
from ._slice import Slice

__all__ = ["Diagnosis", "common_severity", "find_slices", "merge_slices", "readability"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TABULAR_CLUSTERS_MAX_ROWS = 5000
"""Above this many analysed rows, features-only runs leave 'clusters' out unless it is named."""


# -- the result ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Diagnosis:
    """The outcome of :func:`find_slices`.

    Attributes
    ----------
    slices : the slices, most severe first (merged across methods).
    methods : the methods that ran.
    y_true, y_pred : the analysed labels and predictions.
    labels : the classes, in confusion-matrix order.
    coords : 2-D UMAP coordinates of the analysed rows (None when clusters did not run).
    cluster_labels : HDBSCAN cluster of each analysed row (-1 noise; None without clusters).
    cluster_table : one row per cluster with its statistics (None without clusters).
    feature_embedder : fitted :class:`FeatureEmbedder` state when embeddings were derived from
        features (see :meth:`embed_features`), else None.
    random_state : the seed used.
    info : run details (options, timings, skipped methods, merge record, test scheme).
    """

    slices: tuple[Slice, ...]
    methods: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    labels: tuple[Any, ...]
    coords: np.ndarray | None = None
    cluster_labels: np.ndarray | None = None
    cluster_table: pd.DataFrame | None = None
    feature_embedder: dict[str, Any] | None = None
    random_state: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # -- derived ------------------------------------------------------------------------
    @property
    def n_analysed(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def errors(self) -> np.ndarray:
        """Per-row error flags (``y_true != y_pred``)."""
        return np.asarray(self.y_true != self.y_pred, dtype=bool)

    @property
    def errors_(self) -> np.ndarray:
        """Alias of :attr:`errors` (for plotting code that expects fitted-style names)."""
        return self.errors

    @property
    def coords_(self) -> np.ndarray | None:
        """Alias of :attr:`coords`: the 2-D UMAP coordinates of the analysed rows."""
        return self.coords

    @property
    def baseline_error_rate(self) -> float:
        return float(self.errors.mean()) if self.n_analysed else 0.0

    @property
    def confusion(self) -> ConfusionReport:
        return confusion(self.y_true, self.y_pred, labels=list(self.labels))

    def __len__(self) -> int:
        return len(self.slices)

    def __iter__(self):
        return iter(self.slices)

    def __getitem__(self, key: int | str) -> Slice:
        if isinstance(key, str):
            for s in self.slices:
                if s.id == key:
                    return s
            raise KeyError(f"No slice with id {key!r}.{did_you_mean(key, [s.id for s in self.slices])}")
        return self.slices[key]

    def embed_features(self, features: pd.DataFrame) -> np.ndarray:
        """Embed new tabular rows exactly as the analysed features were (for ``contains``)."""
        if self.feature_embedder is None:
            raise ParameterError(
                "This diagnosis was run on embeddings the caller passed, not on features, so it has no "
                "feature embedding. Embed new rows the way you embedded the analysed ones."
            )
        return FeatureEmbedder.from_dict(self.feature_embedder).transform(features)

    # -- tables -------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per slice, most severe first."""
        rows = []
        for rank, s in enumerate(self.slices, start=1):
            lo, hi = s.error_ci if s.error_ci is not None else (math.nan, math.nan)
            rows.append(
                {
                    "rank": rank,
                    "id": s.id,
                    "method": s.method,
                    "description": s.description,
                    "size": s.size,
                    "share": s.share,
                    "error_rate": s.error_rate,
                    "error_ci_low": lo,
                    "error_ci_high": hi,
                    "baseline_error_rate": s.baseline_error_rate,
                    "lift": s.lift,
                    "train_share": s.train_share,
                    "representation": s.representation,
                    "p_value": s.p_value,
                    "q_value": s.q_value,
                    "severity": s.severity,
                    "reasons": ", ".join(s.evidence.get("reasons", [])),
                }
            )
        cols = [
            "rank", "id", "method", "description", "size", "share", "error_rate", "error_ci_low",
            "error_ci_high", "baseline_error_rate", "lift", "train_share", "representation",
            "p_value", "q_value", "severity", "reasons",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=cols)

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "slices": [s.to_dict() for s in self.slices],
            "methods": list(self.methods),
            "y_true": json_ready(self.y_true.tolist()),
            "y_pred": json_ready(self.y_pred.tolist()),
            "labels": json_ready(list(self.labels)),
            "coords": None if self.coords is None else self.coords.tolist(),
            "cluster_labels": None if self.cluster_labels is None else self.cluster_labels.tolist(),
            "cluster_table": None
            if self.cluster_table is None
            else json_ready(self.cluster_table.astype(object).where(self.cluster_table.notna(), None).to_dict("records")),
            "feature_embedder": self.feature_embedder,
            "random_state": self.random_state,
            "info": json_ready(self.info),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnosis:
        check_schema_version(data, "Diagnosis", SCHEMA_VERSION, fix="Re-run find_slices with this version of curakit.")
        check_keys(data, "Diagnosis", ("slices", "methods", "y_true", "y_pred", "labels"),
                   ("coords", "cluster_labels", "cluster_table", "feature_embedder", "random_state", "info"),
                   fix="Re-run find_slices with this version of curakit.")
        table = data.get("cluster_table")
        return cls(
            slices=tuple(Slice.from_dict(s) for s in data["slices"]),
            methods=tuple(data["methods"]),
            y_true=np.asarray(data["y_true"]),
            y_pred=np.asarray(data["y_pred"]),
            labels=tuple(data["labels"]),
            coords=None if data.get("coords") is None else np.asarray(data["coords"], dtype=np.float64),
            cluster_labels=None
            if data.get("cluster_labels") is None
            else np.asarray(data["cluster_labels"], dtype=np.int64),
            cluster_table=None if table is None else pd.DataFrame(table),
            feature_embedder=data.get("feature_embedder"),
            random_state=int(data.get("random_state", 0)),
            info=dict(data.get("info", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Diagnosis:
        return cls.from_dict(parse_json(text, "Diagnosis"))

    def save(self, path: str | Path) -> Path:
        """Write the diagnosis as JSON (atomically: a crash leaves any earlier file intact)."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Diagnosis:
        return cls.from_dict(load_json(path, "Diagnosis"))

    # -- reports ------------------------------------------------------------------------
    def to_html(self, path: str | Path | None = None, *, title: str = "curakit diagnosis", top: int = 8,
                **pictures: Any) -> str:
        """A self-contained HTML report (inline plots); written atomically to ``path`` if given.

        pictures : ``images=``, ``train_images=``, ``features=``, ``train_features=``, ``gradcam=``,
            ``class_names=`` (see :func:`diagnose._report.diagnosis_html`; unknown names are refused).
        """
        from ._report import diagnosis_html

        text = diagnosis_html(self, title=title, top=top, **pictures)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def report_data(self, *, top: int = 8, **pictures: Any) -> dict[str, Any]:
        """What :meth:`to_html` shows, as JSON-able data (:func:`diagnose._report.diagnosis_report_data`)."""
        from ._report import diagnosis_report_data

        return diagnosis_report_data(self, top=top, **pictures)

    def plot_embedding(self, color: str | Sequence[Any] | np.ndarray = "slice", *, top: int = 8, ax: Any = None):
        """Scatter of the 2-D UMAP coordinates; returns the matplotlib Figure.

        color : ``"slice"`` (the ``top`` most severe slices, the rest grey), ``"error"``
            (wrong rows in red), ``"label"`` (true class), or one value per analysed row.
        """
        from ._report import error_scatter_figure, slice_labels, umap_scatter_figure

        if self.coords is None:
            raise ParameterError(
                "This diagnosis has no embedding coordinates: the 'clusters' method did not run. "
                "Pass embeddings= (or features=) to find_slices and include 'clusters' in methods."
            )
        if isinstance(color, str):
            if color == "slice":
                return umap_scatter_figure(self.coords, slice_labels(list(self.slices), self.n_analysed, top=top),
                                           background="other", title="UMAP coloured by slice", ax=ax)
            if color == "error":
                return error_scatter_figure(self.coords, self.errors, ax=ax)
            if color == "label":
                return umap_scatter_figure(self.coords, self.y_true, title="UMAP coloured by true class", ax=ax)
            raise ParameterError(
                "The 'color' parameter of Diagnosis.plot_embedding must be 'slice', 'error', 'label' or one value "
                f"per analysed row. Got {color!r} instead."
            )
        values = np.asarray(color)
        if values.shape != (self.n_analysed,):
            raise ParameterError(
                f"Diagnosis.plot_embedding got {values.shape[0] if values.ndim else 0} colour values for "
                f"{self.n_analysed} analysed rows. Pass one value per row."
            )
        return umap_scatter_figure(self.coords, values, title="UMAP", ax=ax)

    def _repr_html_(self) -> str:
        from ._report import diagnosis_summary_html

        return diagnosis_summary_html(self)

    def __repr__(self) -> str:
        return (
            f"Diagnosis(n_analysed={self.n_analysed}, baseline_error_rate={self.baseline_error_rate:.3f}, "
            f"methods={list(self.methods)}, slices={len(self.slices)})"
        )


# -- merging -------------------------------------------------------------------------------
def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def common_severity(s: Slice) -> float:
    """The cross-method severity (module docstring): excess errors / analysed rows, plus the
    diagnoser's documented ``evidence["severity_extra"]``.

    The expected error count is ``evidence["expected_errors"]`` when the diagnoser gives it
    (pair slices: their share of the class's errors), else ``size * baseline_error_rate``.
    """
    if s.n_analysed == 0:
        return 0.0
    errors_in = s.error_rate * s.size
    expected = s.evidence.get("expected_errors")
    expected = s.size * s.baseline_error_rate if expected is None else float(expected)
    extra = float(s.evidence.get("severity_extra") or 0.0)
    gap = float(s.evidence.get("gap") or 0.0)
    return float(max(0.0, errors_in - expected) / s.n_analysed + extra + gap)


def _rescore(s: Slice) -> Slice:
    sev = common_severity(s)
    if math.isclose(sev, s.severity, rel_tol=1e-9, abs_tol=1e-12):
        return s
    ev = dict(s.evidence)
    ev["method_severity"] = s.severity
    return dataclasses.replace(s, severity=sev, evidence=ev)


READABLE_TOLERANCE = 0.1
"""Merging keeps the more readable of two near-identical slices when its severity is within this
fraction of the more severe one's."""


def readability(s: Slice) -> tuple[int, int]:
    """Sort key, most readable first: (predicates a reader must check, -rows). A rule has one per
    condition, a class one, a confused pair two; clusters and embedding regions, which no reader can
    check by eye, count as three."""
    kind = s.definition.get("kind")
    if kind == "rule":
        n = len(s.definition.get("conditions", ()))
    else:
        n = {"class": 1, "pair": 2}.get(kind, 3)
    return (n, -s.size)


def merge_slices(slices: Sequence[Slice], *, merge_jaccard: float = 0.8) -> list[Slice]:
    """Rank slices (most severe first) and merge near-identical ones (module docstring): of a group
    whose members overlap with Jaccard >= ``merge_jaccard``, the most readable slice
    (:func:`readability`) among those within ``READABLE_TOLERANCE`` of the group's top severity is kept."""
    ranked = sorted((_rescore(s) for s in slices), key=lambda s: (-s.severity, s.method, s.id))
    kept: list[Slice] = []
    top: list[float] = []
    merged: list[list[str]] = []
    for s in ranked:
        for i, k in enumerate(kept):
            if _jaccard(s.indices, k.indices) >= merge_jaccard:
                if s.severity >= (1 - READABLE_TOLERANCE) * top[i] and readability(s) < readability(k):
                    merged[i].append(k.id)
                    kept[i] = s
                else:
                    merged[i].append(s.id)
                break
        else:
            kept.append(s)
            top.append(s.severity)
            merged.append([])
    out = []
    for s, ids in zip(kept, merged):
        if ids:
            ev = dict(s.evidence)
            ev["merged"] = list(ev.get("merged", [])) + ids
            s = dataclasses.replace(s, evidence=ev)
        out.append(s)
    return sorted(out, key=lambda s: (-s.severity, s.method, s.id))


# -- validation ----------------------------------------------------------------------------
def _check_frame(frame: Any, name: str, n: int | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{name} must be a pandas DataFrame with named columns. Got {type(frame).__name__} instead. "
            "Wrap an array with pd.DataFrame(X, columns=names)."
        )
    check_columns(frame, name, "find_slices")
    if n is not None and len(frame) != n:
        raise DataError(
            f"{name} has {len(frame)} rows but y_true has {n}. Pass one row per analysed prediction."
        )
    return frame


def _check_matrix(values: Any, name: str, n: int | None, d: int | None = None) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric. Got dtype {arr.dtype} instead.")
    if arr.ndim != 2:
        raise DataError(f"{name} must be 2-d (one row per item). Got shape {arr.shape} instead.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {arr.shape}). Pass at least one row and one column.")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name} has {arr.shape[0]} rows but y_true has {n}. Pass one row per analysed prediction.")
    if d is not None and arr.shape[1] != d:
        raise DataError(
            f"{name} has {arr.shape[1]} columns but embeddings have {d}. Embed both with the same model and layer."
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise DataError(
            f"{name} contains {int((~np.isfinite(arr)).sum())} NaN or inf value(s) (shape {arr.shape}). "
            "Remove or impute those rows first."
        )
    return arr


def _requirements_met(name: str, fields: Mapping[str, Any]) -> list[str]:
    return [r for r in DIAGNOSERS.meta(name).get("requires", ()) if fields.get(r) is None]


def _check_find_params(y_true, y_pred, *, proba, features, embeddings, train_features, train_embeddings,
                       merge_jaccard, random_state):
    """Validate find_slices' inputs; return (yt, yp, proba, features, train_features, embeddings,
    train_embeddings, random_state) in working form."""
    yt, yp = _check_pair(y_true, y_pred, "find_slices")
    n = yt.shape[0]
    if np.unique(yt).size < 2:
        raise DataError(
            "y_true holds a single class, so there is nothing to compare slices against. "
            "Pass predictions for rows of at least two classes."
        )
    if isinstance(merge_jaccard, bool) or not isinstance(merge_jaccard, (int, float)) or not 0.0 < merge_jaccard <= 1.0:
        raise ParameterError(
            f"The 'merge_jaccard' parameter of find_slices must be a float in the range (0.0, 1.0]. Got {merge_jaccard!r} instead."
        )
    random_state = resolve_seed(random_state, "find_slices")
    pr = _check_matrix(proba, "proba", n)
    feats = _check_frame(features, "features", n)
    tfeats = _check_frame(train_features, "train_features", None)
    emb = _check_matrix(embeddings, "embeddings", n)
    if emb is not None and float(np.ptp(emb, axis=0).max()) == 0.0:
        raise DataError(
            f"embeddings are constant (all {n} rows equal, shape {emb.shape}), so they cannot be clustered. "
            "Check the model and layer passed to diagnose.embed."
        )
    temb = _check_matrix(train_embeddings, "train_embeddings", None, None if emb is None else emb.shape[1])
    if temb is not None and emb is None:
        raise ParameterError(
            "train_embeddings were given without embeddings. Pass embeddings= for the analysed rows too."
        )
    if tfeats is not None and feats is None:
        raise ParameterError("train_features were given without features. Pass features= for the analysed rows too.")
    if tfeats is not None and feats is not None:
        missing = [c for c in feats.columns if c not in tfeats.columns]
        if missing:
            raise DataError(
                f"train_features lack {len(missing)} column(s) of features (first: {str(missing[0])!r}). "
                "Pass training rows with the same columns."
            )
    return yt, yp, pr, feats, tfeats, emb, temb, random_state


def _wanted_methods(methods, options) -> tuple[list[str], bool]:
    """(the methods asked for, or all known ones; whether they were named explicitly)."""
    known = DIAGNOSERS.names()
    for key in options:
        if key not in known:
            raise ParameterError(
                f"find_slices got an unknown option {key!r}.{did_you_mean(key, known)} Options are per method: "
                f"{', '.join(f'{m}={{...}}' for m in known)}."
            )
        if not isinstance(options[key], Mapping):
            raise ParameterError(
                f"The {key!r} option of find_slices must be a mapping of that method's options. "
                f"Got {type(options[key]).__name__} instead."
            )
        check_options(DIAGNOSERS.get(key), options[key], f"The {key!r} method of find_slices", skip=("inp",))
    explicit = methods is not None
    if isinstance(methods, str):
        methods = [methods]
    wanted = list(methods) if explicit else list(known)
    for m in wanted:
        DIAGNOSERS.get(m)  # unknown -> UnknownNameError with did-you-mean
    if explicit and not wanted:
        raise ParameterError("The 'methods' parameter of find_slices must name at least one method. Got an empty list.")
    return wanted, explicit


def _embed_features(feats, tfeats, n, *, explicit, skipped):
    """Embeddings derived from the features for the clusters method: (emb, temb, embedder dict);
    all None (and the reason in ``skipped``) when that fails and clusters was not asked for by name."""
    try:
        fe = FeatureEmbedder().fit(feats)
        emb = fe.transform(feats)
        temb = fe.transform(tfeats) if tfeats is not None else None
        embedder = fe.to_dict()
        if float(np.ptp(emb, axis=0).max()) == 0.0:
            raise DataError(
                f"features are constant across all {n} rows, so they cannot be clustered. "
                "Pass informative features or embeddings=."
            )
    except DataError as exc:
        if explicit:
            raise
        skipped["clusters"] = str(exc)
        logger.warning("clusters skipped: %s", exc)
        return None, None, None
    return emb, temb, embedder


def _has_training_pair(fields: Mapping[str, Any]) -> bool:
    return (fields.get("features") is not None and fields.get("train_features") is not None) or (
        fields.get("embeddings") is not None and fields.get("train_embeddings") is not None
    )


def _skip_tabular_clusters(wanted: list[str], n: int, *, explicit: bool, skipped: dict[str, str]) -> bool:
    """Leave UMAP clusters out of a features-only default run over TABULAR_CLUSTERS_MAX_ROWS rows."""
    if explicit or n <= TABULAR_CLUSTERS_MAX_ROWS:
        return False
    wanted.remove("clusters")
    skipped["clusters"] = (f"features only and {n} > {TABULAR_CLUSTERS_MAX_ROWS} rows: UMAP on tabular "
                           "features is slow and rarely better than rules; name 'clusters' in methods to run it")
    return True


def _check_train_labels(train_labels: Any, yt: np.ndarray, max_share: Any) -> np.ndarray | None:
    if isinstance(max_share, bool) or not isinstance(max_share, (int, float)) or not 0.0 < max_share <= 1.0:
        raise ParameterError(
            f"The 'max_share' parameter of find_slices must be a float in (0.0, 1.0]. Got {max_share!r} instead."
        )
    if train_labels is None:
        return None
    arr = np.asarray(train_labels)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"train_labels must be a non-empty 1-d array of classes. Got shape {arr.shape} instead.")
    if arr.dtype.kind != yt.dtype.kind and not (arr.dtype.kind in "iub" and yt.dtype.kind in "iub"):
        raise DataError(
            f"train_labels have dtype {arr.dtype} but y_true has {yt.dtype}. Pass training labels of the same kind."
        )
    return arr


def _class_gap(k_a: int, n_a: int, k_t: int, n_t: int) -> dict[str, Any]:
    from ._coverage import _share_stats

    return _share_stats(k_a, n_a, k_t, n_t)


def _add_train_class_shares(slices: list[Slice], train_labels: np.ndarray | None) -> list[Slice]:
    """Class slices get their training share (and representation gap, in words too); pair slices
    the true class's."""
    if train_labels is None:
        return slices
    from ._coverage import _gap_words

    n_t = train_labels.size
    out = []
    for s in slices:
        kind = s.definition.get("kind")
        if kind not in ("class", "pair"):
            out.append(s)
            continue
        label = s.definition["label"] if kind == "class" else s.definition["true"]
        k_t = int((train_labels == np.asarray(label, dtype=train_labels.dtype)).sum())
        ev = dict(s.evidence)
        if kind == "pair":
            ev["train_class_share"] = k_t / n_t
            out.append(dataclasses.replace(s, evidence=ev))
            continue
        st = _class_gap(s.size, s.n_analysed, k_t, n_t)
        ev["train_share_ci"], ev["gap"], ev["ratio"] = st["train_share_ci"], st["gap"], st["ratio"]
        desc = s.description
        if ev["gap"] > 0:
            ev["reasons"] = list(ev.get("reasons", [])) + ["under_represented"]
            desc = f"{desc}; {_gap_words('under_represented', st)}"
        out.append(dataclasses.replace(s, train_share=k_t / n_t, evidence=ev, description=desc))
    return out


def _class_shift_slices(inp: AnalysisInput, train_labels: np.ndarray | None, found: list[Slice],
                        min_ratio: float = 2.0) -> list[Slice]:
    """Class-prior shift: a class under-represented in training (share intervals disjoint and at
    least ``min_ratio`` times more common now) becomes a ``class`` slice even when its recall is fine
    (classes that already have a class slice get their share from :func:`_add_train_class_shares`)."""
    if train_labels is None:
        return []
    from ._coverage import _gap_words
    from ._slice import slice_id
    from ._stats import wilson_interval

    have = {json.dumps(json_ready(s.definition.get("label"))) for s in found if s.definition.get("kind") == "class"}
    out = []
    for lab in inp.labels:
        if json.dumps(json_ready(lab)) in have:
            continue
        idx = np.flatnonzero(inp.y_true == lab)
        k_t = int((train_labels == np.asarray(lab, dtype=train_labels.dtype)).sum())
        st = _class_gap(idx.size, inp.n, k_t, train_labels.size)
        if idx.size == 0 or not (st["share_ci"][0] > st["train_share_ci"][1] and st["share"] >= min_ratio * st["train_share"]):
            continue
        definition = {"kind": "class", "label": lab}
        k_err = int(inp.errors[idx].sum())
        out.append(Slice(
            id=slice_id("coverage", definition), method="coverage",
            description=f"true class {lab!r}: {_gap_words('under_represented', st)}",
            indices=idx, n_analysed=inp.n, error_rate=k_err / idx.size, baseline_error_rate=inp.baseline_error_rate,
            error_ci=wilson_interval(k_err, idx.size), train_share=st["train_share"], severity=st["gap"],
            definition=definition, evidence={**st, "reasons": ["under_represented"], "kind": "class"},
        ))
    return out


def _cap_rule_support(slices: list[Slice], max_share: float, skipped: dict[str, str]) -> list[Slice]:
    kept = [s for s in slices if s.definition.get("kind") != "rule" or s.share <= max_share]
    if len(kept) < len(slices):
        skipped["max_share"] = f"{len(slices) - len(kept)} rule slice(s) over {max_share:.0%} of the rows dropped"
    return kept


def _methods_to_run(wanted, fields, *, explicit, n, skipped) -> list[str]:
    """The wanted methods whose inputs are there (a named method without its inputs is an error)."""
    run: list[str] = []
    for m in wanted:
        missing = _requirements_met(m, fields)
        if missing:
            if explicit:
                hint = " (or features=, which are embedded)" if "embeddings" in missing else ""
                raise ParameterError(
                    f"Method {m!r} needs {', '.join(f'{x}=' for x in missing)}{hint}. Pass it, or leave {m!r} out of methods."
                )
            continue
        if m == "coverage" and not explicit and not _has_training_pair(fields):
            continue
        if m == "clusters" and n < 20 and not explicit:
            skipped[m] = f"needs at least 20 analysed rows, got {n}"
            continue
        run.append(m)
    return run


def _run_diagnosers(run, inp, options) -> tuple[list[Slice], dict[str, float]]:
    found: list[Slice] = []
    timings: dict[str, float] = {}
    for m in run:
        t = time.perf_counter()
        out = DIAGNOSERS.get(m)(inp, **dict(options.get(m, {})))
        timings[m] = time.perf_counter() - t
        logger.info("%s: %d slice(s) in %.2fs", m, len(out), timings[m])
        found.extend(out)
    return found, timings


def _find_slices_report(inp, report, found, slices, run, *, options, timings, t0, skipped, merge_jaccard, embedder,
                        random_state) -> Diagnosis:
    """Assemble the Diagnosis record (slices, run info, cluster artefacts)."""
    art = inp.extra.get("artifacts", {}).get("clusters")
    info = {
        "options": json_ready({k: dict(v) for k, v in options.items()}),
        "timings_s": timings,
        "total_s": time.perf_counter() - t0,
        "skipped": skipped,
        "n_found": len(found),
        "n_merged": len(found) - len(slices),
        "merge_jaccard": float(merge_jaccard),
        "embeddings_from": None if inp.embeddings is None else ("features" if embedder is not None else "embeddings"),
    }
    if art is not None:
        info["clusters"] = {
            "scheme": art["scheme"],
            "mean_contains_agreement": art["mean_contains_agreement"],
            "umap_seed": art["umap_seed"],
            "timings_s": art.get("timings_s", {}),
        }
    return Diagnosis(
        slices=tuple(slices),
        methods=tuple(run),
        y_true=inp.y_true,
        y_pred=inp.y_pred,
        labels=report.labels,
        coords=None if art is None else np.asarray(art["coords"], dtype=np.float64),
        cluster_labels=None if art is None else np.asarray(art["labels"], dtype=np.int64),
        cluster_table=None if art is None else art["table"],
        feature_embedder=embedder,
        random_state=int(random_state),
        info=info,
    )


# -- the entry point -----------------------------------------------------------------------
def find_slices(
    y_true: Any,
    y_pred: Any,
    *,
    proba: Any = None,
    features: pd.DataFrame | None = None,
    embeddings: Any = None,
    train_features: pd.DataFrame | None = None,
    train_embeddings: Any = None,
    methods: Sequence[str] | str | None = None,
    random_state: int = 0,
    labels: Sequence[Any] | None = None,
    merge_jaccard: float = 0.8,
    train_labels: Any = None,
    max_share: float = 0.5,
    **options: Mapping[str, Any],
) -> Diagnosis:
    """Find the slices where a model is weak, with every method the inputs allow.

    Parameters
    ----------
    y_true, y_pred : 1-d labels and predictions of the analysed rows.
    proba : (n, k) class probabilities, optional (used by diagnosers that ask for it).
    features : DataFrame of the analysed rows (rule slices, SHAP; embedded for clusters when
        ``embeddings`` is None).
    embeddings : (n, d) embeddings of the analysed rows (cluster slices).
    train_features, train_embeddings : the training rows, to measure under-representation.
    methods : diagnoser names (``diagnose.DIAGNOSERS.names()``); default all whose inputs are given.
    random_state : one int seeds everything (UMAP, k-means, the confirmation split).
    labels : class order for the confusion matrix (default: the sorted classes present).
    merge_jaccard : slices whose members overlap at least this much are merged.
    train_labels : 1-d classes of the training rows; max_share : largest rule slice (share of rows).
    **options : per-method options, ``method_name={...}``.
    """
    t0 = time.perf_counter()
    yt, yp, pr, feats, tfeats, emb, temb, random_state = _check_find_params(
        y_true, y_pred, proba=proba, features=features, embeddings=embeddings, train_features=train_features,
        train_embeddings=train_embeddings, merge_jaccard=merge_jaccard, random_state=random_state,
    )
    n = yt.shape[0]
    tlabels = _check_train_labels(train_labels, yt, max_share)
    wanted, explicit = _wanted_methods(methods, options)
    # derive embeddings from features for the clusters method
    embedder = None
    skipped: dict[str, str] = {}
    if emb is None and feats is not None and "clusters" in wanted:
        if not _skip_tabular_clusters(wanted, n, explicit=explicit, skipped=skipped):
            emb, temb, embedder = _embed_features(feats, tfeats, n, explicit=explicit, skipped=skipped)

    report = confusion(yt, yp, labels=labels)
    if pr is not None:
        pr = check_proba(pr, "find_slices", labels=None if labels is None else report.labels,
                         present=np.concatenate([yt, yp]))
    fields = {"y_true": yt, "y_pred": yp, "proba": pr, "features": feats, "embeddings": emb,
              "train_features": tfeats, "train_embeddings": temb}
    run = _methods_to_run(wanted, fields, explicit=explicit, n=n, skipped=skipped)
    inp = AnalysisInput(
        y_true=yt,
        y_pred=yp,
        errors=np.asarray(yt != yp, dtype=bool),
        proba=pr,
        features=feats,
        embeddings=emb,
        train_features=tfeats,
        train_embeddings=temb,
        labels=report.labels,
        random_state=int(random_state),
        extra={"confusion_report": report},
    )
    found, timings = _run_diagnosers(run, inp, options)
    found = _add_train_class_shares(_cap_rule_support(found, float(max_share), skipped), tlabels)
    found += _class_shift_slices(inp, tlabels, found)
    slices = merge_slices(found, merge_jaccard=float(merge_jaccard))
    return _find_slices_report(
        inp, report, found, slices, run, options=options, timings=timings, t0=t0, skipped=skipped,
        merge_jaccard=merge_jaccard, embedder=embedder, random_state=random_state,
    )
