"""``DaskTrainingSet``: what ``TrainingSetBuilder.build`` returns on Dask inputs.

Lazy: ``frame`` and ``manifest`` are Dask DataFrames, row-aligned partition by partition; the
selection was decided at build time from counts and small key tables. ``save(dir)`` runs the
graph on the cluster and writes, atomically (a temporary folder, then one rename)::

    dir/
      training_set.json   kind, target, features, time, build info, "engine": "dask", fingerprint
      data.parquet/       part.000000.parquet, ...  (features + target [+ time])
      manifest.parquet/   part.000000.parquet, ...  (lineage columns + split + weight)

``curate.TrainingSet.load(dir)`` reads such a folder into pandas (checking every partition's
digest); :meth:`DaskTrainingSet.load` opens it lazily.

Object storage: ``save("s3://bucket/ts")`` (any fsspec URL; ``storage_options=`` or those of
``curate.open_engine``) has no folder rename to rely on, so it writes every file under a fresh
version prefix and commits with one last small object, ``training_set.json``, naming it; ``load``
reads only the committed version, a save interrupted before its commit leaves the earlier set
readable and intact, and older versions are deleted after the commit. The protocol, step by step,
is in :mod:`curate._dask.objectstore`::

    s3://bucket/ts/
      training_set.json            the commit: this file's metadata + "version"
      v-<UTC time>-<random>/       data.parquet/part.*.parquet, manifest.parquet/part.*.parquet
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curakit.exceptions import DataError, ParameterError
from curakit.io import atomic_dir
from curakit.optional import import_optional
from curakit.records import check_schema_version, load_json
from curate._trainingset import SCHEMA_VERSION, TrainingSet, partition_digest, partition_files, read_preprocessor

from . import objectstore as _store

__all__ = ["DaskTrainingSet"]


_IN_MEMORY = ("X", "y", "weights", "origins", "mask", "subset", "why", "summary", "fingerprint", "images")


def _name(i: int) -> str:
    return f"part.{i:06d}.parquet"


def _digest_files(data_file: str, man_file: str, options: dict[str, Any] | None = None) -> str:
    import pandas as pd

    if options is None:
        return partition_digest(pd.read_parquet(data_file), pd.read_parquet(man_file))
    return partition_digest(pd.read_parquet(data_file, storage_options=options),
                            pd.read_parquet(man_file, storage_options=options))


def resolve_options(path: Any, options: Any, owner: str) -> dict[str, Any] | None:
    """``storage_options`` of a URL: the given ones, else the open engine's; an error for a local path."""
    from .engine import default_storage_options

    options = _store.check_options(options, owner)
    if not _store.is_url(path):
        if options is not None:
            raise ParameterError(f"The 'storage_options' parameter of {owner} applies to URLs (s3://, gs://, ...), "
                                 f"not to the local path {str(path)!r}. Drop it.")
        return None
    return options if options is not None else default_storage_options()


@dataclass(frozen=True, eq=False)
class DaskTrainingSet:
    """A lazy tabular training set on Dask (see the module docstring)."""

    kind: str
    target: str
    frame: Any
    manifest: Any
    features: list[str] = field(default_factory=list)
    time: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0
    preprocessor: Any = None

    def __len__(self) -> int:
        return self.n_rows

    def save(self, path: str | Path, *, storage_options: dict[str, Any] | None = None) -> str | Path:
        """Compute and write the set into folder ``path`` atomically (a crash leaves the old folder intact).

        ``path`` may be an fsspec URL (``"s3://bucket/ts"``): then every file goes under a fresh
        version prefix and one last ``training_set.json`` commits it (module docstring);
        ``storage_options`` default to those of ``curate.open_engine``. Returns ``path``.
        """
        options = resolve_options(path, storage_options, "DaskTrainingSet.save")
        if _store.is_url(path):
            return self._save_url(str(path), options)
        path = Path(_store.local_path(path))
        with atomic_dir(path) as tmp:
            pairs = self._write(str(tmp), None, lambda: [(str(a), str(b)) for a, b in partition_files(tmp)])
            if self.preprocessor is not None:
                (tmp / "preprocess.json").write_text(self._preprocess_json())
            (tmp / "training_set.json").write_text(json.dumps(self._meta(*pairs), indent=2, sort_keys=True,
                                                              default=str))
        return path

    def _preprocess_json(self) -> str:
        from curate._preprocess import preprocessor_to_dict

        return json.dumps(preprocessor_to_dict(self.preprocessor), indent=2)

    def _write(self, base: str, options: dict[str, Any] | None, files: Any) -> tuple[int, list[str]]:
        """Write data and manifest partitions under ``base``; (partitions, their digests read back)."""
        dask = import_optional("dask")
        kw = {"write_index": False, "compute": False, "name_function": _name}
        if options is not None:
            kw["storage_options"] = options
        dask.compute(self.frame.to_parquet(f"{base}/data.parquet", **kw),
                     self.manifest.to_parquet(f"{base}/manifest.parquet", **kw))
        pairs = files()
        digests = dask.compute(*[dask.delayed(_digest_files, pure=False)(a, b, options) for a, b in pairs])
        return len(pairs), list(digests)

    def _meta(self, partitions: int, digests: list[str]) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "engine": "dask", "kind": self.kind, "target": self.target,
            "features": list(self.features), "time": self.time, "info": self.info, "n_rows": self.n_rows,
            "partitions": partitions, "fingerprint": hashlib.sha256("".join(digests).encode()).hexdigest(),
        }

    def _save_url(self, url: str, options: dict[str, Any] | None) -> str:
        """The object-store save: a fresh version prefix, then the commit, then old versions deleted."""
        fs, root = _store.open_url(url, "Training set destination", options)
        _store.check_destination(fs, root, url)
        version = _store.new_version()
        try:
            with _store.storage_errors(url, "Saving the training set to"):
                written = self._write(f"{url.rstrip('/')}/{version}", options,
                                      lambda: _store.url_files(fs, root, url, version))
                if self.preprocessor is not None:
                    fs.pipe_file(f"{root.rstrip('/')}/{version}/preprocess.json", self._preprocess_json().encode())
            _store.write_commit(fs, root, url, {**self._meta(*written), "version": version})
        except BaseException:
            if _store.committed_version(fs, root) != version:  # a commit whose reply was lost stays
                _store.remove_versions(fs, root, [version])  # best effort; a killed client leaves it to the next save
            raise
        _store.remove_versions(fs, root, _store.stale_versions(_store.list_versions(fs, root), version))
        return url

    def to_pandas(self) -> TrainingSet:
        """Compute into a pandas :class:`curate.TrainingSet` (for sets that fit in memory)."""
        dask = import_optional("dask")
        frame, manifest = dask.compute(self.frame, self.manifest)
        return TrainingSet(kind=self.kind, target=self.target, frame=frame.reset_index(drop=True),
                           manifest=manifest.reset_index(drop=True), features=list(self.features), time=self.time,
                           info=self.info, preprocessor=self.preprocessor)

    @classmethod
    def load(cls, path: str | Path, *, storage_options: dict[str, Any] | None = None) -> DaskTrainingSet:
        """Open a set saved by :meth:`save` lazily (no digest check; ``TrainingSet.load`` checks them).
        A URL opens the version its ``training_set.json`` commits (never a half-written one)."""
        dd = import_optional("dask.dataframe")
        options = resolve_options(path, storage_options, "DaskTrainingSet.load")
        if _store.is_url(path):
            return cls._load_url(str(path), options)
        path = Path(_store.local_path(path))
        meta_path = path / "training_set.json"
        if not meta_path.is_file():
            raise DataError(f"{str(path)!r} is not a saved training set (no training_set.json). Pass a folder written by save().")
        meta = load_json(meta_path, "Training set")
        check_schema_version(meta, "Training set", SCHEMA_VERSION, fix="Rebuild it with this version.", required=True)
        if meta.get("engine") != "dask":
            raise DataError(f"{str(path)!r} holds a pandas training set. Load it with curate.TrainingSet.load.")
        return cls(kind=meta["kind"], target=meta["target"], frame=dd.read_parquet(str(path / "data.parquet")),
                   manifest=dd.read_parquet(str(path / "manifest.parquet")), features=list(meta["features"]),
                   time=meta.get("time"), info=meta.get("info", {}), n_rows=int(meta["n_rows"]),
                   preprocessor=read_preprocessor(path))

    @classmethod
    def _load_url(cls, url: str, options: dict[str, Any] | None) -> DaskTrainingSet:
        dd = import_optional("dask.dataframe")
        fs, root = _store.open_url(url, "Training set", options)
        meta = _store.read_commit(fs, root, url)
        check_schema_version(meta, "Training set", SCHEMA_VERSION, fix="Rebuild it with this version.", required=True)
        pairs = _store.url_files(fs, root, url, meta["version"])
        kw = {} if options is None else {"storage_options": options}
        with _store.storage_errors(url, "Training set"):
            frame = dd.read_parquet([a for a, _ in pairs], **kw)
            manifest = dd.read_parquet([b for _, b in pairs], **kw)
            pre = read_preprocessor(f"{root.rstrip('/')}/{meta['version']}", fs)
        return cls(kind=meta["kind"], target=meta["target"], frame=frame, manifest=manifest,
                   features=list(meta["features"]), time=meta.get("time"), info=meta.get("info", {}),
                   n_rows=int(meta["n_rows"]), preprocessor=pre)

    def __getattr__(self, name: str) -> Any:
        if name in _IN_MEMORY:
            raise ParameterError(
                f"DaskTrainingSet.{name} needs the rows in memory. Call .to_pandas() for a curate.TrainingSet "
                "(when it fits), or read the saved data.parquet/ partitions in your training loop."
            )
        raise AttributeError(name)

    def __repr__(self) -> str:
        counts = self.info.get("counts", {}).get("by_origin", {})
        return f"DaskTrainingSet(kind={self.kind!r}, rows={self.n_rows}, target={self.target!r}, origins={counts})"
