"""What two stages share about scoring: metrics, a model's predictions on an eval set, and the
hash of a model's weights (``curate.retrain`` computes them, the gate and the registry read them)."""

from __future__ import annotations

import hashlib
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
    """sha256 of a model's weights (torch: the state dict; estimators: their fitted state, walked
    canonically, so the same estimator hashes the same after a pickle or skops round trip)."""
    h = hashlib.sha256()
    if is_torch_model(model):
        for key, value in model.state_dict().items():
            h.update(key.encode())
            arr = value.detach().cpu().contiguous().numpy()
            h.update(str(arr.dtype).encode())
            h.update(str(arr.shape).encode())
            h.update(arr.tobytes())
    else:
        _hash_state(h, model, 0)
    return h.hexdigest()


def _hash_state(h: Any, obj: Any, depth: int) -> None:
    """Feed ``obj`` into ``h`` by value: arrays by dtype/shape/bytes, containers element-wise,
    objects by type and reduced state (never by pickle bytes, which depend on object identity)."""
    if depth > 60:
        raise ParameterError("model_hash: the estimator's state nests deeper than 60 levels; it cannot be hashed.")
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, np.ndarray):
        h.update(f"nd:{obj.dtype.str}:{obj.dtype.descr if obj.dtype.fields else ''}:{obj.shape};".encode())
        if obj.dtype.fields:  # field by field: padding bytes between fields are not data
            for name in obj.dtype.names:
                _hash_state(h, np.ascontiguousarray(obj[name]), depth + 1)
        elif obj.dtype.hasobject:
            for item in obj.ravel(order="C"):
                _hash_state(h, item, depth + 1)
        else:
            h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, np.generic):
        h.update(f"np:{obj.dtype.str}:{obj!r};".encode())
    elif isinstance(obj, np.dtype):
        h.update(f"dtype:{obj.str}:{obj.descr};".encode())
    elif isinstance(obj, dict):
        h.update(f"dict:{len(obj)};".encode())
        for key in sorted(obj, key=repr):
            _hash_state(h, key, depth + 1)
            _hash_state(h, obj[key], depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        h.update(f"{type(obj).__name__}:{len(obj)};".encode())
        for item in items:
            _hash_state(h, item, depth + 1)
    elif isinstance(obj, type) or callable(obj) and not hasattr(obj, "__dict__"):
        h.update(f"ref:{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))};".encode())
    else:
        cls = type(obj)
        h.update(f"obj:{cls.__module__}.{cls.__qualname__};".encode())
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else None
        if state is None or (state is getattr(obj, "__dict__", None) and not state and hasattr(obj, "__reduce__")):
            reduced = obj.__reduce_ex__(5)
            state = reduced[1:3] if isinstance(reduced, tuple) else reduced
        _hash_state(h, state, depth + 1)
