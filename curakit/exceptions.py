"""The one exception tree of curakit.

Every error curakit raises on purpose derives from :class:`CurakitError` and from the
builtin it refines, so ``except ValueError`` keeps working for callers who do not know
curakit. Messages name the problem, the evidence (shapes and dtypes, never data) and a fix.
"""

from __future__ import annotations

__all__ = [
    "CurakitError",
    "CurakitWarning",
    "DataError",
    "LeakageError",
    "MissingDependencyError",
    "NotFittedError",
    "ParameterError",
    "RegistryError",
    "StrategyError",
    "UnknownNameError",
]


class CurakitError(Exception):
    """Base class of every error curakit raises on purpose."""


class CurakitWarning(UserWarning):
    """Base class of every warning curakit issues on purpose (filter them all with
    ``warnings.simplefilter("ignore", CurakitWarning)``)."""


class ParameterError(CurakitError, ValueError):
    """A parameter has the wrong type or lies outside its range.

    Message template (scikit-learn's): "The 'alpha' parameter of TrainingSetBuilder must be
    a float in the range [0.0, 1.0]. Got 1.5 instead."
    """


class DataError(CurakitError, ValueError):
    """The data itself is unusable: mismatched lengths, NaN, wrong dtype or shape, ..."""


class LeakageError(DataError):
    """Rows that would train the model also appear (exactly or nearly) in an evaluation set."""


class UnknownNameError(CurakitError, ValueError):
    """A name (method, strategy, transform, layer, column) is not known; says what is."""


class StrategyError(CurakitError, ValueError):
    """A retraining strategy cannot run with this model; names the strategies that can."""


class RegistryError(CurakitError, RuntimeError):
    """The model registry cannot do what was asked (no champion, no earlier version, ...)."""


class NotFittedError(CurakitError, AttributeError):
    """An object was used before ``fit``."""


class MissingDependencyError(CurakitError, ImportError):
    """An optional dependency is not installed; names the extra that provides it."""
