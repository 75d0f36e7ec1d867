"""How :class:`curate.TrainingSetBuilder` reads its inputs (old / new tables or image sets, the
time axis, eval sets, ``near=``) as plain functions of the builder, bound as its methods."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.validation import check_images
from curate._windows import TimeAxis, parse_time

from .sources import OWNER
from .sources import Source as _Source
from .sources import check_label_kinds, label_kind
from .sources import check_labels as _check_labels
from .sources import is_float as _is_float
from .sources import is_image_source as _is_image_source

logger = logging.getLogger("curate._builder")  # the builder's log, as before these moved here

NEAR_DEFAULT = {"tabular": 0.01, "images": 0.02}


# -- input parsing ------------------------------------------------------------------------
def tabular_sources(builder: Any, old: Any, new: Any, time: str | None, features: Sequence[str] | None):
    for name, frame in (("old", old), ("new", new)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(
                f"{name} must be a DataFrame (tabular) or an image set (images, labels). "
                f"Got {type(frame).__name__} instead."
            )
    features = choose_features(builder, {"old": list(old.columns), "new": list(new.columns)}, time, features)
    builder.features = features
    builder.time = time
    sources = []
    for name, frame in (("old", old), ("new", new)):
        _check_labels(frame[builder.target], name, builder.target)
    check_label_kinds({name: label_kind(f[builder.target]) for name, f in (("old", old), ("new", new))}, builder.target)
    for name, frame in (("old", old), ("new", new)):
        if len(frame) == 0:
            raise DataError(f"{name} has no rows. Pass at least one row of old and new data.")
        if time is not None:
            t, axis_kind, values = parse_time(frame[time], name, time)
        else:
            t, axis_kind, values = None, "order", None
        sources.append(_Source(name=name, frame=frame, images=None, t=t, time_values=values))
        sources[-1].axis_kind = axis_kind
    return sources

def choose_features(builder: Any, columns: dict[str, list[Any]], time: str | None,
                    features: Sequence[str] | None) -> list[Any]:
    """The feature columns, checking that old and new (``columns``: name -> column list) hold the
    target, the time and every feature (shared by the pandas and the Dask engines)."""
    for name, cols in columns.items():
        if builder.target not in cols:
            raise DataError(
                f"The target column {builder.target!r} is not in {name} ({len(cols)} columns). "
                "Pass target= naming the label column."
            )
        if time is not None and time not in cols:
            raise DataError(
                f"The time column {time!r} is not in {name} ({len(cols)} columns). "
                "Pass time= naming the time column, or time=None."
            )
    old, new = columns["old"], columns["new"]
    if features is None:
        if set(old) != set(new):
            only_old = sorted(map(str, set(old) - set(new)))
            only_new = sorted(map(str, set(new) - set(old)))
            raise DataError(
                f"old and new have different columns (only in old: {only_old}; only in new: {only_new}). "
                "Pass the same columns in both, or choose them with features=."
            )
        features = [c for c in old if c != builder.target and c != time]
    else:
        features = list(features)
        for name, cols in columns.items():
            absent = [str(c) for c in features if c not in cols]
            if absent:
                raise DataError(f"Feature column(s) {absent} are not in {name}. Pass features= naming columns of both.")
        if builder.target in features or (time is not None and time in features):
            raise ParameterError(f"The 'features' parameter of {OWNER} must not include the target or time column.")
    if not features:
        raise DataError(f"{OWNER} found no feature columns besides the target and time. Pass features=.")
    if len(set(features)) != len(features):
        raise DataError("The feature columns are not unique. Give each column one name.")
    return features


def image_source(builder: Any, obj: Any, name: str, time: str | None) -> _Source:
    times = None
    if isinstance(obj, Mapping):
        images = obj["images"]
        key = builder.target if builder.target in obj else "labels"
        if key not in obj:
            raise DataError(
                f"The image set {name} has no labels: give a {builder.target!r} or 'labels' entry beside 'images'."
            )
        labels = obj[key]
        tkey = time or "time"
        if time is not None and time not in obj:
            raise DataError(f"The time key {time!r} is not in {name}. Pass time= naming its time entry, or time=None.")
        times = obj.get(tkey)
    else:
        images, labels = obj[0], obj[1]
        times = obj[2] if len(obj) == 3 else None
    images = check_images(images, f"{name} images")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{name} images and labels differ in length (images={len(images)}, labels={labels.shape[0] if labels.ndim else 0}). "
            "Pass one label per image."
        )
    if len(images) == 0:
        raise DataError(f"{name} has no rows. Pass at least one image of old and new data.")
    frame = pd.DataFrame({builder.target: labels})
    _check_labels(frame[builder.target], name, builder.target)
    src = _Source(name=name, frame=frame, images=images, t=None)
    if times is not None:
        times = pd.Series(np.asarray(times) if not isinstance(times, pd.Series) else times.to_numpy())
        if len(times) != len(images):
            raise DataError(
                f"{name} images and times differ in length (images={len(images)}, time={len(times)}). "
                "Pass one time per image."
            )
        src.t, src.axis_kind, src.time_values = parse_time(times, name, time or "time")
    return src

def make_axis(builder: Any) -> TimeAxis:
    kinds = {builder.old.axis_kind, builder.new.axis_kind}
    if len(kinds) > 1:
        raise DataError(
            f"The time column {builder.time!r} holds dates in one source and numbers in the other. "
            "Give both the same kind of time."
        )
    kind = kinds.pop()
    if kind == "order":
        builder.old.t = np.arange(len(builder.old), dtype=np.int64)
        builder.new.t = np.arange(len(builder.old), len(builder.old) + len(builder.new), dtype=np.int64)
    return TimeAxis(kind)

def eval_sets(builder: Any, eval_sets: Any) -> dict[str, Any]:
    dask_one = builder.engine == "dask" and (_is_dask_frame(eval_sets) or isinstance(eval_sets, (str, os.PathLike)))
    if isinstance(eval_sets, pd.DataFrame) or _is_image_source(eval_sets) or dask_one:
        items = {"eval": eval_sets}
    elif isinstance(eval_sets, Mapping):
        items = dict(eval_sets)
    elif isinstance(eval_sets, (list, tuple)):
        items = {f"eval_{k}": v for k, v in enumerate(eval_sets)}
    else:
        raise ParameterError(
            f"The 'eval_sets' parameter of {OWNER}.exclude must be a DataFrame, an image set, or a mapping "
            f"name -> one of those. Got {type(eval_sets).__name__} instead."
        )
    out = {}
    for name, value in items.items():
        if builder.kind == "tabular":
            if builder.engine == "dask" and isinstance(value, (str, os.PathLike)):
                value = _read_eval(value, name)
            if not isinstance(value, pd.DataFrame) and not (builder.engine == "dask" and _is_dask_frame(value)):
                raise DataError(f"Evaluation set {name!r} must be a DataFrame like old and new. Got {type(value).__name__}.")
            absent = [str(c) for c in builder.features if c not in value.columns]
            if absent:
                raise DataError(
                    f"Evaluation set {name!r} lacks feature column(s) {absent}. Pass rows with the training features."
                )
            out[str(name)] = value[builder.features]
        else:
            if not _is_image_source(value):
                raise DataError(
                    f"Evaluation set {name!r} must be an image set (images, labels) or {{'images': ...}}. "
                    f"Got {type(value).__name__}."
                )
            images = check_images(value["images"] if isinstance(value, Mapping) else value[0], f"eval set {name!r} images")
            if images.shape[1:] != builder.old.images.shape[1:]:
                raise DataError(
                    f"Evaluation set {name!r} images are shaped {images.shape[1:]} but training images "
                    f"{builder.old.images.shape[1:]}. Resize them to one shape first."
                )
            out[str(name)] = images
    return out

def _read_eval(path: Any, name: Any) -> Any:
    """An evaluation set given as a Parquet path (Dask engine), read lazily."""
    from pathlib import Path

    from curakit.optional import import_optional

    if not Path(path).exists():
        raise DataError(f"Evaluation set {name!r} path {str(path)!r} does not exist. Pass a Parquet file or folder.")
    try:
        return import_optional("dask.dataframe").read_parquet(str(path))
    except Exception as exc:  # pyarrow / dask reading errors
        raise DataError(f"Evaluation set {name!r} does not read as Parquet ({type(exc).__name__}). Pass a Parquet file or folder.") from None


def _is_dask_frame(obj: Any) -> bool:
    return type(obj).__module__.split(".", 1)[0] == "dask" and hasattr(obj, "columns")


def near(builder: Any, near: Any, method: str) -> float:
    if near is False or near is None:
        return 0.0
    if near is True:
        return NEAR_DEFAULT[builder.kind]
    hi = 1.0 if builder.kind == "images" else np.inf
    if not _is_float(near) or not 0 < near <= hi:
        rng = "(0.0, 1.0]" if builder.kind == "images" else "(0.0, inf)"
        raise ParameterError(
            f"The 'near' parameter of {OWNER}.{method} must be False, True or a tolerance in the range {rng}. "
            f"Got {near!r} instead."
        )
    return float(near)
