"""Input checks shared by the three stages. Each raises a one-line error naming the fix;
messages carry shapes and dtypes, never the user's data."""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import DataError, NotFittedError, ParameterError

__all__ = [
    "UNSET",
    "check_1d",
    "check_choice",
    "check_columns",
    "check_finite",
    "check_fitted",
    "check_image_shape_kept",
    "check_images",
    "check_interval",
    "check_label_kinds",
    "check_label_list",
    "check_labels",
    "check_options",
    "check_proba",
    "check_same_length",
    "model_input_channels",
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


# -- labels --------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    """None, NaN, or pandas' NA / NaT (recognised by type name: no pandas import here)."""
    return (v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))
            or type(v).__name__ in ("NAType", "NaTType"))


def _label_kind(arr: np.ndarray) -> str:
    """``"number"``, ``"string"``, ``"missing"`` or ``"mixed"`` for an array of labels."""
    if arr.dtype.kind in "biuf":
        return "number"
    if arr.dtype.kind in "US":
        return "string"
    kinds = set()
    for v in arr.tolist():
        if _is_missing(v):
            continue
        kinds.add("number" if isinstance(v, (numbers.Number, np.number)) and not isinstance(v, complex) else
                  "string" if isinstance(v, (str, bytes)) else type(v).__name__)
    if not kinds:
        return "missing"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _integral(arr: np.ndarray) -> bool:
    """Whether every finite value is a whole number (ints, bools, 0.0/1.0 floats, object numbers)."""
    if arr.dtype.kind in "iub":
        return True
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError):
        return True  # not plain numbers: nothing to say here
    finite = values[np.isfinite(values)]
    return bool((finite == np.round(finite)).all())


def check_labels(values: Any, name: str, owner: str, *, min_classes: int = 0) -> np.ndarray:
    """1-d class labels without missing values (NaN / None), of one kind (numbers or strings), and
    with at least ``min_classes`` distinct classes; returns them as an array."""
    if isinstance(values, (str, bytes)):
        raise DataError(f"{name} of {owner} must be one label per row (a list or array), not a string.")
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise DataError(f"{name} of {owner} must be 1-d (one label per row). Got shape {arr.shape} instead.")
    if arr.dtype.kind in "fc":
        missing = int((~np.isfinite(arr)).sum())
    elif arr.dtype == object:
        missing = sum(_is_missing(v) for v in arr.tolist())
    else:
        missing = 0
    if missing:
        raise DataError(
            f"{name} of {owner} holds {missing} missing (NaN or None) label(s) among {arr.shape[0]} rows. "
            "Drop those rows or fill in their labels first."
        )
    if arr.dtype == object and _label_kind(arr) == "mixed":
        raise DataError(
            f"{name} of {owner} mixes numbers and strings (dtype object). Use one kind: all class names or all class indices."
        )
    if min_classes > 1:
        found = np.unique(arr).size
        if found < min_classes:
            raise DataError(
                f"{name} of {owner} holds {found} class(es) in {arr.shape[0]} rows; {owner} needs at least "
                f"{min_classes}. Pass rows of more classes."
            )
    return arr


def check_label_kinds(y_true: Any, y_pred: Any, owner: str, names: tuple[str, str] = ("y_true", "y_pred")) -> None:
    """Both label arrays hold the same kind of value (numbers, or strings): a class name never
    equals a class index, so mixing them makes every row an error."""
    a, b = np.asarray(y_true), np.asarray(y_pred)
    ka, kb = _label_kind(a), _label_kind(b)
    if "mixed" in (ka, kb):
        which = names[0] if ka == "mixed" else names[1]
        raise DataError(
            f"{which} of {owner} mixes numbers and strings (dtype object). Use one kind: all class names or all class indices."
        )
    if {ka, kb} == {"number", "string"}:
        raise DataError(
            f"{names[0]} of {owner} holds {ka}s (dtype {a.dtype}) but {names[1]} holds {kb}s (dtype {b.dtype}). "
            "Pass both as class names or both as class indices (e.g. y_pred = np.asarray(classes)[y_pred]; for an "
            "image folder's names: y, classes = curakit.imageio.class_indices(labels, folder))."
        )
    if ka == kb == "number":
        frac = [n for n, arr in zip(names, (a, b)) if arr.dtype.kind in "fO" and arr.size and not _integral(arr)]
        whole = [n for n, arr in zip(names, (a, b)) if arr.size and _integral(arr)]
        if frac and whole:
            raise DataError(
                f"{frac[0]} of {owner} holds fractional numbers but {whole[0]} holds whole class indices: "
                f"{frac[0]} looks like probabilities or scores. Pass predicted classes (e.g. proba.argmax(axis=1)) "
                "and give probabilities as proba=."
            )


def check_label_list(labels: Any, name: str, owner: str) -> list[Any] | None:
    """A class list (``labels=``): None, or a sequence of distinct labels, never a bare string."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a list of classes, not a string "
            f"(a str of length {len(labels)} would be split into characters). Pass {name}=['a', 'b', ...]."
        )
    if isinstance(labels, Mapping) or not isinstance(labels, (Iterable, np.ndarray)):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a list of classes. Got a {type(labels).__name__} instead."
        )
    out = list(np.asarray(labels).tolist()) if isinstance(labels, np.ndarray) else list(labels)
    if len({repr(v) for v in out}) != len(out):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must not repeat a label ({len(out) - len({repr(v) for v in out})} "
            "repeated). List each class once."
        )
    return out


# -- tables and probabilities --------------------------------------------------------------
def check_columns(frame: Any, name: str, owner: str | None = None) -> Any:
    """A DataFrame whose column names are unique (a repeated name makes ``frame[col]`` a table)."""
    where = f" of {owner}" if owner else ""
    if not hasattr(frame, "columns") or not hasattr(frame, "iloc"):
        raise DataError(
            f"{name}{where} must be a pandas DataFrame with named columns. Got {type(frame).__name__} instead. "
            "Wrap an array with pd.DataFrame(X, columns=names)."
        )
    cols = frame.columns
    if not cols.is_unique:
        dups = list(dict.fromkeys(c for c, d in zip(cols, cols.duplicated()) if d))
        raise DataError(
            f"{name}{where} has {len(dups)} repeated column name(s) (first: {str(dups[0])!r}). "
            "Rename or drop the duplicates, e.g. frame.loc[:, ~frame.columns.duplicated()]."
        )
    return frame


def check_proba(proba: Any, owner: str, *, n: int | None = None, labels: Sequence[Any] | None = None,
                present: Any = None, name: str = "proba", atol: float = 1e-3) -> np.ndarray:
    """Class probabilities (n, k): finite, in [0, 1], rows summing to 1, one column per class.

    ``labels`` (an explicit class list) requires k == len(labels). Otherwise ``present`` (the
    classes found in the labels) requires k > the largest class index for integer classes (column
    j is class j), or k == the number of classes for named ones. Returns float64.
    """
    arr = np.asarray(proba)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name} of {owner} must be numeric probabilities. Got dtype {arr.dtype} instead.")
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataError(
            f"{name} of {owner} must be shaped (n, n_classes) with a column per class. Got shape {arr.shape} instead. "
            "For a binary model's positive-class scores p, pass np.column_stack([1 - p, p])."
        )
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name} of {owner} has {arr.shape[0]} rows but y_true has {n}. Pass one row per analysed prediction.")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise DataError(
            f"{name} of {owner} contains {int((~np.isfinite(arr)).sum())} NaN or inf value(s) (shape {arr.shape}). "
            "Remove or impute those rows first."
        )
    if arr.size and (arr.min() < -atol or arr.max() > 1 + atol):
        raise DataError(
            f"{name} of {owner} holds values outside [0, 1], so they are scores or logits, not probabilities. "
            "Apply a softmax first (scipy.special.softmax(logits, axis=1)) or pass model.predict_proba(X)."
        )
    off = int((np.abs(arr.sum(axis=1) - 1.0) > max(atol, 1e-6 * arr.shape[1])).sum())
    if off:
        raise DataError(
            f"{name} of {owner} has {off} of {arr.shape[0]} row(s) that do not sum to 1, so they are not class "
            "probabilities. Pass model.predict_proba(X), or a softmax of the logits."
        )
    _check_proba_columns(arr.shape, owner, name, labels, present)
    return arr


def _check_proba_columns(shape: tuple[int, ...], owner: str, name: str, labels: Any, present: Any) -> None:
    k = shape[1]
    if labels is not None:
        if k != len(labels):
            raise DataError(
                f"{name} of {owner} has {k} columns but labels lists {len(labels)} classes. "
                "Pass one probability column per class, in the order of labels."
            )
        return
    if present is None:
        return
    classes = np.unique(np.asarray(present))
    if classes.dtype.kind in "iub":
        if classes.size and int(classes.max()) >= k:
            raise DataError(
                f"{name} of {owner} has {k} columns but the labels hold a class index of {k} or more "
                "(column j is class j). Pass one probability column per class of the model."
            )
    elif classes.size != k:
        raise DataError(
            f"{name} of {owner} has {k} columns but the labels hold {classes.size} classes. Pass one probability "
            "column per class (in sorted class order), or labels= naming the column order."
        )


# -- models and options --------------------------------------------------------------------
def check_fitted(model: Any, owner: str) -> Any:
    """A scikit-learn estimator that has been fitted (torch modules and other objects pass)."""
    if hasattr(model, "parameters") and hasattr(model, "forward"):
        return model
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        return model
    from sklearn.exceptions import NotFittedError as _SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except _SkNotFitted:
        raise NotFittedError(
            f"The {type(model).__name__} passed to {owner} is not fitted. Call its fit(X, y) first, "
            "or pass the fitted estimator."
        ) from None
    except TypeError:  # not an estimator in scikit-learn's sense: nothing to check
        pass
    return model


def check_options(fn: Callable[..., Any], options: Mapping[str, Any], owner: str, *, skip: Sequence[str] = ()) -> dict:
    """``options`` checked against ``fn``'s keyword parameters (``skip`` left out): an unknown name
    is a :class:`ParameterError` with a did-you-mean and the list of known ones."""
    from .plugins import did_you_mean

    if not isinstance(options, Mapping):
        raise ParameterError(f"The options of {owner} must be a mapping of names to values. Got {type(options).__name__} instead.")
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(options)
    known = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip]
    for key in options:
        if key not in known:
            raise ParameterError(
                f"{owner} has no option {str(key)!r}.{did_you_mean(str(key), known)} "
                f"Its options are: {', '.join(known) or '(none)'}."
            )
    return dict(options)


def model_input_channels(model: Any) -> int | None:
    """Input channels of a torch model's first convolution (None when it has none)."""
    modules = getattr(model, "modules", None)
    if modules is None:
        return None
    for module in modules():
        name = getattr(module, "original_name", None) or type(module).__name__  # TorchScript: original_name
        if name.startswith("Conv") and isinstance(getattr(module, "in_channels", None), int):
            return int(module.in_channels)
    return None


def check_image_shape_kept(before: Sequence[int], after: Sequence[int], owner: str) -> None:
    """A label-keeping augmentation pipeline must return images of the input's shape."""
    if tuple(before) != tuple(after):
        raise DataError(
            f"The pipeline of {owner} changes the image shape from {tuple(before)} to {tuple(after)}; augmented "
            "images must keep the input shape (H, W, C). Remove resizing or cropping transforms, or resize "
            "the input images first."
        )
