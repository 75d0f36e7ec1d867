"""Leakage guard: a generated row that duplicates a row of an evaluation set is refused.

An augmented image or a synthetic row that equals (or nearly equals) a row of a held-out
evaluation set would let the model train on what it is judged on. :func:`find_leaks` reports
such rows using :mod:`augment._dedup` (exact keys, then near duplicates within ``tolerance``):

* images: root-mean-square pixel difference at most ``tolerance * 255`` (default
  :data:`IMAGE_TOLERANCE`, 2% of the pixel range);
* tables: every numeric value within ``tolerance`` standard deviations of the evaluation
  set's column and every other value equal (default :data:`TABLE_TOLERANCE`).

``offline`` and ``oversample`` take ``eval_sets=`` and drop the rows found here (listed in
``AugmentedSet.refused`` / ``prov.attrs["refused"]`` as a list of records), or raise :class:`LeakageError` with
``on_leak="raise"``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from curakit.dedup import find_duplicates
from curakit.exceptions import DataError, LeakageError, ParameterError

__all__ = [
    "IMAGE_TOLERANCE",
    "REFUSED_COLUMNS",
    "TABLE_TOLERANCE",
    "check_on_leak",
    "check_tolerance",
    "eval_arrays",
    "find_leaks",
    "refuse",
]

logger = logging.getLogger(__name__)

IMAGE_TOLERANCE = 0.02
TABLE_TOLERANCE = 0.01
REFUSED_COLUMNS = ("position", "row_id", "eval_set", "eval_position", "match")


def _images_of(value: Any, name: str) -> np.ndarray:
    if isinstance(value, Mapping):
        if "images" not in value:
            raise DataError(f"Evaluation set {name!r} is a mapping without an 'images' key. Pass {{'images': ...}}.")
        value = value["images"]
    elif isinstance(value, tuple) and len(value) == 2:
        value = value[0]
    arr = np.asarray(value)
    if arr.dtype != np.uint8 or arr.ndim != 4:
        raise DataError(
            f"Evaluation set {name!r} must hold uint8 images shaped (n, H, W, C). "
            f"Got dtype {arr.dtype} and shape {arr.shape} instead."
        )
    return arr


def _table_of(value: Any, name: str, columns: list[Any] | None, n_columns: int | None = None) -> Any:
    if isinstance(value, tuple) and len(value) == 2:
        value = value[0]
    if isinstance(value, pd.DataFrame):
        if columns is None:  # the candidates are a plain array: compare values column by column
            value = value.to_numpy()
        elif columns is not None:
            missing = [c for c in columns if c not in value.columns]
            if missing:
                raise DataError(
                    f"Evaluation set {name!r} lacks {len(missing)} feature column(s) of the data (first: "
                    f"{str(missing[0])!r}). Pass the evaluation rows with the same feature columns."
                )
            return value[columns]
        return value
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise DataError(f"Evaluation set {name!r} must be a DataFrame or a 2-d array. Got shape {arr.shape} instead.")
    if n_columns is not None and arr.shape[1] != n_columns:
        raise DataError(
            f"Evaluation set {name!r} has {arr.shape[1]} columns but the data has {n_columns}. "
            "Pass the evaluation rows with the same feature columns (without the label)."
        )
    if columns is not None:
        if arr.shape[1] != len(columns):
            raise DataError(
                f"Evaluation set {name!r} has {arr.shape[1]} columns but the data has {len(columns)}. "
                "Pass the evaluation rows with the same feature columns."
            )
        return pd.DataFrame(arr, columns=columns)
    return arr


def eval_arrays(
    eval_sets: Any, *, kind: str, columns: list[Any] | None = None, n_columns: int | None = None
) -> dict[str, Any]:
    """Normalise ``eval_sets`` (mapping name -> images / table / (X, y) / {"images": ...})."""
    if eval_sets is None:
        return {}
    if not isinstance(eval_sets, Mapping):
        raise ParameterError(
            "The 'eval_sets' parameter must be a mapping {name: evaluation data}. "
            f"Got {type(eval_sets).__name__} instead."
        )
    out = {}
    for name, value in eval_sets.items():
        out[str(name)] = (
            _images_of(value, str(name)) if kind == "images" else _table_of(value, str(name), columns, n_columns)
        )
    return out


def check_on_leak(on_leak: Any, owner: str) -> str:
    if on_leak not in ("refuse", "raise"):
        raise ParameterError(f"The 'on_leak' parameter of {owner} must be 'refuse' or 'raise'. Got {on_leak!r} instead.")
    return on_leak


def check_tolerance(tolerance: Any, kind: str, owner: str) -> float:
    default = IMAGE_TOLERANCE if kind == "images" else TABLE_TOLERANCE
    if tolerance is None:
        return default
    hi = 1.0 if kind == "images" else np.inf
    ok = isinstance(tolerance, numbers.Real) and not isinstance(tolerance, bool) and 0.0 <= float(tolerance) <= hi
    if not ok:
        rng = "[0.0, 1.0]" if kind == "images" else "[0.0, inf)"
        raise ParameterError(
            f"The 'leak_tolerance' parameter of {owner} must be a float in the range {rng}. Got {tolerance!r} instead."
        )
    return float(tolerance)


def find_leaks(
    candidates: Any,
    eval_sets: Mapping[str, Any],
    *,
    tolerance: float | None = None,
    row_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``candidates`` that duplicate a row of an evaluation set.

    ``candidates``: uint8 images (n, H, W, C), a DataFrame or a 2-d array; ``eval_sets``: mapping
    name -> the same kind of data (images also as ``(images, labels)`` or ``{"images": ...}``;
    tables also as ``(X, y)``, and a DataFrame is compared on ``candidates``' columns).
    Returns one row per leaking candidate (its first match): ``position``, ``row_id``,
    ``eval_set``, ``eval_position`` and ``match`` (``"exact"`` or ``"near"``).
    """
    kind = "images" if isinstance(candidates, np.ndarray) and candidates.ndim == 4 else "table"
    columns = list(candidates.columns) if isinstance(candidates, pd.DataFrame) else None
    if kind == "table" and columns is None:
        candidates = np.asarray(candidates)
    n_columns = candidates.shape[1] if kind == "table" and columns is None else None
    sets = eval_arrays(eval_sets, kind=kind, columns=columns, n_columns=n_columns)
    tol = check_tolerance(tolerance, kind, "find_leaks")
    seen: dict[int, tuple[str, int, str]] = {}
    for name, ref in sets.items():
        if kind == "images" and ref.shape[1:] != candidates.shape[1:]:
            raise DataError(
                f"Evaluation set {name!r} holds images shaped {ref.shape[1:]} but the generated images are shaped "
                f"{candidates.shape[1:]}. Pass evaluation images of the same size and channels."
            )
        exact = find_duplicates(candidates, ref, tolerance=None)
        for c, r in exact.tolist():
            seen.setdefault(c, (name, r, "exact"))
        if tol > 0:
            near = find_duplicates(candidates, ref, tolerance=tol)
            for c, r in near.tolist():
                seen.setdefault(c, (name, r, "near"))
    positions = sorted(seen)
    frame = pd.DataFrame(
        {
            "position": np.asarray(positions, dtype=np.int64),
            "row_id": [row_ids[p] if row_ids is not None else str(p) for p in positions],
            "eval_set": [seen[p][0] for p in positions],
            "eval_position": np.asarray([seen[p][1] for p in positions], dtype=np.int64),
            "match": [seen[p][2] for p in positions],
        },
        columns=list(REFUSED_COLUMNS),
    )
    return frame


def refuse(refused: pd.DataFrame, on_leak: str, what: str) -> None:
    """Log the refused rows, or raise :class:`LeakageError` with ``on_leak="raise"``."""
    if refused.empty:
        return
    counts = refused["eval_set"].value_counts().to_dict()
    desc = ", ".join(f"{v} in {k!r}" for k, v in sorted(counts.items()))
    if on_leak == "raise":
        raise LeakageError(
            f"{len(refused)} generated {what} duplicate evaluation rows ({desc}). Remove those rows from the inputs, "
            "or pass on_leak='refuse' to drop the generated duplicates."
        )
    logger.warning("refused %d generated %s that duplicate evaluation rows (%s)", len(refused), what, desc)
