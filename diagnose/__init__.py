"""diagnose: find where a model is weak and why.

Confusion and per-class metrics, embedding-cluster slices (UMAP + density clustering),
readable rule slices, SHAP attributions, Grad-CAM, drift between old and new data, and
retrain triggers. Heavy dependencies (torch, umap, shap, matplotlib) load only when a
function needs them.
"""

from ._exceptions import (
    CurakitError,
    DataError,
    LeakageError,
    MissingDependencyError,
    NotFittedError,
    ParameterError,
    RegistryError,
    StrategyError,
    UnknownNameError,
)
from ._slice import Slice

__version__ = "0.1.0"

__all__ = [
    "CurakitError",
    "DataError",
    "LeakageError",
    "MissingDependencyError",
    "NotFittedError",
    "ParameterError",
    "RegistryError",
    "Slice",
    "StrategyError",
    "UnknownNameError",
]
