"""curate: build the next training set, retrain with a chosen strategy, compare strategies,
and promote only if better, with every former version kept for a one-call rollback.

``import curate`` is light (no scikit-learn, scipy, pandas or pyarrow): every public name except
the exceptions and ``__version__`` loads its module on first access (PEP 562), so
``from curate import retrain`` works as usual."""

from curakit import __version__ as __version__
from curakit.exceptions import (
    CurakitError,
    CurakitWarning,
    DataError,
    LeakageError,
    ParameterError,
    RegistryError,
    StrategyError,
)
from curakit.optional import lazy_names as _lazy_names

__all__ = [
    "ComparisonTable",
    "CurakitError",
    "CurakitWarning",
    "DaskTrainingSet",
    "DataError",
    "DemoResult",
    "Engine",
    "EnsembleClassifier",
    "FillPriorWarning",
    "FillValue",
    "Gate",
    "GateDecision",
    "LeakageError",
    "ModelVersion",
    "ParameterError",
    "Promotion",
    "Recipe",
    "RecipeRun",
    "Registry",
    "RegistryError",
    "RetrainResult",
    "STRATEGIES",
    "StrategyError",
    "TrainingSet",
    "TrainingSetBuilder",
    "compare_strategies",
    "estimate_fill_value",
    "example_recipes",
    "example_text",
    "fit",
    "open_engine",
    "parse_recipe",
    "retrain",
    "run_demo",
    "run_recipe",
]

#: public name -> the module defining it (imported on first access)
_LAZY = {
    "TrainingSetBuilder": "._builder",
    "ComparisonTable": "._compare",
    "compare_strategies": "._compare",
    "DemoResult": "._demo",
    "run_demo": "._demo",
    "fit": "._fit",
    "Gate": "._gate",
    "GateDecision": "._gate",
    "ModelVersion": "._modelregistry",
    "Promotion": "._modelregistry",
    "Registry": "._modelregistry",
    "Recipe": "._recipe",
    "RecipeRun": "._recipe",
    "example_recipes": "._recipe",
    "example_text": "._recipe",
    "parse_recipe": "._recipe",
    "run_recipe": "._recipe",
    "RetrainResult": "._retrain",
    "retrain": "._retrain",
    "STRATEGIES": "._strategies",
    "EnsembleClassifier": "._strategies",
    "TrainingSet": "._trainingset",
    "Engine": "._dask.engine",
    "open_engine": "._dask.engine",
    "DaskTrainingSet": "._dask.trainingset",
    "estimate_fill_value": "._fill_value",
    "FillValue": "._fill_value",
    "FillPriorWarning": "._fill_value",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())
