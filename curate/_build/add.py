"""``TrainingSetBuilder.add``: rows from augment with their lineage.

Accepts an ``augment.AugmentedSet`` (``.images`` or ``.X``, ``.labels``, ``.manifest`` with a
``parent`` column) or the ``(X2, y2, prov)`` tuple of ``augment.oversample`` (only its generated
rows). Parent positions become builder row ids ``"old:<pos>"`` / ``"new:<pos>"``; children take
their first parent's time (for windows, recency weights and the ``latest`` split).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from augment import LINEAGE_COLUMNS
from curakit.exceptions import DataError, ParameterError
from curakit.validation import check_images

from .sources import OWNER
from .sources import Source as _Source
from .sources import check_labels as _check_labels
from .sources import json_list as _json_list

__all__ = ["augmented_source"]


def augmented_source(b: Any, aug: Any, parents: str, prefix: str | None, k: int) -> _Source:
    """The rows of an AugmentedSet / oversample tuple as a source, with lineage mapped to builder row ids."""
    what, X, images, labels, manifest, keep = _unpack(aug)
    if not isinstance(manifest, pd.DataFrame):
        raise DataError(f"The {what} has no manifest DataFrame. Pass the object augment returned.")
    missing = [c for c in LINEAGE_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(f"The {what} manifest lacks lineage column(s) {missing}. Pass the object augment returned.")
    labels = np.asarray(labels)
    if b.kind == "images":
        images = _check_aug_images(b, what, images, labels, manifest)
    else:
        X = _check_aug_rows(b, what, X, labels, manifest)
    if keep is not None:
        pos = np.flatnonzero(keep)
        manifest = manifest.iloc[pos].reset_index(drop=True)
        labels = labels[pos]
        X = X.iloc[pos].reset_index(drop=True)
    if len(manifest) == 0:
        raise DataError(f"The {what} holds no generated rows. Augment at least one row before add().")
    frame = pd.DataFrame({b.target: labels}) if b.kind == "images" else X[b.features].reset_index(drop=True)
    if b.kind == "tabular":
        frame[b.target] = labels
    _check_labels(frame[b.target], "augmented data", b.target)
    return _lineage_source(b, what, manifest, frame, images, parents, prefix, k)


def _unpack(aug: Any) -> tuple[str, Any, Any, Any, Any, np.ndarray | None]:
    """(what, X, images, labels, manifest, keep mask or None) of an AugmentedSet / oversample tuple."""
    if isinstance(aug, tuple) and len(aug) == 3 and isinstance(aug[2], pd.DataFrame):
        X, labels, manifest = aug
        what = "oversample output"
        keep = (manifest["operation"].astype(str) != "original").to_numpy()
        if len(manifest) != len(labels):
            raise DataError(
                f"The {what} has {len(labels)} labels but {len(manifest)} provenance rows. Pass the tuple returned by augment.oversample."
            )
        return what, X, None, labels, manifest, keep
    if hasattr(aug, "manifest") and hasattr(aug, "labels"):
        return (type(aug).__name__, getattr(aug, "X", None), getattr(aug, "images", None), aug.labels, aug.manifest,
                None)
    raise ParameterError(
        f"{OWNER}.add takes an augment.AugmentedSet or the (X2, y2, prov) tuple of augment.oversample. "
        f"Got {type(aug).__name__} instead."
    )


def _check_aug_images(b: Any, what: str, images: Any, labels: np.ndarray, manifest: pd.DataFrame) -> np.ndarray:
    if images is None:
        raise DataError(f"The {what} has no images but this builder holds image sets. Add an image AugmentedSet.")
    images = check_images(images, "augmented images")
    if images.shape[1:] != b.old.images.shape[1:]:
        raise DataError(
            f"augmented images are shaped {images.shape[1:]} but the sources {b.old.images.shape[1:]}. "
            "Augment images of the same shape."
        )
    n = len(images)
    if len(labels) != n or len(manifest) != n:
        raise DataError(
            f"augmented images and labels differ in length (images={n}, labels={len(labels)}, "
            f"manifest={len(manifest)}). Pass one label and one manifest row per image."
        )
    return images


def _check_aug_rows(b: Any, what: str, X: Any, labels: np.ndarray, manifest: pd.DataFrame) -> pd.DataFrame:
    if X is None:
        raise DataError(f"The {what} has no tabular rows (.X) but this builder holds tables. Add a tabular set.")
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != len(b.features):
            raise DataError(
                f"The {what} rows are shaped {X.shape} but the builder has {len(b.features)} features. "
                "Pass a DataFrame with the feature columns."
            )
        X = pd.DataFrame(X, columns=b.features)
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"The {what} rows must be a DataFrame. Got {type(X).__name__} instead.")
    absent = [str(c) for c in b.features if c not in X.columns]
    if absent:
        raise DataError(f"The {what} rows lack feature column(s) {absent}. Augment rows with the same features.")
    n = len(X)
    if len(labels) != n or len(manifest) != n:
        raise DataError(
            f"augmented rows and labels differ in length (rows={n}, labels={len(labels)}, "
            f"manifest={len(manifest)}). Pass one label and one manifest row per row."
        )
    return X


def _lineage_source(b: Any, what: str, manifest: pd.DataFrame, frame: pd.DataFrame, images: Any, parents: str,
                    prefix: str | None, k: int) -> _Source:
    """The source, with parent positions mapped to builder row ids and each child's time its first parent's."""
    view = "old+new" if parents == "ids" else parents
    source = _parent_view(b, view)
    parent_lists = _id_positions(b, manifest) if parents == "ids" else _parent_positions(manifest)
    first = np.array([p[0] if p else -1 for p in parent_lists], dtype=np.int64)
    flat = [q for p in parent_lists for q in p]
    if flat and (min(flat) < 0 or max(flat) >= len(source)):
        raise DataError(
            f"The {what} names parent positions outside {parents} ({len(source)} rows). "
            f"Pass parents= naming the data it was augmented from."
        )
    ids = manifest["row_id"].astype(str).to_numpy()
    if prefix is not None:
        ids = np.array([f"{prefix}:{i}" for i in ids], dtype=object)
    _check_new_ids(b, ids)
    man = manifest[list(LINEAGE_COLUMNS)].copy().reset_index(drop=True)
    man["row_id"] = ids
    man["parent_ids"] = [_json_list([_parent_id(b, view, q) for q in p]) for p in parent_lists]
    for col in ("params", "slice_ids"):
        man[col] = [v if isinstance(v, str) else json.dumps(v if v is not None else ([] if col == "slice_ids" else {}),
                                                             sort_keys=True) for v in man[col]]
    man["seed"] = pd.array(man["seed"], dtype="Int64")
    man["reason"] = [_aug_reason(r, parents) for r in man.itertuples(index=False)]
    t = np.where(first >= 0, source.t[np.maximum(first, 0)], source.t.max()) if len(source.t) else first
    time_values = None
    if b.time is not None:
        time_values = source.time_values.iloc[np.maximum(first, 0)].reset_index(drop=True)
        time_values = time_values.where(pd.Series(first >= 0)) if (first < 0).any() else time_values
    return _Source(name=f"aug{k}", frame=frame, images=images, t=t, time_values=time_values, manifest=man,
                   parent_rows=first, parents=parents)

def _parent_view(b: Any, parents: str) -> Any:
    """The data parent positions refer to: old, new, or old then new concatenated ("old+new")."""
    if parents != "old+new":
        return b.old if parents == "old" else b.new
    if getattr(b, "engine", "pandas") == "dask":  # the sources' rows stay on the workers: look parents up there
        tv = None if b.time is None else _Joined(b.old.time_values, b.new.time_values, len(b.old), series=True)
        return _Concat(t=_Joined(b.old.t, b.new.t, len(b.old), series=False), time_values=tv, n=len(b.old) + len(b.new))
    tv = None
    if b.time is not None:
        tv = pd.concat([b.old.time_values, b.new.time_values], ignore_index=True)
    return _Concat(t=np.concatenate([np.asarray(b.old.t), np.asarray(b.new.t)]), time_values=tv,
                   n=len(b.old) + len(b.new))


class _Concat:
    """Row times of old followed by new (what ``parents="old+new"`` positions index)."""

    def __init__(self, t: np.ndarray, time_values: Any, n: int) -> None:
        self.t, self.time_values, self._n = t, time_values, n

    def __len__(self) -> int:
        return self._n


class _Joined:
    """Values at positions of old then new, each looked up in its own source's values (``t`` or
    ``time_values`` of a Dask source, gathered for the positions asked only)."""

    def __init__(self, old: Any, new: Any, n_old: int, series: bool) -> None:
        self.old, self.new, self.n_old, self.series = old, new, n_old, series

    def __len__(self) -> int:
        return len(self.old) + len(self.new)

    def max(self) -> Any:
        return max(self.old.max(), self.new.max())

    @property
    def iloc(self) -> _Joined:
        return self

    def __getitem__(self, positions: Any) -> Any:
        positions = np.asarray(positions, dtype=np.int64)
        is_new = positions >= self.n_old
        a, c = self.old[positions[~is_new]], self.new[positions[is_new] - self.n_old]
        at = np.empty(len(positions), dtype=np.int64)
        at[~is_new] = np.arange(len(a))
        at[is_new] = len(a) + np.arange(len(c))
        if self.series:  # the dtype pandas' concat of old's and new's values gives
            return pd.concat([a, c], ignore_index=True).iloc[at].reset_index(drop=True)
        return np.concatenate([np.asarray(a), np.asarray(c)])[at]


def _parent_id(b: Any, parents: str, q: int) -> str:
    """Builder row id of parent position ``q`` (positions past old's length are new's rows for "old+new")."""
    if parents != "old+new":
        return f"{parents}:{q}"
    n_old = len(b.old)
    return f"old:{q}" if q < n_old else f"new:{q - n_old}"


def _id_positions(b: Any, manifest: pd.DataFrame) -> list[list[int]]:
    """``parents="ids"``: parent ids ``"old:<pos>"`` / ``"new:<pos>"`` as positions of old then new."""
    n_old, n_new = len(b.old), len(b.new)
    out: list[list[int]] = []
    for raw in manifest["parent_ids"].tolist():
        values = json.loads(raw) if isinstance(raw, str) else list(raw if raw is not None else [])
        pos = []
        for v in values:
            src, _, q = str(v).partition(":")
            size = {"old": n_old, "new": n_new}.get(src)
            if size is None or not q.isdigit():
                raise DataError(
                    "With parents='ids' every parent id must be 'old:<position>' or 'new:<position>'. "
                    "Name the parents by builder row id, or pass parents='old' / 'new' with positions."
                )
            if int(q) >= size:
                raise DataError(
                    f"A parent id names {src} row {int(q)} but {src} has {size} rows (positions 0..{size - 1}). "
                    "Pass the data the rows were augmented from."
                )
            pos.append(int(q) + (n_old if src == "new" else 0))
        out.append(pos)
    return out


def _parent_positions(manifest: pd.DataFrame) -> list[list[int]]:
    out: list[list[int]] = []
    has_parent = "parent" in manifest.columns
    for k, raw in enumerate(manifest["parent_ids"].tolist()):
        if has_parent and not pd.isna(manifest["parent"].iloc[k]):
            out.append([int(manifest["parent"].iloc[k])])
            continue
        values = json.loads(raw) if isinstance(raw, str) else list(raw if raw is not None else [])
        pos = []
        for v in values:
            s = str(v).rsplit(":", 1)[-1]
            if not s.lstrip("-").isdigit():
                raise DataError(
                    "An augmented row names a parent that is not a position in the source data. "
                    "Parents must be positions (0, 1, ...) of the data passed as old / new."
                )
            pos.append(int(s))
        out.append(pos)
    return out

def _check_new_ids(b: Any, ids: np.ndarray) -> None:
    if len(set(ids.tolist())) != len(ids):
        raise DataError("The augmented set repeats row ids. Each generated row needs its own row_id.")
    clash = any(i.startswith(("old:", "new:")) for i in ids.tolist())
    for other in b._plan.added:
        clash = clash or bool(np.isin(ids, other.manifest["row_id"].to_numpy()).any())
    if clash:
        raise DataError("add() got row ids already used in this builder. Pass prefix= to add() to rename them.")

def _aug_reason(row: Any, parents: str) -> str:
    slices = json.loads(row.slice_ids) if isinstance(row.slice_ids, str) else list(row.slice_ids or [])
    if row.origin == "synthetic":
        base = f"synthetic {row.operation} oversampling"
        return f"{base} of slice {', '.join(slices)}" if slices else f"{base} of {parents} data"
    if slices:
        return f"augmented fill of slice {', '.join(slices)}"
    given = str(row.reason) if isinstance(row.reason, str) else ""
    return given or f"augmented ({row.operation}) from {parents} data"
