"""Record plumbing shared by every saved result (slices, reports, lineage, manifests, recipes).

One JSON policy for every record: numpy scalars and arrays become Python values and lists;
``NaN`` becomes ``null``; ``+inf`` / ``-inf`` become the strings ``"inf"`` / ``"-inf"`` (JSON has
neither, and a rule bound of ``-inf`` must survive a round trip; :func:`float_value` reads them
back). One ``schema_version`` check: a record written by another version is refused with a
one-line :class:`~curakit.exceptions.DataError` naming the record and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import DataError

__all__ = [
    "check_keys",
    "check_schema_version",
    "float_value",
    "index_array",
    "json_ready",
    "load_json",
    "parse_json",
    "plain_value",
]


def plain_value(v: Any) -> Any:
    """One value: numpy scalar -> Python scalar; NaN -> None; +-inf -> "inf" / "-inf"."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def json_ready(obj: Any) -> Any:
    """Mappings, lists, tuples and arrays converted recursively with :func:`plain_value`."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_ready(v) for v in obj]
    return plain_value(obj)


def float_value(v: Any) -> float:
    """The inverse of :func:`plain_value` for a number: None -> NaN, "inf" / "-inf" -> +-inf."""
    if v is None:
        return math.nan
    return float(v)


def check_schema_version(
    data: Mapping[str, Any], record: str, supported: int, *, fix: str = "Re-create it with this version of curakit.",
    required: bool = False, error: type[Exception] = DataError,
) -> None:
    """Refuse ``data`` written with another ``schema_version`` than ``supported``.

    ``record`` names what is being read (``"Slice"``, ``"Training set"``); a missing version is
    taken as ``supported`` unless ``required``; ``error`` is the exception class raised
    (:class:`~curakit.exceptions.DataError` unless the caller has a more specific one).
    """
    if not isinstance(data, Mapping):
        raise error(f"{record} record must be a JSON object (a mapping). Got a {type(data).__name__} instead. {fix}")
    version = data.get("schema_version", None if required else supported)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise error(
            f"{record} schema_version must be the integer {supported}. Got a {type(version).__name__} "
            f"({version!r}) instead. Write schema_version: {supported} without quotes."
        )
    if version != supported:
        raise error(
            f"{record} schema_version {version} is not supported (this curakit reads {supported}). {fix}"
        )


def check_keys(data: Any, record: str, required: Sequence[str], optional: Sequence[str] = (), *,
               fix: str = "Re-create it with this version of curakit.", error: type[Exception] = DataError) -> None:
    """``data`` is a mapping holding every ``required`` key and no key outside ``required`` and
    ``optional`` (``schema_version`` is always allowed); else a one-line error with a did-you-mean."""
    from .plugins import did_you_mean

    if not isinstance(data, Mapping):
        raise error(f"{record} record must be a JSON object (a mapping). Got a {type(data).__name__} instead. {fix}")
    missing = [k for k in required if k not in data]
    if missing:
        raise error(f"{record} record lacks the key(s) {', '.join(map(repr, missing))}. {fix}")
    known = [*required, *optional, "schema_version"]
    unknown = [str(k) for k in data if k not in known]
    if unknown:
        raise error(
            f"{record} record has unknown key(s) {', '.join(map(repr, unknown))}.{did_you_mean(unknown[0], known)} "
            f"Known keys: {', '.join(known)}."
        )


def index_array(values: Any, record: str, key: str = "indices") -> np.ndarray:
    """A record's row positions as an int64 array: a flat list of non-negative integers."""
    if isinstance(values, (str, bytes, Mapping)) or values is None:
        raise DataError(f"{record} key {key!r} must be a list of row positions (integers). "
                        f"Got a {type(values).__name__} instead.")
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged nesting
        arr = np.asarray([None])
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    integral = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all())
    if arr.ndim != 1 or arr.dtype.kind == "b" or not integral:
        raise DataError(
            f"{record} key {key!r} must be a flat list of row positions (integers). Got {arr.ndim}-d values of "
            f"dtype {arr.dtype} instead. Re-create the record, or pass integer positions."
        )
    if (arr < 0).any():
        raise DataError(f"{record} key {key!r} holds negative row positions. Pass positions counted from 0.")
    return arr.astype(np.int64)


def parse_json(text: str | bytes, record: str, source: str | None = None) -> Any:
    """``json.loads`` whose failure is one :class:`DataError` naming the record (and file)."""
    where = f" {source!r}" if source else ""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        at = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise DataError(
            f"{record} file{where} is not valid JSON (truncated or damaged{at}). "
            "Re-create it, or restore it from a copy."
        ) from None


def load_json(path: str | os.PathLike, record: str) -> Any:
    """A JSON file read with :func:`parse_json` (a missing file raises ``FileNotFoundError``)."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{record} path {p.name!r} is a folder, not a JSON file. Pass the file's path.")
    return parse_json(p.read_bytes(), record, p.name)
