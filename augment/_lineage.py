"""Lineage: every row of a training set can answer "why am I here?".

A :class:`LineageRow` records where a row comes from (``origin``, ``source``), what it was made
from (``parent_ids``), how (``operation`` and its exact ``params``), for which slices
(``slice_ids``), with which ``seed``, and the ``reason`` it is in the training set.
Manifests are DataFrames with one row per :class:`LineageRow`; list and dict fields are JSON
strings there, so a manifest is written to Parquet or CSV without pickling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.records import check_schema_version, json_ready

__all__ = ["LINEAGE_COLUMNS", "ORIGINS", "LineageRow", "lineage_frame", "lineage_rows"]

SCHEMA_VERSION = 1

#: Where a row comes from.
ORIGINS = ("old", "new", "augmented", "synthetic")

LINEAGE_COLUMNS = (
    "row_id",
    "origin",
    "source",
    "parent_ids",
    "operation",
    "params",
    "slice_ids",
    "seed",
    "reason",
)

_JSON_FIELDS = ("parent_ids", "params", "slice_ids")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageRow:
    """One row's lineage.

    row_id : unique id within a training set (``"old:17"``, ``"new:3"``, ``"aug:clusters-1a2b:0"``).
    origin : one of :data:`ORIGINS`.
    source : the data set, file or folder it came from (``"old"``, ``"images/cat_01.png"``).
    parent_ids : ids of the rows it was generated from (empty for original rows; two for SMOTE).
    operation : ``"original"``, ``"albumentations"``, ``"smote"``, ``"random_over"``, ...
    params : the exact parameters of the operation (JSON-able), enough to replay it.
    slice_ids : ids of the slices it was made for or belongs to.
    seed : the seed that produced it (None for original rows).
    reason : why it is in the training set, readable.
    """

    row_id: str
    origin: str
    source: str = ""
    parent_ids: tuple[str, ...] = ()
    operation: str = "original"
    params: dict[str, Any] = field(default_factory=dict)
    slice_ids: tuple[str, ...] = ()
    seed: int | None = None
    reason: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.row_id, str) or not self.row_id:
            raise ParameterError(f"LineageRow.row_id must be a non-empty string. Got {self.row_id!r} instead.")
        if self.origin not in ORIGINS:
            raise ParameterError(
                f"The 'origin' of LineageRow must be one of {list(ORIGINS)}. Got {self.origin!r} instead."
            )
        object.__setattr__(self, "parent_ids", tuple(str(p) for p in self.parent_ids))
        object.__setattr__(self, "slice_ids", tuple(str(s) for s in self.slice_ids))
        object.__setattr__(self, "params", json_ready(dict(self.params)))
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "row_id": self.row_id,
            "origin": self.origin,
            "source": self.source,
            "parent_ids": list(self.parent_ids),
            "operation": self.operation,
            "params": self.params,
            "slice_ids": list(self.slice_ids),
            "seed": self.seed,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageRow:
        d = dict(data)
        check_schema_version(d, "Lineage", SCHEMA_VERSION)
        d.pop("schema_version", None)
        d["parent_ids"] = tuple(d.get("parent_ids") or ())
        d["slice_ids"] = tuple(d.get("slice_ids") or ())
        return cls(**d)


def lineage_frame(rows: Iterable[LineageRow]) -> pd.DataFrame:
    """A manifest DataFrame (columns :data:`LINEAGE_COLUMNS`); list/dict fields as JSON text."""
    records = []
    for row in rows:
        d = row.to_dict()
        d.pop("schema_version")
        for key in _JSON_FIELDS:
            d[key] = json.dumps(d[key], sort_keys=True)
        records.append(d)
    frame = pd.DataFrame.from_records(records, columns=list(LINEAGE_COLUMNS))
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def lineage_rows(frame: pd.DataFrame) -> list[LineageRow]:
    """Inverse of :func:`lineage_frame`."""
    missing = [c for c in LINEAGE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"Manifest lacks column(s) {missing}. A manifest needs {list(LINEAGE_COLUMNS)}.")
    out = []
    for rec in frame[list(LINEAGE_COLUMNS)].to_dict("records"):
        for key in _JSON_FIELDS:
            value = rec[key]
            rec[key] = json.loads(value) if isinstance(value, str) else value
        seed = rec["seed"]
        rec["seed"] = None if seed is None or pd.isna(seed) else int(seed)
        out.append(LineageRow.from_dict(rec))
    return out


