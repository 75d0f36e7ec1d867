"""diagnose: find where a model is weak and why.

Confusion and per-class metrics, embedding-cluster slices (UMAP + density clustering),
readable rule slices, SHAP attributions, Grad-CAM, drift between old and new data, and
retrain triggers. Heavy dependencies (torch, umap, shap, matplotlib) load only when a
function needs them.

``import diagnose`` is light (no scikit-learn, scipy or pandas): every public name except the
exceptions and ``__version__`` loads its module on first access (PEP 562), so
``from diagnose import find_slices`` and ``diagnose.find_slices`` work as usual.
"""

import importlib as _importlib

from curakit import __version__ as __version__
from curakit.exceptions import (
    CurakitError,
    CurakitWarning,
    DataError,
    LeakageError,
    MissingDependencyError,
    NotFittedError,
    ParameterError,
    RegistryError,
    StrategyError,
    UnknownNameError,
)
from curakit.optional import lazy_names as _lazy_names

__all__ = [
    "AnalysisInput",
    "CamReport",
    "ConfusionReport",
    "CurakitError",
    "CurakitWarning",
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

#: public name -> the module defining it (imported on first access)
_LAZY = {
    "predict_proba": "curakit.adapters",
    "ConfusionReport": "._confusion",
    "confusion": "._confusion",
    "DIAGNOSERS": "._diagnosers",
    "AnalysisInput": "._diagnosers",
    "Decision": "._drift",
    "DriftReport": "._drift",
    "drift": "._drift",
    "should_retrain": "._drift",
    "FeatureEmbedder": "._embed",
    "embed": "._embed",
    "Diagnosis": "._find",
    "find_slices": "._find",
    "CamReport": "._gradcam",
    "gradcam": "._gradcam",
    "ShapReport": "._shap",
    "explain": "._shap",
    "Slice": "._slice",
}

#: modules whose import registers a built-in diagnoser, in the order DIAGNOSERS lists them
_DIAGNOSER_MODULES = ("._clusters", "._coverage", "._rules", "._confusion")
_BUILTIN_DIAGNOSERS = ("clusters", "coverage", "rules", "confusion")


def _register_diagnosers() -> None:
    for module in _DIAGNOSER_MODULES:
        _importlib.import_module(module, __name__)
    # one order whatever was imported first (a program may import diagnose._confusion before the rest)
    _importlib.import_module("._diagnosers", __name__).DIAGNOSERS.move_to_front(_BUILTIN_DIAGNOSERS)


# the built-in diagnosers register before any diagnose name is used, so DIAGNOSERS and
# find_slices see all of them, in one order, whichever name is touched first
__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals(), before=_register_diagnosers)
