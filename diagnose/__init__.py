"""diagnose: find where a model is weak and why.

Confusion and per-class metrics, embedding-cluster slices (UMAP + density clustering),
readable rule slices, SHAP attributions, Grad-CAM, drift between old and new data, and
retrain triggers. Heavy dependencies (torch, umap, shap, matplotlib) load only when a
function needs them.
"""

from curakit import __version__ as __version__
from curakit.adapters import predict_proba
from curakit.exceptions import (
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

from . import _clusters as _clusters  # registers the "clusters" diagnoser
from . import _coverage as _coverage  # registers the "coverage" diagnoser
from . import _rules as _rules  # registers the "rules" diagnoser
from ._confusion import ConfusionReport, confusion
from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._drift import Decision, DriftReport, drift, should_retrain
from ._embed import FeatureEmbedder, embed
from ._find import Diagnosis, find_slices
from ._gradcam import CamReport, gradcam
from ._shap import ShapReport, explain
from ._slice import Slice

__all__ = [
    "AnalysisInput",
    "CamReport",
    "ConfusionReport",
    "CurakitError",
    "DIAGNOSERS",
    "DataError",
    "Decision",
    "Diagnosis",
    "DriftReport",
    "FeatureEmbedder",
    "LeakageError",
    "MissingDependencyError",
    "NotFittedError",
    "ParameterError",
    "RegistryError",
    "ShapReport",
    "Slice",
    "StrategyError",
    "UnknownNameError",
    "confusion",
    "drift",
    "embed",
    "explain",
    "find_slices",
    "gradcam",
    "predict_proba",
    "should_retrain",
]
