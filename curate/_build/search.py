"""Validation on the latest data, used by ``window("auto")`` and ``mix(alpha="auto")``.

A candidate (a window, an alpha) is scored by training a model on the rows it selects and
testing on the latest held-out rows. The model is, in order of preference:

- ``score=``: a callable ``score(X_train, y_train, X_test, y_test) -> float`` (higher is
  better); X are DataFrames of the feature columns (tabular) or uint8 image arrays;
- ``model=``: a scikit-learn estimator, cloned and fitted on the feature DataFrame (tabular)
  or on flattened pixels scaled to [0, 1] (images), scored with its ``score`` method;
- the default: logistic regression (classification) or ridge regression, on imputed,
  standardised, one-hot encoded features (tabular) or on 8x8 block-mean pixels (images).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError

__all__ = ["Scorer", "downsample_pixels", "is_classification"]

logger = logging.getLogger(__name__)


def is_classification(y: pd.Series) -> bool:
    """Float targets with many distinct non-integer values are regression; everything else is classes."""
    if not pd.api.types.is_float_dtype(y.dtype):
        return True
    values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return True
    return bool(np.all(values == np.round(values)) and len(np.unique(values)) <= 50)


def downsample_pixels(images: np.ndarray, size: int = 8) -> np.ndarray:
    """Block means on at most ``size`` x ``size`` blocks per channel, scaled to [0, 1], flattened."""
    arr = images if images.ndim == 4 else images[..., None]
    n, H, W, C = arr.shape
    bh, bw = max(1, -(-H // size)), max(1, -(-W // size))
    gh, gw = H // bh, W // bw
    crop = arr[:, : gh * bh, : gw * bw, :].astype(np.float32)
    return (crop.reshape(n, gh, bh, gw, bw, C).mean(axis=(2, 4)) / 255.0).reshape(n, -1)


class Scorer:
    """Scores a training/test split with a user callable, a user estimator or the default model."""

    def __init__(
        self,
        *,
        kind: str,
        features: list[str],
        classification: bool,
        model: Any = None,
        score: Callable[..., float] | None = None,
        owner: str,
    ) -> None:
        if score is not None and not callable(score):
            raise ParameterError(
                f"The 'score' parameter of {owner} must be a callable score(X_train, y_train, X_test, y_test) -> float. "
                f"Got {type(score).__name__} instead."
            )
        if model is not None and not (hasattr(model, "fit") and hasattr(model, "get_params")):
            raise ParameterError(
                f"The 'model' parameter of {owner} must be a scikit-learn estimator (with fit and get_params). "
                f"Got {type(model).__name__} instead. For other models pass score=."
            )
        self.kind, self.features, self.classification = kind, features, classification
        self.model, self.score, self.owner = model, score, owner

    def describe(self) -> str:
        if self.score is not None:
            return f"score={getattr(self.score, '__name__', type(self.score).__name__)}"
        if self.model is not None:
            return f"model={type(self.model).__name__}"
        base = "LogisticRegression" if self.classification else "Ridge"
        return f"default {base} on {'8x8 pixels' if self.kind == 'images' else 'standardised features'}"

    def _default(self, frame: pd.DataFrame | None):
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import Pipeline

        head = LogisticRegression(max_iter=300) if self.classification else Ridge(alpha=1.0)
        if self.kind == "images":
            return head
        from curate._preprocess import default_preprocessor

        return Pipeline([("prep", default_preprocessor(frame, self.features)), ("model", head)])

    def __call__(self, X_train: Any, y_train: np.ndarray, X_test: Any, y_test: np.ndarray) -> float:
        if self.score is not None:
            value = float(self.score(X_train, y_train, X_test, y_test))
            return value
        from sklearn.base import clone
        from sklearn.dummy import DummyClassifier

        if self.classification and len(np.unique(y_train)) < 2:
            est = DummyClassifier(strategy="most_frequent")
        elif self.model is not None:
            est = clone(self.model)
        else:
            est = self._default(X_train if self.kind == "tabular" else None)
        if self.kind == "images":
            to_x = downsample_pixels if self.model is None else (lambda a: a.reshape(len(a), -1) / 255.0)
            X_train, X_test = to_x(X_train), to_x(X_test)
        est.fit(X_train, y_train)
        value = float(est.score(X_test, y_test))
        return value if math.isfinite(value) else float("nan")


def choose_alpha(plan: dict[str, Any], scores: list[float], info: dict[str, Any], *, holdout_rows: int,
                 n_old: int, owner: str) -> float:
    """The ``mix(alpha="auto")`` pick from one score per grid alpha (both engines): the best finite
    score, the smaller alpha on ties; records the search in ``info``."""
    finite = [(k, s) for k, s in enumerate(scores) if np.isfinite(s)]
    if not finite:
        raise DataError(f"{owner}.mix('auto') scored no alpha (every score was NaN). Check the model or score=.")
    best = max(finite, key=lambda kv: (kv[1], -kv[0]))[0]
    info.update({"mode": "auto", "grid": list(plan["grid"]), "scores": scores, "holdout": plan["holdout"],
                 "holdout_rows": int(holdout_rows), "model": plan["scorer"].describe()})
    if n_old == 0:
        logging.getLogger("curate._builder").warning("mix(alpha='auto'): no old rows inside the window; alpha has no effect")
    return float(plan["grid"][best])
