"""Which rows to fill: ``select=`` / ``target=`` resolved into groups of row positions.

A selection is one of

* ``None`` -- every row (one group, ``"all"``);
* a :class:`~diagnose.Slice` -- its rows among the given ones (one group named by the slice id),
  or a list of slices (one group each);
* a boolean mask (one entry per row) or a sequence of row positions (one group, ``"selected"``);
* ``{"classes": [3, 8]}`` -- one group per class label;
* ``{"indices": [...]}`` -- the explicit form of row positions.

A plain sequence of integers is always read as row positions; classes are named with the
``{"classes": [...]}`` form so that the two can never be confused.

A slice is re-applied with :meth:`Slice.contains` when its definition can be evaluated on the
inputs at hand (a ``class`` slice on ``labels``, a ``rule`` slice on ``features``, a
``centroid`` slice on ``embeddings``); otherwise its ``indices`` are used, which requires the
rows to be the very rows the slice was found on (``slice.n_analysed`` equal to their number).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from diagnose import Slice

__all__ = ["Group", "resolve_groups", "check_count"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """Rows selected together: ``id`` names them in row ids (``aug:<id>:<k>``)."""

    id: str
    positions: np.ndarray
    slice_ids: tuple[str, ...] = ()
    label: Any = None  # the class label, for a class group
    description: str = ""


def _slice_positions(s: Slice, n_rows: int, *, labels: Any, features: Any, embeddings: Any, owner: str) -> np.ndarray:
    kind = s.definition.get("kind")
    inputs = {"class": labels, "rule": features, "centroid": embeddings}
    if kind in inputs and inputs[kind] is not None:
        mask = np.asarray(
            s.contains(features=features, embeddings=embeddings, labels=labels), dtype=bool
        )
        if mask.shape != (n_rows,):
            raise DataError(
                f"Slice {s.id!r} re-applied to the given rows returned {mask.shape[0]} flags for {n_rows} rows. "
                "Pass features/embeddings/labels for the same rows as the data."
            )
        return np.flatnonzero(mask)
    if s.n_analysed == n_rows:
        return np.asarray(s.indices, dtype=np.int64)
    need = {"class": "labels", "rule": "features=", "centroid": "embeddings="}.get(kind)
    how = f"Pass {need} for these rows, or" if need else "Pass"
    raise DataError(
        f"Slice {s.id!r} was found on {s.n_analysed} analysed rows but {owner} got {n_rows} rows, and its "
        f"{kind!r} definition cannot be re-applied here. {how} the rows the slice was found on."
    )


def _as_positions(values: Any, n_rows: int, param: str, owner: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ParameterError(
            f"The {param!r} parameter of {owner} must be 1-d (a mask or row positions). Got shape {arr.shape} instead."
        )
    if arr.dtype == bool:
        if arr.shape[0] != n_rows:
            raise DataError(
                f"The {param!r} mask of {owner} has {arr.shape[0]} entries for {n_rows} rows. Pass one flag per row."
            )
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(
            f"The {param!r} parameter of {owner} got values of dtype {arr.dtype}; a sequence is read as row positions "
            "(ints) or a boolean mask. To select classes pass {'classes': [...]}."
        )
    if arr.min() < 0 or arr.max() >= n_rows:
        raise DataError(
            f"The {param!r} positions of {owner} must lie in [0, {n_rows}). Got range [{arr.min()}, {arr.max()}] instead."
        )
    return np.unique(arr.astype(np.int64))


def resolve_groups(
    select: Any,
    n_rows: int,
    *,
    labels: Any = None,
    features: Any = None,
    embeddings: Any = None,
    param: str = "select",
    owner: str = "offline",
) -> list[Group]:
    """Turn a selection into groups of row positions (see the module docstring)."""
    if select is None:
        return [Group(id="all", positions=np.arange(n_rows, dtype=np.int64), description="all rows")]
    if isinstance(select, Slice):
        select = [select]
    if isinstance(select, Sequence) and not isinstance(select, (str, bytes)) and select and all(
        isinstance(s, Slice) for s in select
    ):
        groups = []
        for s in select:
            pos = _slice_positions(s, n_rows, labels=labels, features=features, embeddings=embeddings, owner=owner)
            groups.append(Group(id=s.id, positions=pos, slice_ids=(s.id,), description=s.description))
        _check_unique_ids(groups, param, owner)
        return _check_nonempty(groups, param, owner)
    if isinstance(select, Mapping):
        keys = set(select)
        if keys == {"classes"}:
            if labels is None:
                raise ParameterError(f"{owner} got {param}={{'classes': ...}} but no labels. Pass labels.")
            classes = select["classes"]
            if np.isscalar(classes) or classes is None:
                classes = [classes]
            lab = np.asarray(labels)
            groups = []
            for c in list(dict.fromkeys(classes)):
                pos = np.flatnonzero(lab == c)
                groups.append(Group(id=str(c), positions=pos, label=c, description=f"class {c}"))
            return _check_nonempty(groups, param, owner)
        if keys == {"indices"}:
            pos = _as_positions(select["indices"], n_rows, param, owner)
            return _check_nonempty([Group(id="selected", positions=pos, description="selected rows")], param, owner)
        raise ParameterError(
            f"The {param!r} parameter of {owner} takes a mapping with one key, 'classes' or 'indices'. "
            f"Got keys {sorted(map(str, keys))} instead."
        )
    if isinstance(select, (str, bytes)) or isinstance(select, numbers.Number):
        raise ParameterError(
            f"The {param!r} parameter of {owner} must be a Slice, a boolean mask, row positions or "
            f"{{'classes': [...]}}. Got {type(select).__name__} instead."
        )
    try:
        pos = _as_positions(select, n_rows, param, owner)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, (DataError, ParameterError)):
            raise
        raise ParameterError(
            f"The {param!r} parameter of {owner} must be a Slice, a boolean mask, row positions or "
            f"{{'classes': [...]}}. Got {type(select).__name__} instead."
        ) from None
    return _check_nonempty([Group(id="selected", positions=pos, description="selected rows")], param, owner)


def _check_unique_ids(groups: list[Group], param: str, owner: str) -> None:
    ids = [g.id for g in groups]
    if len(set(ids)) != len(ids):
        raise ParameterError(f"The {param!r} parameter of {owner} lists a slice twice. Pass each slice once.")


def _check_nonempty(groups: list[Group], param: str, owner: str) -> list[Group]:
    for g in groups:
        if g.positions.size == 0:
            what = f"slice {g.id!r}" if g.slice_ids else (f"class {g.label!r}" if g.label is not None else "selection")
            raise DataError(
                f"The {what} given as {param}= to {owner} matches 0 of the {owner} rows. "
                "Check that it refers to these rows."
            )
    return groups


def check_count(value: Any, name: str, owner: str, *, allow_mapping: bool = True) -> int | dict[Any, int] | None:
    """``None``, a non-negative int, or (when allowed) a mapping {class label: non-negative int}."""
    what = "a non-negative int" + (" or a mapping {class label: count}" if allow_mapping else "")
    if value is None:
        return None
    if isinstance(value, Mapping):
        if not allow_mapping:
            raise ParameterError(f"The {name!r} parameter of {owner} must be {what}. Got a mapping instead.")
        out = {}
        for k, v in value.items():
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ParameterError(
                    f"The {name!r} parameter of {owner} must be {what}. Got {v!r} for class {k!r} instead."
                )
            out[k] = int(v)
        return out
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"The {name!r} parameter of {owner} must be {what}. Got {value!r} instead.")
    return int(value)
