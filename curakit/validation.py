"""Input checks shared by the three stages. Each raises a one-line error naming the fix;
messages carry shapes and dtypes, never the user's data."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import DataError, ParameterError

__all__ = [
    "UNSET",
    "check_1d",
    "check_choice",
    "check_finite",
    "check_images",
    "check_interval",
    "check_same_length",
    "renamed",
]

#: Default of a deprecated parameter name: tells "not passed" from every real value, None included.
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


def check_1d(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-d (one value per row). Got shape {arr.shape} instead.")
    return arr


def check_same_length(**arrays: Any) -> int:
    """All given arrays have one length; returns it."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise DataError(f"Inputs differ in length ({desc}). Pass one entry per analysed row in each.")
    return next(iter(lengths.values()), 0)


def check_finite(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise DataError(
            f"{name} contains {bad} NaN or inf value(s) (shape {arr.shape}). Remove or impute them first."
        )
    return arr


def check_images(images: Any, name: str = "images", *, channels: int | None = None) -> np.ndarray:
    """A uint8 array shaped (n, H, W, C) with C in {1, 3} (or ``channels`` when given)."""
    arr = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if arr.dtype != np.uint8:
        raise DataError(
            f"{name} must be uint8 in [0, 255]. Got dtype {arr.dtype} instead. "
            "Convert with (x * 255).round().astype('uint8') for floats in [0, 1]."
        )
    if arr.ndim != 4:
        raise DataError(
            f"{name} must be shaped (n, H, W, C). Got shape {arr.shape} instead. "
            "Add a channel axis with images[..., None] for grayscale."
        )
    if channels is not None and arr.shape[-1] != channels:
        raise DataError(
            f"{name} have {arr.shape[-1]} channel(s) but {channels} are expected. "
            "Convert grayscale to RGB with np.repeat(images, 3, axis=-1), or RGB to grayscale first."
        )
    if arr.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{name} must have 1, 3 or 4 channels last, shaped (n, H, W, C). Got shape {arr.shape} instead."
        )
    return arr


def check_choice(value: Any, name: str, owner: str, choices: Sequence[Any]) -> Any:
    if value not in choices:
        from .plugins import did_you_mean

        raise ParameterError(
            f"The {name!r} parameter of {owner} must be one of {list(choices)}. Got {value!r} instead."
            + did_you_mean(str(value), [str(c) for c in choices])
        )
    return value


def check_interval(
    value: Any, name: str, owner: str, *, kind: type = float, low: float = -math.inf, high: float = math.inf,
    closed: str = "both",
) -> Any:
    """``value`` as ``kind`` (int or float) if it lies in the interval, else scikit-learn's message:
    "The 'alpha' parameter of mix must be a float in the range [0.0, 1.0]. Got 1.5 instead."

    ``closed`` is "both", "left", "right" or "neither"; an infinite bound is always open.
    """
    number = numbers.Integral if kind is int else numbers.Real
    ok = isinstance(value, number) and not isinstance(value, bool) and not (kind is float and math.isnan(value))
    lo_in, hi_in = closed in ("both", "left"), closed in ("both", "right")
    if ok:
        ok = (value >= low if lo_in else value > low) and (value <= high if hi_in else value < high)
    if ok:
        return kind(value)
    left = "[" if lo_in and math.isfinite(low) else "("
    right = "]" if hi_in and math.isfinite(high) else ")"
    what = "an int" if kind is int else "a float"
    raise ParameterError(
        f"The {name!r} parameter of {owner} must be {what} in the range "
        f"{left}{_bound(low, kind)}, {_bound(high, kind)}{right}. "
        f"Got {value!r} instead."
    )


def _bound(b: float, kind: type) -> str:
    return "inf" if b == math.inf else "-inf" if b == -math.inf else repr(kind(b))


def renamed(owner: str, old: str, new: str, old_value: Any, new_value: Any, *, default: Any = None) -> Any:
    """The value of a renamed parameter: ``new_value``, or ``old_value`` with a ``FutureWarning``.

    The old name keeps working for one release. Declare it with ``UNSET`` as default so that
    passing ``old=None`` still counts as using it; passing both names is an error.
    """
    if old_value is UNSET:
        return new_value
    if new_value is not default:
        raise ParameterError(f"{owner} got both {old!r} and its new name {new!r}; pass only {new!r}.")
    warnings.warn(
        f"The {old!r} parameter of {owner} is renamed {new!r}; {old!r} will stop working in the next release.",
        FutureWarning, stacklevel=3,
    )
    return old_value
