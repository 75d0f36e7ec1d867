"""Inputs of the training-set builder: one ``Source`` per table of rows, and small checks."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError

__all__ = ["OWNER", "Source", "check_fraction", "check_label_kinds", "check_labels", "is_float", "is_image_source", "json_list",
           "label_kind"]

OWNER = "TrainingSetBuilder"


@dataclass(eq=False)
class Source:
    """One table of rows: old, new, or one augmented set."""

    name: str
    frame: pd.DataFrame  # tabular: at least features + target; images: target
    images: np.ndarray | None
    t: np.ndarray  # comparable times (see _windows)
    time_values: pd.Series | None = None  # the parsed time column, stored in the training set
    manifest: pd.DataFrame | None = None  # augmented sources: lineage columns
    parent_rows: np.ndarray | None = None  # augmented: position of the first parent in its source, -1 unknown
    parents: str | None = None  # augmented: "old" / "new"
    axis_kind: str = "order"  # "datetime" / "numeric" / "order"

    def __len__(self) -> int:
        return len(self.frame)


def is_image_source(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return "images" in obj
    return isinstance(obj, tuple) and len(obj) in (2, 3) and isinstance(obj[0], np.ndarray) and obj[0].ndim >= 3


def is_float(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def check_fraction(value: Any, name: str, method: str, *, low_open: bool = False, high_open: bool = False) -> float:
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    ok = is_float(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        raise ParameterError(
            f"The {name!r} parameter of {OWNER}.{method} must be a float in the range {lo}0.0, 1.0{hi}. "
            f"Got {value!r} instead."
        )
    return float(value)


def check_labels(y: pd.Series, source: str, target: str) -> None:
    missing = int(y.isna().sum())
    if missing:
        raise DataError(
            f"{source} has {missing} unlabelled row(s) (missing target {target!r}). Drop or label them before building."
        )
    if y.dtype == object:  # numbers and strings mixed in one column never name the same class
        from curakit.validation import check_labels as _check_kind

        _check_kind(y.to_numpy(), f"{source} column {target!r}", OWNER)


def label_kind(y: pd.Series) -> str:
    """``"number"`` / ``"string"`` / ``"other"`` for a label column (its first value decides for object columns)."""
    dtype = y.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        return "string"
    first = y.dropna().iloc[:1].tolist() if len(y) else []
    if first and isinstance(first[0], str):
        return "string"
    if first and isinstance(first[0], numbers.Number) and not isinstance(first[0], bool):
        return "number"
    return "other"


def check_label_kinds(kinds: dict[str, str], target: str) -> None:
    """old and new name classes the same way: class names in one and indices in the other never match."""
    if {kinds.get("old"), kinds.get("new")} == {"number", "string"}:
        raise DataError(
            f"The target column {target!r} mixes numbers and strings across old ({kinds['old']}s) and new "
            f"({kinds['new']}s). Use one kind: all class names or all class indices."
        )


def json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))
