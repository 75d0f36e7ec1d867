"""The registry of slice finders used by :func:`diagnose.find_slices`.

A diagnoser is ``fn(inp: AnalysisInput, **options) -> list[Slice]``, registered with::

    @DIAGNOSERS.register("rules", requires=("features",))
    def rule_slices(inp, *, min_support=20, max_depth=2): ...

``requires`` names the :class:`AnalysisInput` fields that must not be None; by default
``find_slices`` runs every diagnoser whose requirements the caller's inputs meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.plugins import PluginRegistry

__all__ = ["DIAGNOSERS", "AnalysisInput"]


@dataclass(frozen=True, kw_only=True)
class AnalysisInput:
    """Validated inputs of one diagnosis, shared by every diagnoser.

    ``errors`` is ``y_true != y_pred``; ``features`` / ``embeddings`` describe the analysed
    rows and ``train_features`` / ``train_embeddings`` the training rows (for under-representation).
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    errors: np.ndarray
    proba: np.ndarray | None = None
    features: pd.DataFrame | None = None
    embeddings: np.ndarray | None = None
    train_features: pd.DataFrame | None = None
    train_embeddings: np.ndarray | None = None
    labels: tuple[Any, ...] = ()
    random_state: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def baseline_error_rate(self) -> float:
        return float(self.errors.mean()) if self.n else 0.0


DIAGNOSERS: PluginRegistry = PluginRegistry("diagnoser")
