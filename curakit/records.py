"""Record plumbing shared by every saved result (slices, reports, lineage, manifests, recipes).

One JSON policy for every record: numpy scalars and arrays become Python values and lists;
``NaN`` becomes ``null``; ``+inf`` / ``-inf`` become the strings ``"inf"`` / ``"-inf"`` (JSON has
neither, and a rule bound of ``-inf`` must survive a round trip; :func:`float_value` reads them
back). One ``schema_version`` check: a record written by another version is refused with a
one-line :class:`~curakit.exceptions.DataError` naming the record and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .exceptions import DataError

__all__ = ["check_schema_version", "float_value", "json_ready", "plain_value"]


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
    version = data.get("schema_version", None if required else supported)
    if version != supported:
        raise error(
            f"{record} schema_version {version} is not supported (this curakit reads {supported}). {fix}"
        )
