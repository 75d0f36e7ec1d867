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
from curate._trainingset import SCHEMA_VERSION, TrainingSet, partition_digest, partition_files

__all__ = ["DaskTrainingSet"]


_IN_MEMORY = ("X", "y", "weights", "origins", "mask", "subset", "why", "summary", "fingerprint", "images")


def _name(i: int) -> str:
    return f"part.{i:06d}.parquet"


def _digest_files(data_file: str, man_file: str) -> str:
    import pandas as pd

    return partition_digest(pd.read_parquet(data_file), pd.read_parquet(man_file))


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

    def save(self, path: str | Path) -> Path:
        """Compute and write the set into folder ``path`` atomically (a crash leaves the old folder intact)."""
        dask = import_optional("dask")
        path = Path(path)
        with atomic_dir(path) as tmp:
            writes = [
                self.frame.to_parquet(str(tmp / "data.parquet"), write_index=False, compute=False, name_function=_name),
                self.manifest.to_parquet(str(tmp / "manifest.parquet"), write_index=False, compute=False,
                                         name_function=_name),
            ]
            dask.compute(*writes)
            pairs = partition_files(tmp)
            digests = dask.compute(*[dask.delayed(_digest_files, pure=False)(str(a), str(b)) for a, b in pairs])
            meta = {
                "schema_version": SCHEMA_VERSION, "engine": "dask", "kind": self.kind, "target": self.target,
                "features": list(self.features), "time": self.time, "info": self.info, "n_rows": self.n_rows,
                "partitions": len(pairs), "fingerprint": hashlib.sha256("".join(digests).encode()).hexdigest(),
            }
            (tmp / "training_set.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return path

    def to_pandas(self) -> TrainingSet:
        """Compute into a pandas :class:`curate.TrainingSet` (for sets that fit in memory)."""
        dask = import_optional("dask")
        frame, manifest = dask.compute(self.frame, self.manifest)
        return TrainingSet(kind=self.kind, target=self.target, frame=frame.reset_index(drop=True),
                           manifest=manifest.reset_index(drop=True), features=list(self.features), time=self.time,
                           info=self.info)

    @classmethod
    def load(cls, path: str | Path) -> DaskTrainingSet:
        """Open a set saved by :meth:`save` lazily (no digest check; ``TrainingSet.load`` checks them)."""
        dd = import_optional("dask.dataframe")
        path = Path(path)
        meta_path = path / "training_set.json"
        if not meta_path.is_file():
            raise DataError(f"{str(path)!r} is not a saved training set (no training_set.json). Pass a folder written by save().")
        meta = load_json(meta_path, "Training set")
        check_schema_version(meta, "Training set", SCHEMA_VERSION, fix="Rebuild it with this version.", required=True)
        if meta.get("engine") != "dask":
            raise DataError(f"{str(path)!r} holds a pandas training set. Load it with curate.TrainingSet.load.")
        return cls(kind=meta["kind"], target=meta["target"], frame=dd.read_parquet(str(path / "data.parquet")),
                   manifest=dd.read_parquet(str(path / "manifest.parquet")), features=list(meta["features"]),
                   time=meta.get("time"), info=meta.get("info", {}), n_rows=int(meta["n_rows"]))

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
