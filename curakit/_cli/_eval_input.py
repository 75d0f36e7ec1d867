"""One reader of the labelled data a command scores on: ``curakit retrain``'s eval sets, ``curakit
estimate``'s old / new / fills, and ``curakit augment`` output folders with their lineage.

:func:`read_labelled` reads a table (Parquet/CSV) or image data (``curakit.imageio.read_images``: a
``<class>/<image>.png`` folder, an ``.npz``, a table of image paths). Image labels that name classes
become class indices through one class list; ``class_list`` says where that list comes from:

* ``"first"`` (``curakit estimate``): the first named source's own classes (``classes.txt``, sorted
  folder names, an ``.npz``'s ``classes``) unless ``classes`` is given; later sources map into it;
* ``"training set"`` (``curakit retrain``): ``classes`` is the training set's list
  (``info["classes"]``, written by ``curakit build``); without one, named classes are an error.

:func:`read_augment_output` reads a folder written by ``curakit augment`` as ``curakit build --add``
reads it (``augment.json``, ``manifest.parquet``, ``images/`` or ``table.parquet``; the Dask layout
``images/shard-<s>/...`` with a partitioned ``manifest.parquet`` too): the rows it made, their labels
in the same class list, and each row's parent position in the data it was augmented from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError

__all__ = ["AugmentOutput", "is_augment_output", "read_augment_output", "read_labelled"]

CLASS_LISTS = ("first", "training set")


def _class_names(labels: np.ndarray, src: Path, label: str, classes: list[str] | None, class_list: str,
                 listed: list[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Named labels -> class indices by the one class list (see the module's docstring)."""
    from curakit.imageio import class_indices

    if class_list not in CLASS_LISTS:
        raise ParameterError(f"class_list must be one of {list(CLASS_LISTS)}. Got {class_list!r} instead.")
    if classes is None and class_list == "training set":
        raise DataError(f"{label} names its classes but the training set has no class list. Build "
                        "it from image data with class-name folders (curakit build), or use class indices.")
    if classes is None and listed:
        classes = list(listed)
    indices, names = class_indices(labels, src, classes=classes)
    return indices, (classes if classes is not None else names)


def read_labelled(path: str | Path, what: str, *, classes: list[str] | None = None, class_list: str = "first",
                  target: str | None = None, need_target: bool = False, resize: Any = None,
                  name: str | None = None) -> tuple[Any, list[str] | None]:
    """``path`` -> (a DataFrame, or ``(images, labels)`` with class indices) and the class list.

    what : the role, in messages and for ``curakit.io.read_table`` (``"--old"``, ``"Eval set"``).
    target : the label column: of tables, and of a table of image paths (default ``label``).
    need_target : a table without ``target`` is a one-line error (``curakit estimate``).
    name : the eval set's name, in the class-list message (``Eval set 'new' names its classes ...``).
    """
    from curakit.imageio import is_image_source, read_images

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if is_image_source(p):
        images, labels, _ = read_images(p, resize=resize, label_col=target or "label")
        if labels.dtype.kind not in "iu":
            labels, classes = _class_names(labels, p, f"{what} {name!r}" if name else what, classes, class_list)
        return (images, labels), classes
    if need_target and target is None:
        raise ParameterError(f"{what} is a table; pass --target naming its label column.")
    from curakit.io import read_table

    return read_table(p, what), classes


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AugmentOutput:
    """What a ``curakit augment`` folder made.

    fill : the made rows in the form ``curate.estimate_fill_value`` / ``TrainingSetBuilder.add`` take:
        an ``augment.AugmentedSet`` (labels as class indices when the classes are named) or, for
        tables, ``(X, y, manifest)`` of the made rows only (a SMOTE table's input rows are dropped).
    labels : the label of each made row (class indices for named image classes).
    parents : each made row's parent position in the data it was augmented from (``augment.json``
        ``input``); for SMOTE rows the first of their two parents.
    record : ``augment.json`` (``{}`` when the folder has none).
    kind : ``"images"`` or ``"table"``.
    """

    fill: Any
    labels: np.ndarray
    parents: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)
    kind: str = "images"

    @property
    def input(self) -> Path | None:
        """The data it was augmented from (``augment.json`` ``input``), or None."""
        given = self.record.get("input")
        return Path(given) if given else None

    @property
    def n_input(self) -> int | None:
        """How many rows that data had when it was augmented, or None."""
        n = self.record.get("n_input")
        return int(n) if isinstance(n, int) and not isinstance(n, bool) else None


def is_augment_output(path: str | Path) -> bool:
    """True for a folder ``curakit augment`` wrote (its ``augment.json`` or ``manifest.parquet``)."""
    p = Path(path)
    return p.is_dir() and ((p / "augment.json").is_file() or (p / "manifest.parquet").exists())


def _record(folder: Path, what: str) -> dict[str, Any]:
    from curakit.records import load_json

    path = folder / "augment.json"
    record = load_json(path, "augment.json") if path.is_file() else {}
    if not isinstance(record, dict):
        raise DataError(f"{what}: {folder.name}/augment.json is not a JSON object. Pass a folder written by "
                        "curakit augment.")
    return record


def read_augment_output(folder: str | Path, what: str, *, kind: str, classes: list[str] | None = None,
                        class_list: str = "first", target: str | None = None
                        ) -> tuple[AugmentOutput, list[str] | None]:
    """A ``curakit augment`` output folder -> (:class:`AugmentOutput`, the class list).

    kind : ``"images"`` or ``"table"``: what the other data are; a fill of the other kind is refused.
    target : the tables' label column when ``augment.json`` does not name it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(2, "No such folder", str(folder))
    if not is_augment_output(folder):
        raise DataError(f"{what}: {folder.name!r} is not a curakit augment output (no augment.json or "
                        "manifest.parquet). Pass the --out folder of curakit augment.")
    record = _record(folder, what)
    have = record.get("kind", "images" if (folder / "images").is_dir() else "table")
    if have != kind:
        raise DataError(f"{what}: {folder.name!r} holds {'image' if have == 'images' else 'table'} fills but the "
                        f"other data are {'image data' if kind == 'images' else 'tables'}. Pass fills of the same kind.")
    if kind == "images":
        out, classes = _image_fill(folder, what, record, classes, class_list)
    else:
        out = _table_fill(folder, what, record, target)
    return out, classes


def _image_fill(folder: Path, what: str, record: dict[str, Any], classes: list[str] | None, class_list: str
                ) -> tuple[AugmentOutput, list[str] | None]:
    import dataclasses

    import augment

    aug = augment.AugmentedSet.load(folder)
    labels = np.asarray(aug.labels)
    if labels.dtype.kind not in "iu":
        listed = record.get("classes") if isinstance(record.get("classes"), list) else None
        labels, classes = _class_names(labels.astype(str), folder, what, classes, class_list, listed)
        aug = dataclasses.replace(aug, labels=labels)
    if "parent" not in aug.manifest.columns:
        raise DataError(f"{what}: {folder.name}/manifest.parquet has no 'parent' column. Pass a folder written "
                        "by curakit augment.")
    parents = _positions(aug.manifest["parent"].tolist(), what, folder)
    return AugmentOutput(fill=aug, labels=labels, parents=parents, record=record, kind="images"), classes


def _table_fill(folder: Path, what: str, record: dict[str, Any], target: str | None) -> AugmentOutput:
    from curakit.io import read_table

    if not (folder / "table.parquet").is_file() or not (folder / "manifest.parquet").exists():
        raise DataError(f"{what}: {folder.name!r} holds no table.parquet and manifest.parquet. Pass a folder written "
                        "by curakit augment.")
    table = read_table(folder / "table.parquet", what)
    manifest = read_table(folder / "manifest.parquet", f"{what} manifest") if (folder / "manifest.parquet").is_file() \
        else _read_parquet_folder(folder / "manifest.parquet", what)
    col = record.get("target", target)
    if col is None or col not in table.columns:
        raise DataError(f"{what}: the table in {folder.name!r} has no label column {col!r} ({table.shape[1]} "
                        "columns). Pass fills of this target (--target).")
    missing = [c for c in ("row_id", "operation", "parent_ids") if c not in manifest.columns]
    if missing or len(manifest) != len(table):
        raise DataError(f"{what}: {folder.name}/manifest.parquet ({len(manifest)} rows, lacking {missing}) is not "
                        f"the lineage of its table ({len(table)} rows). Pass a folder written by curakit augment.")
    made = np.flatnonzero(manifest["operation"].astype(str).to_numpy() != "original")
    rows = table.iloc[made].reset_index(drop=True)
    prov = manifest.iloc[made].reset_index(drop=True)
    labels = rows[col].to_numpy()
    if "parent" in prov.columns:
        firsts = prov["parent"].tolist()
    else:
        lists = [json.loads(v) if isinstance(v, str) else list(v if v is not None else []) for v in prov["parent_ids"]]
        firsts = [str(p[0]).rsplit(":", 1)[-1] if len(p) else None for p in lists]
    parents = _positions(firsts, what, folder)
    fill = (rows.drop(columns=[col]), labels, prov)
    return AugmentOutput(fill=fill, labels=labels, parents=parents, record=record, kind="table")


def _read_parquet_folder(path: Path, what: str) -> Any:
    """A partitioned manifest (a folder of Parquet parts), as ``pandas.read_parquet`` reads it."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{what}: {path.parent.name}/manifest.parquet cannot be read as Parquet "
                        f"({type(exc).__name__}). Re-run curakit augment.") from None


def _positions(values: list[Any], what: str, folder: Path) -> np.ndarray:
    """Parent positions (ints >= 0); a missing or non-integer parent is a one-line error."""
    out = np.empty(len(values), dtype=np.int64)
    for k, v in enumerate(values):
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        text = "" if v is None or isinstance(v, (float, np.floating)) else str(v)
        if not text.isdigit():
            raise DataError(f"{what}: the lineage in {folder.name!r} names a parent that is not a row position "
                            f"(row {k}). Pass a folder written by curakit augment, or --parents none.")
        out[k] = int(text)
    return out
