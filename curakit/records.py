"""Plain JSON values for report records (SHAP, Grad-CAM, drift): numpy scalars and arrays
become Python values and lists, and non-finite floats become None (JSON has no NaN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["json_ready", "plain_value"]


def plain_value(v: Any) -> Any:
    """One value: numpy scalar -> Python scalar; NaN / inf -> None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def json_ready(obj: Any) -> Any:
    """Mappings, lists, tuples and arrays converted recursively with :func:`plain_value`."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_ready(v) for v in obj]
    return plain_value(obj)
