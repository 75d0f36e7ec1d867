"""curate: build the next training set, retrain with a chosen strategy, compare strategies,
and promote only if better, with every former version kept for a one-call rollback."""

from curakit import __version__ as __version__
from curakit.exceptions import (
    CurakitError,
    DataError,
    LeakageError,
    ParameterError,
    RegistryError,
    StrategyError,
)

from ._builder import TrainingSetBuilder
from ._compare import ComparisonTable, compare_strategies
from ._demo import DemoResult, run_demo
from ._fit import fit
from ._gate import Gate, GateDecision
from ._modelregistry import ModelVersion, Promotion, Registry
from ._recipe import Recipe, RecipeRun, example_recipes, example_text, parse_recipe, run_recipe
from ._retrain import RetrainResult, retrain
from ._strategies import STRATEGIES, EnsembleClassifier
from ._trainingset import TrainingSet

__all__ = [
    "ComparisonTable",
    "CurakitError",
    "DataError",
    "DemoResult",
    "EnsembleClassifier",
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
    "example_recipes",
    "example_text",
    "fit",
    "parse_recipe",
    "retrain",
    "run_demo",
    "run_recipe",
]
