"""curate: build the next training set, retrain with a chosen strategy, compare strategies,
and promote only if better, with every former version kept for a one-call rollback."""

from diagnose._exceptions import (
    CurakitError,
    DataError,
    LeakageError,
    ParameterError,
    RegistryError,
    StrategyError,
)

from ._trainingset import TrainingSet

__version__ = "0.1.0"

__all__ = [
    "CurakitError",
    "DataError",
    "LeakageError",
    "ParameterError",
    "RegistryError",
    "StrategyError",
    "TrainingSet",
]
