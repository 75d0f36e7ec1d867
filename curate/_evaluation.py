"""What two stages share about scoring: metrics, a model's predictions on an eval set, and the
hash of a model's weights (``curate.retrain`` computes them, the gate and the registry read them)."""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from curakit.adapters import is_torch_model
from curakit.exceptions import ParameterError, UnknownNameError
from curakit.plugins import did_you_mean

__all__ = ["EvalPredictions", "Metric", "model_hash", "resolve_metric"]


# -- metrics --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A score where higher is better, computed from labels, predictions and probabilities."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray], float]
    per_row: bool = False  # True for accuracy: the mean of a per-row correctness vector

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None,
                 classes: np.ndarray) -> float | None:
        if len(y_true) == 0:
            return None
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred), proba, np.asarray(classes)))


def resolve_metric(metric: str | Callable | Metric) -> Metric:
    """``"accuracy"``, any scikit-learn scorer name (``"f1_macro"``, ``"roc_auc_ovr"``,
    ``"neg_log_loss"``: scorer signs kept, so higher is better) or ``fn(y_true, y_pred) -> float``."""
    if isinstance(metric, Metric):
        return metric
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        return Metric(name=name, fn=lambda y, p, proba, classes: metric(y, p))
    if metric == "accuracy":
        return Metric(name="accuracy", fn=lambda y, p, proba, classes: float((y == p).mean()), per_row=True)
    from sklearn.metrics import get_scorer, get_scorer_names

    if not isinstance(metric, str) or metric not in get_scorer_names():
        names = sorted(get_scorer_names())
        raise UnknownNameError(
            f"Unknown metric {metric!r}.{did_you_mean(str(metric), names)} Use 'accuracy', a scikit-learn "
            "scorer name (sklearn.metrics.get_scorer_names()) or a callable fn(y_true, y_pred) -> float."
        )
    scorer = get_scorer(metric)
    fn, kwargs, sign = scorer._score_func, dict(scorer._kwargs), scorer._sign
    response = scorer._response_method
    wants_proba = "predict_proba" in (response if isinstance(response, tuple) else (response,))

    def score(y, p, proba, classes):
        if not wants_proba:
            return sign * fn(y, p, **kwargs)
        if proba is None:
            raise ParameterError(
                f"The metric {metric!r} needs class probabilities, but the model has no predict_proba. "
                "Use a metric computed from predictions (for example 'accuracy')."
            )
        kw = dict(kwargs)
        if len(classes) == 2:
            return sign * fn(y == classes[1], proba[:, 1], **kw)
        if fn.__name__ in ("log_loss", "roc_auc_score"):
            kw.setdefault("labels", classes)
        return sign * fn(y, proba, **kw)

    return Metric(name=metric, fn=score)


# -- predictions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class EvalPredictions:
    """A model's output on one eval set: labels, predictions, probabilities (or None), classes."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray

    def score(self, metric: Metric, rows: np.ndarray | None = None) -> float | None:
        if rows is None:
            return metric(self.y_true, self.y_pred, self.proba, self.classes)
        return metric(self.y_true[rows], self.y_pred[rows], None if self.proba is None else self.proba[rows],
                      self.classes)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}y_true": _plain(self.y_true), f"{prefix}y_pred": _plain(self.y_pred),
               f"{prefix}classes": _plain(self.classes)}
        if self.proba is not None:
            out[f"{prefix}proba"] = np.asarray(self.proba, dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> EvalPredictions:
        return cls(y_true=arrays[f"{prefix}y_true"], y_pred=arrays[f"{prefix}y_pred"],
                   proba=arrays.get(f"{prefix}proba"), classes=arrays[f"{prefix}classes"])


def _plain(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(str) if a.dtype == object else a


# -- hashing -----------------------------------------------------------------------------------
def model_hash(model: Any) -> str:
    """sha256 of a model's weights (torch: the state dict; estimators: their pickle)."""
    h = hashlib.sha256()
    if is_torch_model(model):
        for key, value in model.state_dict().items():
            h.update(key.encode())
            arr = value.detach().cpu().contiguous().numpy()
            h.update(str(arr.dtype).encode())
            h.update(str(arr.shape).encode())
            h.update(arr.tobytes())
    else:
        buf = io.BytesIO()
        pickle.dump(model, buf, protocol=5)
        h.update(buf.getvalue())
    return h.hexdigest()
