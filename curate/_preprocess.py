"""Fitted scikit-learn preprocessing as JSON (never pickle).

:func:`preprocessor_to_dict` turns a fitted preprocessing object into plain JSON data and
:func:`preprocessor_from_dict` rebuilds it, with identical ``transform`` output. Supported
steps: :class:`~sklearn.impute.SimpleImputer`, :class:`~sklearn.preprocessing.StandardScaler`,
:class:`~sklearn.preprocessing.MinMaxScaler`, :class:`~sklearn.preprocessing.OneHotEncoder`,
identity :class:`~sklearn.preprocessing.FunctionTransformer` (what ``"passthrough"`` becomes),
combined with :class:`~sklearn.pipeline.Pipeline` and :class:`~sklearn.compose.ColumnTransformer`
(``"passthrough"`` and ``"drop"`` included). Anything else raises a :class:`DataError` naming
the step.

Each estimator is stored as its class name and its complete attribute state (parameters and
fitted attributes), values typed so numpy arrays, dtypes and slices come back exactly. The
scikit-learn version is recorded; loading under another version logs a warning, because
fitted attribute layouts can change between releases.

:func:`default_preprocessor` is the pipeline ``TrainingSetBuilder.preprocess()`` fits:
numeric columns imputed and standardised, other columns imputed and one-hot encoded.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError
from curakit.records import check_keys, check_schema_version

__all__ = ["SUPPORTED_STEPS", "default_preprocessor", "preprocessor_from_dict", "preprocessor_to_dict"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: The estimator classes that can be saved, by their import path.
SUPPORTED_STEPS = {
    "SimpleImputer": "sklearn.impute",
    "StandardScaler": "sklearn.preprocessing",
    "MinMaxScaler": "sklearn.preprocessing",
    "OneHotEncoder": "sklearn.preprocessing",
    "Pipeline": "sklearn.pipeline",
    "ColumnTransformer": "sklearn.compose",
    "FunctionTransformer": "sklearn.preprocessing",  # identity only: ColumnTransformer's "passthrough"
}


def default_preprocessor(frame: pd.DataFrame, features: Sequence[str], *, impute: str = "median", scale: bool = True):
    """Numeric features: impute (``impute`` strategy) then standardise (when ``scale``);
    other features: impute the most frequent value, then one-hot encode (unknown values -> all zeros)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, other = [], []
    for col in features:
        dtype = frame[col].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numeric.append(col)
        else:
            other.append(col)
    parts = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy=impute))]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), numeric))
    if other:
        parts.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent", missing_values=pd.NA)),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                other,
            )
        )
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


# -- typed JSON values -----------------------------------------------------------------------
def _float(x: float) -> Any:
    if math.isnan(x):
        return {"__float__": "nan"}
    if math.isinf(x):
        return {"__float__": "inf" if x > 0 else "-inf"}
    return x


def _encode(value: Any, where: str) -> Any:
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, str)):
        return value
    if value is pd.NA:
        return {"__na__": True}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, BaseEstimator):
        return _encode_estimator(value, where)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__ndarray__": [_encode(v, where) for v in value.ravel().tolist()], "dtype": "object",
                    "shape": list(value.shape)}
        if value.dtype.kind in "biuf":
            flat = [_float(v) if isinstance(v, float) else v for v in value.ravel().tolist()]
            return {"__ndarray__": flat, "dtype": value.dtype.str, "shape": list(value.shape)}
        if value.dtype.kind == "U":
            return {"__ndarray__": value.ravel().tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
        raise DataError(f"Cannot save a {value.dtype} array found in {where} as JSON.")
    if isinstance(value, np.generic):
        return {"__scalar__": _encode(value.item(), where), "dtype": value.dtype.str}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.str if value.kind != "O" else "object"}
    if isinstance(value, type) and issubclass(value, np.generic):
        return {"__dtype_type__": np.dtype(value).str}
    if isinstance(value, slice):
        return {"__slice__": [value.start, value.stop, value.step]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    if isinstance(value, pd.Index):
        return {"__ndarray__": [_encode(v, where) for v in value.tolist()], "dtype": "object",
                "shape": [len(value)]}
    raise DataError(
        f"Cannot save {type(value).__name__} found in {where} as JSON. Supported preprocessing steps: "
        f"{sorted(SUPPORTED_STEPS)}."
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__na__" in value:
        return pd.NA
    if "__estimator__" in value:
        return _decode_estimator(value)
    if "__ndarray__" in value:
        dtype = value["dtype"]
        items = [_decode(v) for v in value["__ndarray__"]]
        if dtype == "object":
            arr = np.empty(len(items), dtype=object)
            arr[:] = items
        else:
            arr = np.array(items, dtype=np.dtype(dtype))
        return arr.reshape(value["shape"])
    if "__scalar__" in value:
        return np.dtype(value["dtype"]).type(_decode(value["__scalar__"]))
    if "__dtype__" in value:
        return np.dtype(object) if value["__dtype__"] == "object" else np.dtype(value["__dtype__"])
    if "__dtype_type__" in value:
        return np.dtype(value["__dtype_type__"]).type
    if "__slice__" in value:
        return slice(*value["__slice__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_hashable(_decode(k)): _decode(v) for k, v in value["__dict__"]}
    raise DataError(f"Unknown value in a saved preprocessor: keys {sorted(value)}. The file is damaged; rebuild it.")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _encode_estimator(est: Any, where: str) -> dict[str, Any]:
    name = type(est).__name__
    module = SUPPORTED_STEPS.get(name)
    if module is None or not type(est).__module__.startswith(module):
        raise DataError(
            f"Cannot save preprocessing step {name} ({where}) as JSON. Supported steps: {sorted(SUPPORTED_STEPS)}; "
            "use those, or build the training set without preprocess()."
        )
    if name == "FunctionTransformer" and (est.func is not None or est.inverse_func is not None):
        raise DataError(
            f"Cannot save a FunctionTransformer with a function ({where}) as JSON: only the identity "
            "(ColumnTransformer's 'passthrough') is supported. Use the supported steps instead."
        )
    state = {key: _encode(val, f"{where}.{name}.{key}") for key, val in vars(est).items()}
    return {"__estimator__": name, "state": state}


def _decode_estimator(data: dict[str, Any]) -> Any:
    name = data["__estimator__"]
    if name not in SUPPORTED_STEPS:
        raise DataError(f"A saved preprocessor names an unsupported step {name!r}. Rebuild the training set.")
    cls = getattr(importlib.import_module(SUPPORTED_STEPS[name]), name)
    est = cls.__new__(cls)
    est.__dict__.update({key: _decode(val) for key, val in data["state"].items()})
    return est


def preprocessor_to_dict(preprocessor: Any) -> dict[str, Any]:
    """JSON-able dict of a fitted preprocessing object (see the module docstring for what is supported)."""
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    if preprocessor is None:
        raise DataError("There is no preprocessor to save. Call preprocess() on the builder first.")
    try:
        check_is_fitted(preprocessor)
    except Exception as exc:  # sklearn's NotFittedError, or a TypeError for non-estimators
        raise DataError(
            f"The preprocessor {type(preprocessor).__name__} is not a fitted scikit-learn transformer. "
            "Fit it before saving."
        ) from exc
    return {
        "schema_version": SCHEMA_VERSION,
        "sklearn_version": sklearn.__version__,
        "estimator": _encode_estimator(preprocessor, "preprocessor"),
    }


def preprocessor_from_dict(data: dict[str, Any]) -> Any:
    """Inverse of :func:`preprocessor_to_dict`."""
    import sklearn

    check_schema_version(data, "Preprocessor", SCHEMA_VERSION, fix="Rebuild the training set.", required=True)
    check_keys(data, "Preprocessor", ("estimator",), ("sklearn_version",), fix="Rebuild the training set.")
    saved = data.get("sklearn_version")
    if saved != sklearn.__version__:
        logger.warning(
            "Preprocessor saved with scikit-learn %s is loaded with %s; check its output.", saved, sklearn.__version__
        )
    return _decode_estimator(data["estimator"])
