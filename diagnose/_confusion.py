"""Confusion matrix, per-class metrics and the ``"confusion"`` diagnoser.

:func:`confusion` returns a :class:`ConfusionReport`: counts and row-normalised matrix,
precision / recall / F1 / support per class, the most-confused (true -> predicted) pairs, a
heatmap, and the classes below a recall threshold turned into :class:`~diagnose.Slice` records.

The ``"confusion"`` diagnoser (no inputs beyond labels and predictions) yields

* ``class`` slices: the rows of one true class, when its recall is below ``min_recall`` or its
  error rate is significantly above the rest of the data (one-sided Fisher exact test);
* ``pair`` slices: the rows of true class ``a`` predicted as ``b``, when ``b`` takes
  significantly more than its even share ``1 / (k - 1)`` of class ``a``'s errors (one-sided
  binomial test conditional on class ``a``'s error count); at most ``max_pairs`` of them,
  largest count first.

q-values come from one Benjamini-Hochberg family: every class test plus every off-diagonal
cell with errors (a cell below ``min_pair_count`` counts as a test with p = 1).

Severity follows :mod:`diagnose._stats`: excess errors over the number of analysed rows. For a
class slice the expectation is ``support * baseline``; for a pair it is ``errors_a / (k - 1)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.html import escape, frame_html
from curakit.records import check_keys, check_schema_version, json_ready
from curakit.validation import check_interval, check_label_kinds, check_label_list, check_labels

from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._slice import Slice, slice_id
from ._stats import bh_adjust, binom_greater, excess_severity, hypergeom_greater, wilson_interval

__all__ = ["ConfusionReport", "confusion", "confusion_slices"]

SCHEMA_VERSION = 1


def _labels_for(y_true: np.ndarray, y_pred: np.ndarray, labels: Any) -> tuple[Any, ...]:
    present = np.unique(np.concatenate([y_true, y_pred])) if y_true.size else np.array([])
    if labels is None:
        return tuple(json_ready(v) for v in present.tolist())
    lab = list(json_ready(check_label_list(labels, "labels", "confusion")))
    if len(set(map(repr, lab))) != len(lab):
        raise ParameterError("The 'labels' parameter of confusion must not repeat a label. Got duplicates instead.")
    if lab and present.size:
        check_label_kinds(present, np.asarray(lab, dtype=object), "confusion", names=("y_true / y_pred", "labels"))
    missing = set(json_ready(present.tolist())) - set(lab)
    if missing:
        raise DataError(
            f"y_true / y_pred hold {len(missing)} value(s) that are not in labels ({len(lab)} labels given). "
            "Pass every class that occurs, or labels=None to use the classes found."
        )
    return tuple(lab)


def _check_pair(y_true: Any, y_pred: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        if arr.ndim != 1:
            raise DataError(f"{name} of {owner} must be 1-d (one label per row). Got shape {arr.shape} instead.")
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise DataError(
                f"{name} of {owner} contains {int((~np.isfinite(arr)).sum())} NaN or inf value(s). "
                "Drop the rows without a label or prediction first."
            )
        if arr.dtype == object:
            check_labels(arr, name, owner)  # None / NaN among objects, numbers mixed with strings
    check_label_kinds(yt, yp, owner)
    if yt.shape != yp.shape:
        raise DataError(
            f"y_true and y_pred of {owner} differ in length ({yt.shape[0]} vs {yp.shape[0]}). "
            "Pass one prediction per label."
        )
    if yt.size == 0:
        raise DataError(f"{owner} got 0 rows. Pass at least one labelled prediction.")
    return yt, yp


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ConfusionReport:
    """Confusion matrix and per-class metrics of one set of predictions.

    Attributes
    ----------
    labels : the classes, in matrix order.
    y_true, y_pred : the analysed labels and predictions (kept to turn classes into slices).
    matrix : counts, ``matrix[i, j]`` = rows of true class ``labels[i]`` predicted ``labels[j]``.
    """

    labels: tuple[Any, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    matrix: np.ndarray = field(default=None)  # type: ignore[assignment]
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        k = len(self.labels)
        index = {lab: i for i, lab in enumerate(self.labels)}
        ti = np.fromiter((index[v] for v in json_ready(self.y_true.tolist())), dtype=np.int64, count=self.y_true.size)
        pi = np.fromiter((index[v] for v in json_ready(self.y_pred.tolist())), dtype=np.int64, count=self.y_pred.size)
        m = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k).astype(np.int64)
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)

    # -- metrics --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.y_true.size)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.matrix) / self.n) if self.n else 0.0

    @property
    def normalized(self) -> np.ndarray:
        """Row-normalised matrix (each true class sums to 1; classes never seen stay 0)."""
        support = self.matrix.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(support > 0, self.matrix / np.maximum(support, 1), 0.0)
        return out

    def per_class(self) -> pd.DataFrame:
        """precision, recall, F1, support (true rows) and predicted count per class."""
        m = self.matrix
        tp = np.diag(m).astype(np.float64)
        support = m.sum(1)
        predicted = m.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
            recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
        return pd.DataFrame(
            {
                "label": list(self.labels),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": support.astype(np.int64),
                "predicted": predicted.astype(np.int64),
            }
        )

    def most_confused(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` largest off-diagonal cells: true, pred, count, rate (share of the true class)."""
        m = self.matrix.copy()
        np.fill_diagonal(m, 0)
        support = self.matrix.sum(1)
        i, j = np.nonzero(m)
        counts = m[i, j]
        order = np.lexsort((j, i, -counts))[:n]
        return pd.DataFrame(
            {
                "true": [self.labels[a] for a in i[order]],
                "pred": [self.labels[b] for b in j[order]],
                "count": counts[order].astype(np.int64),
                "rate": counts[order] / np.maximum(support[i[order]], 1),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """Per-class metrics, one row per class (same as :meth:`per_class`)."""
        return self.per_class()

    def slices(self, *, min_recall: float = 0.5, min_support: int = 1) -> list[Slice]:
        """Classes whose recall is below ``min_recall`` as ``class`` slices (worst first)."""
        min_recall = check_interval(min_recall, "min_recall", "ConfusionReport.slices", low=0.0, high=1.0)
        min_support = check_interval(min_support, "min_support", "ConfusionReport.slices", kind=int, low=0)
        out = confusion_slices(self, min_recall=min_recall, alpha=-1.0, min_support=min_support, max_pairs=0)
        return [s for s in out if s.definition["kind"] == "class"]

    # -- plots ----------------------------------------------------------------------------
    def plot(self, *, normalize: bool = True, ax: Any = None, max_classes: int = 40):
        """A heatmap of the (row-normalised) matrix; returns the matplotlib Figure."""
        from ._report import confusion_figure

        return confusion_figure(self.matrix, self.labels, normalize=normalize, ax=ax, max_classes=max_classes)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "labels": json_ready(list(self.labels)),
            "y_true": json_ready(self.y_true.tolist()),
            "y_pred": json_ready(self.y_pred.tolist()),
            "matrix": self.matrix.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfusionReport:
        fix = "Recompute it with diagnose.confusion."
        check_schema_version(data, "ConfusionReport", SCHEMA_VERSION, fix=fix)
        check_keys(data, "ConfusionReport", ("labels", "y_true", "y_pred"), ("matrix",), fix=fix)
        return confusion(np.asarray(data["y_true"]), np.asarray(data["y_pred"]), labels=data["labels"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>ConfusionReport</b>: {self.n} rows, {len(self.labels)} classes, "
            f"accuracy {self.accuracy:.3f}</p>"
        )
        mat = pd.DataFrame(self.matrix, columns=[escape(v) for v in self.labels])
        mat.insert(0, "true \\ pred", [str(v) for v in self.labels])
        return head + frame_html(self.per_class()) + "<p>Counts (rows: true, columns: predicted)</p>" + frame_html(mat)

    def __repr__(self) -> str:
        return f"ConfusionReport(n={self.n}, classes={len(self.labels)}, accuracy={self.accuracy:.3f})"


def confusion(y_true: Any, y_pred: Any, *, labels: Any = None) -> ConfusionReport:
    """Confusion matrix and per-class metrics.

    Parameters
    ----------
    y_true, y_pred : 1-d arrays of class labels (any hashable, comparable values).
    labels : the classes in matrix order; default the sorted classes present in either.

    >>> r = confusion([0, 0, 1, 1], [0, 1, 1, 1])
    >>> r.matrix.tolist()
    [[1, 1], [0, 2]]
    """
    yt, yp = _check_pair(y_true, y_pred, "confusion")
    labs = _labels_for(yt, yp, labels)
    return ConfusionReport(labels=labs, y_true=yt, y_pred=yp)


def _confusion_tests(report: ConfusionReport, *, min_support, max_pairs, min_pair_count) -> dict[str, Any]:
    """Class and pair tests with one Benjamini-Hochberg family for classes and pairs together."""
    n = report.n
    errors = report.y_true != report.y_pred
    k_total = int(errors.sum())
    m = report.matrix
    support = m.sum(1)
    class_err = support - np.diag(m)
    k = len(report.labels)
    # class slices
    cand = np.flatnonzero(support >= max(1, min_support))
    p_class = hypergeom_greater(class_err[cand], support[cand], k_total, n) if cand.size else np.array([])
    # pair tests; one Benjamini-Hochberg family for classes and pairs together
    off = m.copy()
    np.fill_diagonal(off, 0)
    ii, jj = np.nonzero(off >= max(1, min_pair_count)) if (max_pairs > 0 and k > 2) else (np.array([], int),) * 2
    counts = off[ii, jj]
    p_pair = binom_greater(counts, class_err[ii], 1.0 / (k - 1)) if ii.size else np.array([])
    # every off-diagonal cell with errors is a pair that could have been reported
    n_pair_tests = int((off > 0).sum()) if (max_pairs > 0 and k > 2) else 0
    q_all = bh_adjust(np.concatenate([p_class, p_pair, np.ones(max(0, n_pair_tests - p_pair.size))]))
    return {
        "n": n,
        "k": k,
        "baseline": k_total / n if n else 0.0,
        "support": support,
        "class_err": class_err,
        "cand": cand,
        "p_class": p_class,
        "q_class": q_all[: p_class.size],
        "ii": ii,
        "jj": jj,
        "counts": counts,
        "p_pair": p_pair,
        "q_pair": q_all[p_class.size : p_class.size + p_pair.size],
        "yt": np.asarray(json_ready(report.y_true.tolist()), dtype=object),
        "yp": np.asarray(json_ready(report.y_pred.tolist()), dtype=object),
    }


def _named(label: Any, class_names: Any) -> str:
    """A class as the user reads it: its name from ``class_names`` (a list indexed by class index,
    or a mapping label -> name) when given, else the label itself."""
    if class_names is not None:
        if isinstance(class_names, Mapping):
            if label in class_names:
                return repr(class_names[label])
        elif isinstance(label, (int, np.integer)) and 0 <= int(label) < len(class_names):
            return repr(class_names[int(label)])
    return repr(label)


def _class_slices(report: ConfusionReport, t: dict[str, Any], *, min_recall, alpha, class_names=None) -> list[Slice]:
    """Classes with low recall or significantly more errors than the rest."""
    n, baseline, support, class_err, labels = t["n"], t["baseline"], t["support"], t["class_err"], report.labels
    per = report.per_class()
    out: list[Slice] = []
    for c, pc, qc in zip(t["cand"], t["p_class"], t["q_class"]):
        recall = float(per.loc[c, "recall"])
        reasons = []
        if qc <= alpha:
            reasons.append("significantly_worse")
        if recall < min_recall:
            reasons.append("low_recall")
        if not reasons:
            continue
        lab = labels[c]
        idx = np.flatnonzero(t["yt"] == lab)
        definition = {"kind": "class", "label": lab}
        row = report.matrix[c].copy()
        row[c] = 0
        top = [(labels[j], int(row[j])) for j in np.argsort(-row, kind="mergesort")[:3] if row[j] > 0]
        out.append(
            Slice(
                id=slice_id("confusion", definition),
                method="confusion",
                description=f"true class {_named(lab, class_names)}: recall {recall:.2f} on {int(support[c])} rows",
                indices=idx,
                n_analysed=n,
                error_rate=float(class_err[c] / support[c]),
                baseline_error_rate=baseline,
                error_ci=wilson_interval(class_err[c], support[c]),
                p_value=float(pc),
                q_value=float(qc),
                severity=excess_severity(class_err[c], support[c] * baseline, n),
                definition=definition,
                evidence={
                    "kind": "class",
                    "reasons": reasons,
                    "recall": recall,
                    "precision": float(per.loc[c, "precision"]),
                    "f1": float(per.loc[c, "f1"]),
                    "support": int(support[c]),
                    "errors": int(class_err[c]),
                    "expected_errors": float(support[c] * baseline),
                    "top_confusions": [{"pred": lab_j, "count": cnt} for lab_j, cnt in top],
                    "test": "one-sided Fisher exact (class vs rest), BH over classes and pairs together",
                },
            )
        )
    return out


def _pair_slices(report: ConfusionReport, t: dict[str, Any], *, alpha, max_pairs, class_names=None) -> list[Slice]:
    """The most-confused (true, predicted) pairs that pass the test, at most ``max_pairs``."""
    ii, jj, counts, p, q = t["ii"], t["jj"], t["counts"], t["p_pair"], t["q_pair"]
    n, k, baseline, support, class_err, labels = t["n"], t["k"], t["baseline"], t["support"], t["class_err"], report.labels
    out: list[Slice] = []
    if not ii.size:
        return out
    keep = np.flatnonzero(q <= alpha)
    if not keep.size:
        return out
    keep = keep[np.lexsort((jj[keep], ii[keep], -counts[keep]))][:max_pairs]
    for i in keep:
        a, b = int(ii[i]), int(jj[i])
        la, lb = labels[a], labels[b]
        idx = np.flatnonzero((t["yt"] == la) & (t["yp"] == lb))
        definition = {"kind": "pair", "true": la, "pred": lb}
        cnt = int(counts[i])
        out.append(
            Slice(
                id=slice_id("confusion", definition),
                method="confusion",
                description=(f"true {_named(la, class_names)} predicted as {_named(lb, class_names)}: "
                             f"{cnt} of {int(support[a])} rows"),
                indices=idx,
                n_analysed=n,
                error_rate=1.0,
                baseline_error_rate=baseline,
                error_ci=wilson_interval(cnt, cnt),
                p_value=float(p[i]),
                q_value=float(q[i]),
                severity=excess_severity(cnt, class_err[a] / (k - 1), n),
                definition=definition,
                evidence={
                    "kind": "pair",
                    "reasons": ["most_confused_pair"],
                    "true": la,
                    "pred": lb,
                    "count": cnt,
                    "expected_errors": float(class_err[a] / (k - 1)),
                    "rate_in_true_class": cnt / int(support[a]),
                    "share_of_class_errors": cnt / int(class_err[a]),
                    "test": "one-sided binomial (share of the class's errors vs 1/(k-1)), BH over classes and pairs together",
                },
            )
        )
    return out


def confusion_slices(
    report: ConfusionReport,
    *,
    min_recall: float = 0.5,
    alpha: float = 0.05,
    min_support: int = 5,
    max_pairs: int = 5,
    min_pair_count: int = 3,
    class_names: Any = None,
) -> list[Slice]:
    """Class and pair slices of a report (see the module docstring), most severe first.

    ``class_names`` (a list indexed by class index, or a mapping label -> name) names the classes in
    the descriptions; the definitions keep the labels, so ``Slice.contains`` still takes them."""
    if class_names is not None and not isinstance(class_names, Mapping):
        class_names = check_label_list(class_names, "class_names", "confusion_slices")
    t = _confusion_tests(report, min_support=min_support, max_pairs=max_pairs, min_pair_count=min_pair_count)
    out = _class_slices(report, t, min_recall=min_recall, alpha=alpha, class_names=class_names)
    out.extend(_pair_slices(report, t, alpha=alpha, max_pairs=max_pairs, class_names=class_names))
    out.sort(key=lambda s: (-s.severity, s.id))
    return out


@DIAGNOSERS.register("confusion", requires=())
def confusion_diagnoser(
    inp: AnalysisInput,
    *,
    min_recall: float = 0.5,
    alpha: float = 0.05,
    min_support: int = 5,
    max_pairs: int = 5,
    min_pair_count: int = 3,
    class_names: Any = None,
) -> list[Slice]:
    """Class slices (low recall or significantly worse) and most-confused pair slices; ``class_names``
    names the classes in the descriptions (see :func:`confusion_slices`)."""
    owner = "the confusion diagnoser"
    min_recall = check_interval(min_recall, "min_recall", owner, low=0.0, high=1.0)
    alpha = check_interval(alpha, "alpha", owner, low=0.0, high=1.0, closed="neither")
    min_support = check_interval(min_support, "min_support", owner, kind=int, low=0)
    max_pairs = check_interval(max_pairs, "max_pairs", owner, kind=int, low=0)
    min_pair_count = check_interval(min_pair_count, "min_pair_count", owner, kind=int, low=0)
    report = inp.extra.get("confusion_report")
    if report is None:
        report = confusion(inp.y_true, inp.y_pred, labels=list(inp.labels) or None)
    return confusion_slices(
        report,
        min_recall=min_recall,
        alpha=alpha,
        min_support=min_support,
        max_pairs=max_pairs,
        min_pair_count=min_pair_count,
        class_names=class_names,
    )
