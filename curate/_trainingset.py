"""``TrainingSet``: the data a retrain uses, with a manifest saying why every row is there.

Layout on disk (``ts.save(dir)``, written atomically; ``TrainingSet.load(dir)``)::

    dir/
      training_set.json   kind, target, features, time, build info, schema_version, hashes
      data.parquet        the rows (tabular: features + target [+ time]; images: target + metadata)
      manifest.parquet    one lineage row per data row, plus ``split`` and ``weight``
      images.npy          images only: uint8 (n, H, W, C), row-aligned with data.parquet
      preprocess.json     the fitted preprocessing, when there is one (JSON, never pickle)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment import LINEAGE_COLUMNS
from curakit.exceptions import DataError, ParameterError
from curakit.io import atomic_dir
from curakit.records import check_schema_version, load_json

__all__ = ["TrainingSet", "partition_digest"]

SCHEMA_VERSION = 1
KINDS = ("tabular", "images")
SPLITS = ("train", "val")


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Rows to train on, row-aligned with their manifest.

    Attributes
    ----------
    kind : ``"tabular"`` or ``"images"``.
    target : the label column of ``frame``.
    frame : the rows. Tabular: ``features`` + ``target`` (+ ``time``). Images: ``target`` and
        any per-row metadata; the pixels are in ``images``.
    manifest : one row per row of ``frame``, same order: the lineage columns
        (:data:`augment._lineage.LINEAGE_COLUMNS`) plus ``split`` (``"train"`` / ``"val"``;
        a parent and its generated children always share a split) and ``weight``.
    images : uint8 (n, H, W, C) for image sets, else None.
    features : the feature columns (tabular), in model order.
    time : the time column, when the sources had one.
    preprocessor : the fitted preprocessing (a scikit-learn transformer) or None. It was
        fitted on the ``train`` rows only.
    info : JSON-able record of the build: seed, window, alpha, replay, dedup counts, ...
    naive_rows : builds the rows of the ``naive`` baseline (every old and new row of the builder's
        sources, with only leakage exclusion, split and preprocessing), or None (a loaded set: the
        naive baseline then uses this set's own plain rows). Not saved.
    """

    kind: str
    target: str
    frame: pd.DataFrame
    manifest: pd.DataFrame
    images: np.ndarray | None = None
    features: list[str] = field(default_factory=list)
    time: str | None = None
    preprocessor: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    naive_rows: Callable[[], TrainingSet] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(f"The 'kind' of TrainingSet must be one of {list(KINDS)}. Got {self.kind!r} instead.")
        if self.target not in self.frame.columns:
            raise DataError(f"TrainingSet frame lacks the target column {self.target!r}.")
        if len(self.manifest) != len(self.frame):
            raise DataError(
                f"TrainingSet manifest has {len(self.manifest)} rows but the data has {len(self.frame)}. "
                "They must be row-aligned."
            )
        missing = [c for c in (*LINEAGE_COLUMNS, "split", "weight") if c not in self.manifest.columns]
        if missing:
            raise DataError(f"TrainingSet manifest lacks column(s) {missing}.")
        bad_split = set(self.manifest["split"].unique()) - set(SPLITS)
        if bad_split:
            raise DataError(f"TrainingSet manifest 'split' must be one of {list(SPLITS)}. Got {sorted(bad_split)}.")
        if self.kind == "images":
            if self.images is None or len(self.images) != len(self.frame):
                n_img = None if self.images is None else len(self.images)
                raise DataError(
                    f"An image TrainingSet needs one image per row: {len(self.frame)} rows, {n_img} images."
                )
        else:
            absent = [c for c in self.features if c not in self.frame.columns]
            if absent:
                raise DataError(f"TrainingSet frame lacks feature column(s) {absent}.")

    # -- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def X(self) -> np.ndarray | pd.DataFrame:
        """Model inputs: the images (n, H, W, C), or the feature columns as a DataFrame."""
        return self.images if self.kind == "images" else self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.frame[self.target].to_numpy()

    @property
    def weights(self) -> np.ndarray:
        return self.manifest["weight"].to_numpy(dtype=np.float64)

    @property
    def origins(self) -> np.ndarray:
        return self.manifest["origin"].to_numpy()

    def mask(self, *, split: str | None = None, origins: Iterable[str] | None = None) -> np.ndarray:
        """Boolean row mask for a split and/or a set of origins."""
        m = np.ones(len(self), dtype=bool)
        if split is not None:
            if split not in SPLITS:
                raise ParameterError(f"split must be one of {list(SPLITS)}. Got {split!r} instead.")
            m &= self.manifest["split"].to_numpy() == split
        if origins is not None:
            m &= np.isin(self.origins, list(origins))
        return m

    def subset(self, mask: np.ndarray) -> TrainingSet:
        """The rows where ``mask`` is True (a boolean mask or positions), manifest kept aligned."""
        mask = np.asarray(mask)
        pos = np.flatnonzero(mask) if mask.dtype == bool else mask.astype(np.int64)
        return replace(
            self,
            frame=self.frame.iloc[pos].reset_index(drop=True),
            manifest=self.manifest.iloc[pos].reset_index(drop=True),
            images=None if self.images is None else self.images[pos],
        )

    def why(self, row_id: str) -> dict[str, Any]:
        """The manifest entry of one row, with JSON fields decoded."""
        hit = self.manifest[self.manifest["row_id"] == row_id]
        if hit.empty:
            raise DataError(f"No row with row_id {row_id!r} in this training set.")
        rec = hit.iloc[0].to_dict()
        for key in ("parent_ids", "params", "slice_ids"):
            if isinstance(rec[key], str):
                rec[key] = json.loads(rec[key])
        return rec

    def summary(self) -> pd.DataFrame:
        """Row counts per origin, operation and split."""
        return (
            self.manifest.groupby(["origin", "operation", "split"], dropna=False)
            .size()
            .rename("rows")
            .reset_index()
        )

    def fingerprint(self) -> str:
        """A sha256 over the manifest and data (what a registry stores as the manifest hash).

        Column by column (names, then values): string columns through their Arrow buffers,
        other columns through ``pandas.util.hash_pandas_object``; equal after a save/load.
        """
        h = hashlib.sha256()
        for part in (self.manifest, self.frame):
            h.update(json.dumps([str(c) for c in part.columns]).encode())
            for col in part.columns:
                h.update(_column_digest(part[col]))
        if self.images is not None:
            h.update(str(self.images.shape).encode())
            h.update(np.ascontiguousarray(self.images).tobytes())
        return h.hexdigest()

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the set into folder ``path`` atomically (a crash leaves the old folder intact)."""
        from ._preprocess import preprocessor_to_dict

        path = Path(path)
        with atomic_dir(path) as tmp:
            self.frame.to_parquet(tmp / "data.parquet", index=False)
            self.manifest.to_parquet(tmp / "manifest.parquet", index=False)
            if self.images is not None:
                np.save(tmp / "images.npy", np.ascontiguousarray(self.images), allow_pickle=False)
            if self.preprocessor is not None:
                (tmp / "preprocess.json").write_text(json.dumps(preprocessor_to_dict(self.preprocessor), indent=2))
            meta = {
                "schema_version": SCHEMA_VERSION,
                "kind": self.kind,
                "target": self.target,
                "features": list(self.features),
                "time": self.time,
                "info": self.info,
                "n_rows": len(self),
                "fingerprint": self.fingerprint(),
            }
            (tmp / "training_set.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, *, storage_options: dict[str, Any] | None = None) -> TrainingSet:
        """Read a saved set (a folder, or the URL of a set saved there by the Dask engine: its
        committed version, every partition's digest checked; ``storage_options`` default to those
        of ``curate.open_engine``)."""
        from ._dask.objectstore import is_url, local_path
        from ._preprocess import preprocessor_from_dict

        if is_url(path):
            return _load_url(cls, path, storage_options)
        if storage_options is not None:
            raise ParameterError("The 'storage_options' parameter of TrainingSet.load applies to URLs (s3://, gs://, "
                                 f"...), not to the local path {str(path)!r}. Drop it.")
        path = Path(local_path(path))
        meta_path = path / "training_set.json"
        if not meta_path.is_file():
            raise DataError(
                f"{str(path)!r} is not a saved training set (no training_set.json). "
                "Pass the folder written by TrainingSet.save or `curakit build`."
            )
        meta = load_json(meta_path, "Training set")
        check_schema_version(meta, "Training set", SCHEMA_VERSION, fix="Rebuild it with this version.", required=True)
        if meta.get("engine") == "dask":
            return _load_partitioned(cls, path, meta)
        images = np.load(path / "images.npy", allow_pickle=False) if (path / "images.npy").exists() else None
        pre = None
        if (path / "preprocess.json").exists():
            pre = preprocessor_from_dict(load_json(path / "preprocess.json", "Preprocessor"))
        ts = cls(
            kind=meta["kind"],
            target=meta["target"],
            frame=pd.read_parquet(path / "data.parquet"),
            manifest=pd.read_parquet(path / "manifest.parquet"),
            images=images,
            features=list(meta["features"]),
            time=meta.get("time"),
            preprocessor=pre,
            info=meta.get("info", {}),
        )
        if ts.fingerprint() != meta.get("fingerprint"):
            raise DataError(
                f"Training set in {str(path)!r} does not match its recorded fingerprint: a file was changed "
                "or truncated. Rebuild it."
            )
        return ts

    def __repr__(self) -> str:
        counts = self.manifest["origin"].value_counts().to_dict()
        return f"TrainingSet(kind={self.kind!r}, rows={len(self)}, target={self.target!r}, origins={counts})"


def _column_digest(col: pd.Series) -> bytes:
    """sha256 of one column's values; fast for Arrow-backed strings (no Python object per row)."""
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        import pyarrow as pa

        arr = pa.array(col.array)
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        lens, data, nulls = hashlib.sha256(b"len"), hashlib.sha256(b"data"), hashlib.sha256(b"null")
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            bufs = chunk.buffers()
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(bufs[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
            lens.update(np.diff(offsets).astype(np.int64).tobytes())
            if bufs[2] is not None:
                data.update(memoryview(bufs[2])[int(offsets[0]) : int(offsets[-1])])
            nulls.update(chunk.is_null().to_numpy(zero_copy_only=False).tobytes())
        return b"str" + lens.digest() + data.digest() + nulls.digest()
    values = pd.util.hash_pandas_object(col, index=False).to_numpy()
    return hashlib.sha256(str(col.dtype).encode() + values.tobytes()).digest()


def partition_digest(frame: pd.DataFrame, manifest: pd.DataFrame) -> str:
    """sha256 of one partition of a partitioned training set (its data and manifest files)."""
    h = hashlib.sha256()
    for part in (manifest, frame):
        h.update(json.dumps([str(c) for c in part.columns]).encode())
        for col in part.columns:
            h.update(_column_digest(part[col]))
    return h.hexdigest()


def partition_files(path: Path) -> list[tuple[Path, Path]]:
    """(data file, manifest file) pairs of a partitioned training set, in partition order."""
    data = sorted((path / "data.parquet").glob("part.*.parquet"))
    man = sorted((path / "manifest.parquet").glob("part.*.parquet"))
    if [p.name for p in data] != [p.name for p in man]:
        raise DataError(f"Training set in {str(path)!r} has data and manifest files that do not pair up. Rebuild it.")
    return list(zip(data, man))


def _load_url(cls: type, url: str, options: Any) -> TrainingSet:
    """A training set the Dask engine saved in object storage: its committed version, into pandas."""
    from ._dask import objectstore as store
    from ._dask.engine import default_storage_options

    options = store.check_options(options, "TrainingSet.load")
    options = default_storage_options() if options is None else options
    fs, root = store.open_url(url, "Training set", options)
    meta = store.read_commit(fs, root, url)
    check_schema_version(meta, "Training set", SCHEMA_VERSION, fix="Rebuild it with this version.", required=True)
    pairs = store.url_files(fs, root, url, meta["version"])
    with store.storage_errors(url, "Training set"):
        pre = read_preprocessor(f"{root.rstrip('/')}/{meta['version']}", fs)
        return _load_partitioned(cls, url, meta, pairs, {} if options is None else {"storage_options": options}, pre)


def read_preprocessor(folder: Any, fs: Any = None) -> Any:
    """The fitted preprocessing in ``folder/preprocess.json`` (a local folder, or a path in the
    fsspec filesystem ``fs``), or None when there is none."""
    from ._preprocess import preprocessor_from_dict

    if fs is None:
        path = Path(folder) / "preprocess.json"
        return preprocessor_from_dict(load_json(path, "Preprocessor")) if path.exists() else None
    path = f"{str(folder).rstrip('/')}/preprocess.json"
    if not fs.exists(path):
        return None
    try:
        data = json.loads(fs.cat_file(path))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"The preprocess.json of training set {str(folder)!r} is not valid JSON. Save the set again.") from None
    return preprocessor_from_dict(data)


def _load_partitioned(cls: type, path: Path | str, meta: dict[str, Any], pairs: Any = None,
                      read: dict[str, Any] | None = None, pre: Any = None) -> TrainingSet:
    """A training set saved by the Dask engine, read into pandas (every partition's digest checked)."""
    frames, manifests, digests = [], [], []
    for fd, fm in partition_files(path) if pairs is None else pairs:
        f, m = pd.read_parquet(fd, **(read or {})), pd.read_parquet(fm, **(read or {}))
        digests.append(partition_digest(f, m))
        frames.append(f)
        manifests.append(m)
    if hashlib.sha256("".join(digests).encode()).hexdigest() != meta.get("fingerprint"):
        raise DataError(
            f"Training set in {str(path)!r} does not match its recorded fingerprint: a file was changed "
            "or truncated. Rebuild it."
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    manifest = pd.concat(manifests, ignore_index=True) if manifests else pd.DataFrame()
    if pairs is None:
        pre = read_preprocessor(path)
    return cls(kind=meta["kind"], target=meta["target"], frame=frame, manifest=manifest, images=None,
               features=list(meta["features"]), time=meta.get("time"), preprocessor=pre, info=meta.get("info", {}))
