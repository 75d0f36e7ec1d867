"""Dask inputs of ``TrainingSetBuilder``: Dask DataFrames or paths of (hive-partitioned) Parquet
datasets, checked partition-wise with the same one-line errors as the pandas engine.

A path may be an fsspec URL (``"s3://bucket/old/"``, ``gs://``, ``abfs://``): the dataset is listed
on the client (every file's columns checked, as for a local folder) and read on the workers, with
the ``storage_options`` given to :func:`dask_sources` or, when None, those of ``curate.open_engine``
(else the filesystem's environment chain). Storage failures (missing bucket, no credentials, an
endpoint that does not answer) are one-line errors (:mod:`curate._dask.objectstore`)."""

from __future__ import annotations

import contextlib
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.dedup import exact_key_pairs
from curakit.exceptions import DataError
from curakit.optional import import_optional
from curate._build.inputs import choose_features
from curate._build.search import is_classification
from curate._build.sources import check_label_kinds, check_labels, label_kind
from curate._windows import check_time, parse_time, raise_time_problem

from . import objectstore as _store
from .engine import default_storage_options, is_dask_collection
from .select import Parts, compute_parts

__all__ = ["DaskSource", "dask_sources", "is_dask_input"]


def is_dask_input(obj: Any) -> bool:
    """A Dask DataFrame, or a path (str / os.PathLike; a str may be an fsspec URL) of a Parquet file
    or dataset folder."""
    return is_dask_collection(obj) or isinstance(obj, (str, os.PathLike))


@dataclass(eq=False)
class DaskSource:
    """old or new on Dask: its prepared partitions (delayed pandas frames with ``_pos`` / ``_t``)."""

    name: str
    parts: list[Any]
    n: int
    columns: list[Any]
    dtypes: pd.Series
    axis_kind: str = "order"
    t_min: Any = None
    t_max: Any = None
    manifest: Any = None  # never augmented
    lengths: list[int] = field(default_factory=list)
    full: Any = None  # the prepared partitions with every used column (``parts`` may hold only a few)

    def __len__(self) -> int:
        return self.n

    @property
    def t(self) -> _Lazy:
        return _Lazy(self, "_t", series=False)

    @property
    def time_values(self) -> _Lazy:
        return _Lazy(self, None, series=True)


class _Lazy:
    """Values of a Dask source at a few positions (augmented rows' parents), gathered on demand."""

    def __init__(self, src: DaskSource, column: str | None, series: bool) -> None:
        self.src, self.column, self.series = src, column, series

    def __len__(self) -> int:
        return self.src.n

    def max(self) -> Any:
        return self.src.t_max

    @property
    def iloc(self) -> _Lazy:
        return self

    def __getitem__(self, positions: Any) -> Any:
        positions = np.asarray(positions, dtype=np.int64)
        want = np.unique(positions)
        col = self.column or self.src.time_column
        got = compute_parts(_pick_rows, self.src.full, want, col)
        pos = np.concatenate([g[0] for g in got])
        vals = pd.concat([g[1] for g in got], ignore_index=True)
        at = np.searchsorted(pos, positions)
        out = vals.iloc[at].reset_index(drop=True)
        return out if self.series else out.to_numpy()


def _pick_rows(part: pd.DataFrame, want: np.ndarray, col: str):
    hit = np.isin(part["_pos"].to_numpy(), want)
    return part["_pos"].to_numpy()[hit], part[col][hit].reset_index(drop=True)


def _read(obj: Any, name: str, options: dict[str, Any] | None = None):
    """(Dask DataFrame, per-file column lists or None) of one input."""
    dd = import_optional("dask.dataframe")
    if is_dask_collection(obj):
        if not hasattr(obj, "columns"):
            raise DataError(f"{name} must be a Dask DataFrame, not a {type(obj).__name__}. Pass a frame or a Parquet path.")
        return obj, None
    if _store.is_url(obj):
        return _read_url(obj, name, options)
    path = Path(_store.local_path(obj))
    if not path.exists():
        raise DataError(f"{name} path {str(path)!r} does not exist. Pass a Parquet file or a folder of Parquet files.")
    files = _file_columns(path, name)
    try:
        return dd.read_parquet(str(path)), files
    except Exception as exc:  # pyarrow / dask reading errors
        raise DataError(
            f"{name} path {str(path)!r} does not read as a Parquet dataset ({type(exc).__name__}). "
            "Pass a Parquet file or a folder of Parquet files with one schema."
        ) from None


def _read_url(url: str, name: str, options: dict[str, Any] | None):
    """(Dask DataFrame, per-file column lists) of a Parquet dataset in object storage."""
    dd = import_optional("dask.dataframe")
    fs, root = _store.open_url(url, name, options)
    _store.require_exists(fs, root, url, name)
    with _store.storage_errors(url, name):
        is_dir = fs.isdir(root)
        files = _file_columns(root, name, fs=fs, is_dir=is_dir, shown=url)
    try:
        with _store.storage_errors(url, name):
            return dd.read_parquet(url, **({} if options is None else {"storage_options": options})), files
    except DataError:
        raise
    except Exception as exc:  # pyarrow / dask reading errors
        raise DataError(
            f"{name} URL {url!r} does not read as a Parquet dataset ({type(exc).__name__}). "
            "Pass the URL of a Parquet file or of a prefix of Parquet files with one schema."
        ) from None


def _file_columns(path: Path | str, name: str, fs: Any = None, is_dir: bool | None = None,
                  shown: str | None = None) -> list[tuple[str, list[str]]]:
    """(relative file path, physical columns + hive keys) of every file of a Parquet dataset
    (on the local disk, or in the fsspec filesystem ``fs``)."""
    ds = import_optional("pyarrow.dataset")
    where = "URL" if fs is not None else "path"
    try:
        dataset = ds.dataset(str(path), format="parquet", partitioning="hive", filesystem=fs)
        out = []
        is_dir = Path(path).is_dir() if is_dir is None else is_dir
        for frag in dataset.get_fragments():
            keys = [str(k) for k in ds.get_partition_keys(frag.partition_expression)]
            if fs is None:
                rel = os.path.relpath(frag.path, str(path)) if is_dir else Path(path).name
            else:
                rel = frag.path[len(str(path).rstrip("/")) + 1:] if is_dir else str(path).rsplit("/", 1)[-1]
            out.append((rel, list(frag.physical_schema.names) + keys))
    except Exception as exc:
        if _store._reason(exc) is not None and fs is not None:
            raise
        raise DataError(
            f"{name} {where} {shown or str(path)!r} does not read as a Parquet dataset ({type(exc).__name__}). "
            "Pass a Parquet file or a folder of Parquet files."
        ) from None
    return out


def _check_files(files, name: str, used: list[Any]) -> None:
    for rel, cols in files or []:
        absent = [str(c) for c in used if str(c) not in cols]
        if absent:
            raise DataError(
                f"Feature column(s) {absent} are not in {name} (file {rel!r}, one of its {len(files)} Parquet files). "
                "Write every partition with the same columns, or pass features= naming columns of every file."
            )


def _stats(part: pd.DataFrame, target: str, time: str | None, used: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(part), "absent": [str(c) for c in used if c not in part.columns]}
    if out["absent"]:
        return out
    out["bytes"] = int(part[used].memory_usage(index=False, deep=True).sum())
    y = part[target]
    out["na_target"] = int(y.isna().sum())
    out["mixed"] = False
    if y.dtype == object and not out["na_target"]:
        try:
            check_labels(y, "", target)
        except DataError:
            out["mixed"] = True
    if pd.api.types.is_float_dtype(y.dtype):
        v = y.to_numpy(dtype=np.float64, na_value=np.nan)
        v = v[np.isfinite(v)]
        out["integral"] = bool(np.all(v == np.round(v)))
        out["values"] = np.unique(v)[:51]
    if time is not None:
        kind, bad, err, parsed = check_time(part[time])
        out.update(kind=kind, bad=bad, err=err)
        if parsed is not None and bad == 0 and len(part):
            t = parse_time(part[time], "", time)[0]
            out.update(t_min=t.min(), t_max=t.max(), _t=t)
    return out


def _scan(part: pd.DataFrame, target: str, time: str | None, used: list[Any], features: list[Any]):
    """(stats, the few columns later passes read: target, ``_t``, exact keys ``_k0`` / ``_k1``) of one
    partition, read once; the columns are None when the partition has a problem (raised from the stats)."""
    st = _stats(part, target, time, used)
    t = st.pop("_t", None)
    if st["absent"] or st.get("bad") or st["na_target"] or st["mixed"] or (time is not None and t is None and len(part)):
        return st, None
    frame = part[used].reset_index(drop=True)
    slim = pd.DataFrame({target: frame[target]})
    if time is not None:
        slim["_t"] = t if t is not None else np.zeros(0, dtype=np.int64)
    slim["_k0"], slim["_k1"] = exact_key_pairs(frame[features])
    return st, slim


def _slim(scanned: tuple[dict[str, Any], pd.DataFrame], offset: int, base: int, no_time: bool) -> pd.DataFrame:
    """The persisted few-column partition: the scan's columns and the row positions (``_pos``, ``_t``)."""
    slim = scanned[1].copy()
    pos = np.arange(offset, offset + len(slim), dtype=np.int64)
    if no_time:
        slim["_t"] = pos + base
    slim["_pos"] = pos
    return slim


def _aggregate(src_name: str, stats: list[dict[str, Any]], target: str, time: str | None) -> dict[str, Any]:
    """Totals over partitions; the pandas engine's errors for labels, emptiness and time."""
    for k, st in enumerate(stats):
        if st["absent"]:
            raise DataError(
                f"Feature column(s) {st['absent']} are not in {src_name} (partition {k} of {len(stats)}). "
                "Give every partition the same columns, or pass features= naming columns of every partition."
            )
    missing = sum(st["na_target"] for st in stats)
    if missing:
        raise DataError(
            f"{src_name} has {missing} unlabelled row(s) (missing target {target!r}). Drop or label them before building."
        )
    if any(st["mixed"] for st in stats):  # the pandas engine's message (it names no values)
        check_labels(pd.Series(np.array([0, "a"], dtype=object)), src_name, target)
    n = sum(st["n"] for st in stats)
    if n == 0:
        raise DataError(f"{src_name} has no rows. Pass at least one row of old and new data.")
    out: dict[str, Any] = {"n": n, "lengths": [st["n"] for st in stats], "kind": "order",
                           "bytes": sum(st["bytes"] for st in stats)}
    if time is not None:
        live = [st for st in stats if st["n"]]
        kinds = {st["kind"] for st in live}
        if "boolean" in kinds:
            raise_time_problem("boolean", 0, None, src_name, time)
        if len(kinds) > 1:
            raise DataError(
                f"The time column {time!r} holds dates in some partitions of {src_name} and numbers in others. "
                "Give every partition the same kind of time."
            )
        kind = kinds.pop()
        err = next((st["err"] for st in live if st["err"]), None)
        raise_time_problem(kind, sum(st["bad"] for st in live), err, src_name, time)
        out.update(kind=kind, t_min=min(st["t_min"] for st in live), t_max=max(st["t_max"] for st in live))
    return out


def _prepare(part: pd.DataFrame, name: str, cols: list[Any], time: str | None, offset: int, base: int) -> pd.DataFrame:
    out = part[cols].reset_index(drop=True)
    pos = np.arange(offset, offset + len(out), dtype=np.int64)
    if time is not None:
        t, _, values = parse_time(out[time], name, time)
        out[time] = values.reset_index(drop=True)
        out["_t"] = t
    else:
        out["_t"] = pos + base
    out["_pos"] = pos
    return out


def dask_sources(builder: Any, old: Any, new: Any, time: str | None, features: Any,
                 storage_options: dict[str, Any] | None = None) -> list[DaskSource]:
    """old and new as :class:`DaskSource` (one scan pass), with the pandas engine's checks.
    ``storage_options``: fsspec options of URL inputs (None: those of ``curate.open_engine``)."""
    dask = import_optional("dask")
    options = _store.check_options(storage_options, "TrainingSetBuilder")
    options = default_storage_options() if options is None else options
    frames = {}
    for name, obj in (("old", old), ("new", new)):
        frames[name] = _read(obj, name, options)
    urls = [str(o) for o in (old, new) if _store.is_url(o)]
    cols = {name: list(f.columns) for name, (f, _) in frames.items()}
    builder.features = choose_features(builder, cols, time, features)
    builder.time = time
    used = [*builder.features, builder.target] + ([time] if time is not None else [])
    for name, (_, files) in frames.items():
        _check_files(files, name, used)
    delayed = {name: frame.to_delayed() for name, (frame, _) in frames.items()}
    feats = list(builder.features)
    scans = dask.persist(*[dask.delayed(_scan, pure=False)(p, builder.target, time, used, feats)
                           for name in frames for p in delayed[name]])
    with _store.storage_errors(" + ".join(urls), "Reading the URL input(s)") if urls else contextlib.nullcontext():
        flat = list(dask.compute(*[dask.delayed(operator.getitem, pure=False)(x, 0) for x in scans]))
    n_old = len(delayed["old"])
    stats = {"old": flat[:n_old], "new": flat[n_old:]}
    scanned = {"old": scans[:n_old], "new": scans[n_old:]}
    aggs = {name: _aggregate(name, stats[name], builder.target, time) for name in frames}  # old's errors first
    check_label_kinds({name: label_kind(f[builder.target]._meta) for name, (f, _) in frames.items()}, builder.target)
    total = aggs["old"]["bytes"] + aggs["new"]["bytes"]
    persisted = _should_persist(total)
    out, base = [], 0
    for name, (frame, _) in frames.items():
        agg = aggs[name]
        offsets = [int(o) for o in np.concatenate([[0], np.cumsum(agg["lengths"])[:-1]])]
        full = Parts([dask.delayed(_prepare, pure=False)(p, name, used, time, o, base)
                      for p, o in zip(delayed[name], offsets)], rows=agg["n"])
        if persisted:  # every used column held on the workers: later passes skip reading and parsing
            full = parts = Parts(dask.persist(*full), rows=agg["n"])
        else:  # out of core: only target, _t, _pos and the exact keys are held; rows are read again at emit
            parts = Parts(dask.persist(*[dask.delayed(_slim, pure=False)(x, o, base, time is None)
                                         for x, o in zip(scanned[name], offsets)]), rows=agg["n"])
        src = DaskSource(name=name, parts=parts, n=agg["n"], columns=used, dtypes=frame[used].dtypes,
                         axis_kind=agg["kind"], lengths=agg["lengths"], full=full)
        src.time_column, src.persisted = time, persisted
        src.persist_kept = persisted and _should_persist(total, share=7)
        if time is None:
            src.t_min, src.t_max = base, base + agg["n"] - 1
        else:
            src.t_min, src.t_max = agg["t_min"], agg["t_max"]
        base += agg["n"]
        out.append(src)
    del scans, scanned  # the scan results are released once the slim partitions exist
    floats = [st for name in frames for st in stats[name] if "integral" in st]
    builder._classification = _classification(frames, builder.target, floats)
    return out


def _should_persist(n_bytes: int, share: int = 4) -> bool:
    """Keep the prepared partitions in the workers' memory when they take at most 1/``share`` of
    it (Dask starts spilling to disk at 60 %; a lost worker's share is recomputed from the source)."""
    import sys

    if "distributed" in sys.modules:
        try:
            client = sys.modules["distributed"].default_client()
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            limit = sum(int(w.get("memory_limit") or 0) for w in workers)
            return limit > 0 and share * n_bytes <= limit
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return n_bytes <= 256 * 2**20 * 3 // share


def _classification(frames: dict[str, Any], target: str, floats: list[dict[str, Any]]) -> bool:
    dtypes = [f[target].dtype for f, _ in frames.values()]
    if not any(pd.api.types.is_float_dtype(d) for d in dtypes):
        return True
    values = np.unique(np.concatenate([st["values"] for st in floats])) if floats else np.zeros(0)
    if not all(st["integral"] for st in floats):
        return False
    return is_classification(pd.Series(values[:51], dtype=np.float64))
