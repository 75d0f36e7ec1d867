"""Offline augmentation on a Dask ``distributed`` cluster: ``augment.offline(..., client=client)``.

The parents are image files (a list of paths, or a table of paths: a pandas DataFrame or a
Parquet file/folder with a ``path`` column and, when ``labels`` is None, a ``label`` column;
relative paths in a Parquet file are read relative to its folder), which the workers read and,
with ``resize=(H, W)``, resize as they read them (area interpolation, the in-process pixels). Or
they are a uint8 array (an ``.npz`` the client read): the client writes it once as
``out_dir/.parents.npy`` and every worker memory-maps it (the client holds the array, as in one
process; the disk holds one more copy of it while the call runs; a worker's memory holds the rows
its shards page in, not the array); the file is removed when the call returns. The client plans every new
image exactly as the in-process path does (parent and seed from the groups, ``n`` and
``random_state`` only), then cuts the plan into *shards* of ``shard_size`` new images. One
task per shard runs on a worker: it reads the parents it needs, makes the images, writes them
as PNGs under ``images/shard-<s>/<label>/`` (each atomically, its applied parameters inside)
and, last, its manifest part ``manifest.parquet.partial/part-<s>.parquet`` (atomically). A
shard whose part exists is finished and never made again.

So the output depends on the plan and ``shard_size`` only: the same images and manifest for any
number of workers and any scheduling. When a worker dies, the scheduler re-runs its shards
elsewhere; a re-run rewrites the same bytes under the same names, so nothing is duplicated or
missing (a retried shard first clears the temporary files an earlier try left in its folder).
When the whole run stops, calling ``offline`` again with the same arguments makes only the
shards without a part. Each task returns its manifest rows, so the client reads no part back;
each worker keeps the decoded parents it read (up to 256 MiB) for its later shards. At the end the client renames the parts folder to
``manifest.parquet`` (a partitioned Parquet dataset, read with ``pandas.read_parquet``).

With ``eval_sets`` (the leakage guard) the evaluation images are scattered once to every worker;
a shard makes its images in memory, refuses those that duplicate an evaluation image (exactly or
within ``leak_tolerance``, :func:`augment._leakage.find_leaks`, which judges each image on its
own) and writes only the kept ones, its refused rows in ``refused.parquet.partial/`` and then its
manifest part. The client gathers the refused rows into ``refused.parquet`` (or raises
:class:`LeakageError` with ``on_leak="raise"``, leaving the run unfinished), so the kept rows,
``.refused`` and the files are those of the in-process path, whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.imageio import _resize, encode_png, read_png, remove_temporaries
from curakit.io import atomic_path
from curakit.optional import import_optional
from curakit.progress import progress_enabled

from ._offline_core import _GroupInfo, _manifest, _Plan, _run_chunk_with, _safe, _worker_pipeline, _write_png_atomic

__all__ = ["eval_fingerprint", "parent_paths", "parents_fingerprint", "read_manifest", "read_refused", "run_shards"]

_PARTS = "manifest.parquet.partial"
_MANIFEST = "manifest.parquet"
_REFUSED_PARTS = "refused.parquet.partial"
_REFUSED = "refused.parquet"


def parent_paths(images: Any, labels: Any) -> tuple[list[str], Any]:
    """(paths, labels) from a list of paths, a DataFrame or a Parquet table of paths."""
    base = None
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if not path.exists():
            raise DataError(f"Parquet table {str(path)!r} does not exist. Pass a list of image paths or a Parquet table.")
        try:
            images = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise DataError(
                f"{path.name!r} could not be read as a Parquet table of image paths ({type(exc).__name__}). "
                "Pass a Parquet file with a 'path' column."
            ) from None
        base = path.parent if path.is_file() else path
    if isinstance(images, pd.DataFrame):
        if "path" not in images.columns:
            raise DataError(
                f"The table of parents has no 'path' column (columns: {list(images.columns)[:8]}). "
                "Name the column of image paths 'path'."
            )
        if labels is None:
            if "label" not in images.columns:
                raise DataError("The table of parents has no 'label' column and labels=None. Pass labels= or add the column.")
            labels = images["label"].to_numpy()
        paths = [str(p) for p in images["path"].tolist()]
    elif isinstance(images, (list, tuple)) and images and all(isinstance(p, (str, os.PathLike)) for p in images):
        paths = [str(p) for p in images]
    else:
        raise ParameterError(
            "With client=, 'images' must be a uint8 array, a list of image paths, a DataFrame or a Parquet table "
            f"with a 'path' column. Got {type(images).__name__} instead."
        )
    if base is not None:
        paths = [p if os.path.isabs(p) else str(base / p) for p in paths]
    return paths, labels


def parents_fingerprint(parents: list[str] | np.ndarray, labels: np.ndarray, plan: _Plan, pipe_sha: str,
                        source: str, shard_size: int, resize: tuple[int, int] | None = None) -> str:
    """The run's identity: the parent paths (not their bytes: they stay on the workers' storage)
    or the parent array's bytes, labels, plan, pipeline, source, shard size and ``resize``."""
    h = hashlib.sha1(b"distributed\n")
    if isinstance(parents, np.ndarray):
        h.update(f"array {parents.shape} {parents.dtype}\n".encode())
        h.update(np.ascontiguousarray(parents).data)
    else:
        h.update("\n".join(parents).encode())
    h.update(json.dumps([str(v) for v in labels.tolist()]).encode())
    h.update(plan.parents.tobytes())
    h.update(plan.seeds.tobytes())
    h.update("\n".join(plan.row_ids).encode())
    h.update(f"{pipe_sha}\n{source}\n{shard_size}".encode())
    if resize is not None:
        h.update(f"\nresize {resize[0]}x{resize[1]}".encode())
    return h.hexdigest()


def eval_fingerprint(evals: dict[str, np.ndarray], tolerance: float) -> str:
    """What the leakage guard of a run checked against (names, shapes and bytes of the evaluation
    images, and the tolerance): part of the run's identity, since it decides which rows are kept."""
    h = hashlib.sha1(f"eval\n{tolerance!r}".encode())
    for name, ev in evals.items():
        h.update(f"\n{name}\n{ev.shape}".encode())
        h.update(np.ascontiguousarray(ev).data)
    return h.hexdigest()


# -- on the workers ----------------------------------------------------------------------------
def _names(task: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(row ids, files under ``images/``) of a shard's rows, as the plan names them
    (``aug:<group>:<j>``, ``shard-<s>/<label>/<group>-<j>.png``, ``j`` the row's place in its group):
    rebuilt here so that the tasks do not carry them."""
    gi = task["group_index"].tolist()
    rows = range(task["offset"], task["offset"] + len(gi))
    starts = task["group_starts"].tolist()
    groups = task["groups"]
    gsafe = [_safe(g.id) for g in groups]
    folders: dict[Any, str] = {}
    row_ids, files = [], []
    for r, g, label in zip(rows, gi, task["labels"].tolist()):
        j = r - starts[g]
        folder = folders.get(label)
        if folder is None:
            folder = folders[label] = _safe(str(label))
        row_ids.append(f"aug:{groups[g].id}:{j}")
        files.append(f"shard-{task['shard']:05d}/{folder}/{gsafe[g]}-{j:05d}.png")
    return row_ids, files


_PARENT_CACHE: dict[tuple[Any, ...], np.ndarray] = {}  # per worker process: decoded (resized) parents
_PARENT_CACHE_BYTES = [0]
_PARENT_CACHE_LIMIT = 256 * 2**20
_PARENT_LOCK = threading.Lock()


def _read_parents(paths: list[str], resize: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The decoded parent images of a shard, resized to ``resize`` (H, W) when given (area
    interpolation: :func:`curakit.imageio.read_images`' resize, so the pixels of the in-process
    run). A worker keeps up to 256 MiB of them across shards (keyed by path, modification time,
    size and ``resize``, so a changed file is read again): with fewer parents than new images,
    most shards then read no file at all."""
    out: list[np.ndarray] = []
    local: dict[str, np.ndarray] = {}
    for p in paths:
        image = local.get(p)
        if image is None:
            st = os.stat(p)
            key = (p, st.st_mtime_ns, st.st_size, resize)
            image = _PARENT_CACHE.get(key)
            if image is None:
                image = read_png(p)
                if resize is not None:
                    image = _resize(image, resize)
                _remember(key, image)
            local[p] = image
        out.append(image)
    return out


def _task_parents(task: dict[str, Any]) -> list[np.ndarray]:
    """The distinct parents of a shard: rows of the run's parent array (memory-mapped, so a
    worker pages in only the rows its shards use) or image files."""
    if task["parents_file"] is not None:
        stack = np.load(task["parents_file"], mmap_mode="r")
        return [np.array(stack[i]) for i in task["distinct_parents"].tolist()]
    return _read_parents(task["parent_paths"], task["resize"])


def _remember(key: tuple[Any, ...], image: np.ndarray) -> None:
    if image.nbytes > _PARENT_CACHE_LIMIT // 4:
        return
    with _PARENT_LOCK:
        while _PARENT_CACHE and _PARENT_CACHE_BYTES[0] + image.nbytes > _PARENT_CACHE_LIMIT:
            _PARENT_CACHE_BYTES[0] -= _PARENT_CACHE.pop(next(iter(_PARENT_CACHE))).nbytes  # oldest first
        _PARENT_CACHE[key] = image
        _PARENT_CACHE_BYTES[0] += image.nbytes


def _make_shard(task: dict[str, Any], evals: dict[str, np.ndarray] | None = None,
                tolerance: float = 0.0) -> pd.DataFrame:
    """Make one shard's images and write its manifest part (last); returns the part's rows (the
    client concatenates them, reading no file back).

    With ``evals`` (the leakage guard) the shard's images are made in memory first, checked
    against every evaluation set (:func:`augment._leakage.find_leaks`, which judges each image
    on its own, so a shard finds what the whole run would), and only the kept ones are written;
    the refused rows go to ``refused.parquet.partial/part-<s>.parquet`` before the manifest part.
    """
    out_dir = Path(task["out_dir"])
    part = out_dir / _PARTS / f"part-{task['shard']:05d}.parquet"
    if part.exists():
        return pd.read_parquet(part)  # finished by an earlier try
    index = task["parent_index"]  # each row's parent and label, from the shard's distinct parents
    task = {**task, "parents": task["distinct_parents"][index], "labels": task["distinct_labels"][index]}
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 comes with albumentations
        pass
    compose = _worker_pipeline(task["pipeline"])
    distinct = _task_parents(task)
    images = [distinct[i] for i in task["parent_index"].tolist()]
    shard_dir = out_dir / "images" / f"shard-{task['shard']:05d}"
    if shard_dir.exists():  # an earlier try of this shard stopped: clear its temporary files
        remove_temporaries(shard_dir)
    row_ids, files = _names(task)
    paths = [out_dir / "images" / f for f in files]
    for folder in {p.parent for p in paths}:
        folder.mkdir(parents=True, exist_ok=True)
    rows = np.arange(len(paths))
    if evals:
        params, rows = _make_checked(compose, images, task, paths, evals, tolerance)
    else:
        _, params = _run_chunk_with(compose, {"images": images, "seeds": task["seeds"], "paths": paths})
    plan = _Plan(
        parents=task["parents"], seeds=task["seeds"], row_ids=row_ids, group_index=task["group_index"], files=files,
    )
    manifest = _manifest(plan, task["groups"], rows, params, task["labels"], out_dir, task["source"], task["pipe_sha"])
    with atomic_path(part) as tmp:
        manifest.to_parquet(tmp, index=False)
    return manifest


def _make_checked(compose, images, task, paths, evals, tolerance) -> tuple[list[str], np.ndarray]:
    """The leak-checked shard: (params of every row, local positions of the kept rows)."""
    from ._leakage import find_leaks

    outs, params = _run_chunk_with(compose, {"images": images, "seeds": task["seeds"], "paths": None})
    found = find_leaks(np.stack(outs), evals, tolerance=tolerance, row_ids=_names(task)[0])
    keep = np.ones(len(outs), dtype=bool)
    local = found["position"].to_numpy(dtype=np.int64)
    keep[local] = False
    pid = os.getpid()
    for k in np.flatnonzero(keep).tolist():
        _write_png_atomic(str(paths[k]), encode_png(outs[k], text=params[k]), pid)
    if len(found):
        found = found.assign(position=local + task["offset"], parent=task["parents"][local])
        with atomic_path(Path(task["out_dir"]) / _REFUSED_PARTS / f"part-{task['shard']:05d}.parquet") as tmp:
            found.to_parquet(tmp, index=False)
    return params, np.flatnonzero(keep)


# -- on the client -----------------------------------------------------------------------------
_PARENTS_FILE = ".parents.npy"  # array parents, written once for the workers; removed when the call returns


def _tasks(plan: _Plan, paths: list[str] | None, labels: np.ndarray, groups: list[_GroupInfo], *, payload,
           out_dir: Path, shard_size: int, source: str, pipe_sha: str, shards: list[int],
           parents_file: Path | None = None, resize: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    # where each group's rows start in the plan: the workers rebuild row ids and file names from it
    group_starts = np.searchsorted(plan.group_index, np.arange(len(groups)))
    tasks = []
    for s in shards:
        rows = slice(s * shard_size, (s + 1) * shard_size)
        parents = plan.parents[rows]
        uniq, inverse = np.unique(parents, return_inverse=True)
        tasks.append({
            "shard": s, "offset": s * shard_size, "out_dir": str(out_dir), "pipeline": payload, "source": source, "pipe_sha": pipe_sha,
            # each distinct parent once (a slice's few parents are used many times), and an index
            "distinct_parents": uniq, "parent_index": inverse.astype(np.int32), "resize": resize,
            "parent_paths": None if paths is None else [paths[p] for p in uniq.tolist()],
            "parents_file": None if parents_file is None else str(parents_file),
            "distinct_labels": labels[uniq], "seeds": plan.seeds[rows],
            "group_index": plan.group_index[rows].astype(np.int32), "group_starts": group_starts,
            "groups": groups,
        })
    return tasks


def _write_parents(out_dir: Path, parents: np.ndarray) -> Path:
    """The parent array as one ``.npy`` in ``out_dir`` (atomically), for the workers to memory-map."""
    path = out_dir / _PARENTS_FILE
    with atomic_path(path) as tmp:
        np.save(tmp, np.ascontiguousarray(parents), allow_pickle=False)
    return path


def run_shards(client, plan: _Plan, parents: list[str] | np.ndarray, labels: np.ndarray, groups: list[_GroupInfo],
               *, payload, out_dir: Path, shard_size: int, source: str, pipe_sha: str, progress: bool | None,
               evals: dict[str, np.ndarray] | None = None, tolerance: float = 0.0, on_leak: str = "refuse",
               resize: tuple[int, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Make the shards that have no manifest part yet on ``client``'s workers; returns
    (manifest, refused rows or None). ``parents`` are image paths (read, and resized to
    ``resize``, by the workers) or a uint8 array (written once as ``out_dir/.parents.npy``,
    which the workers memory-map; removed when this call returns, however it returns). With
    ``evals`` and ``on_leak="raise"``, leaks raise :class:`LeakageError` after every shard ran
    (the run then stays unfinished)."""
    n_shards = math.ceil(len(plan.parents) / shard_size)
    parts_dir = out_dir / _PARTS
    parts_dir.mkdir(parents=True, exist_ok=True)
    if evals:
        (out_dir / _REFUSED_PARTS).mkdir(exist_ok=True)
    todo = [s for s in range(n_shards) if not (parts_dir / f"part-{s:05d}.parquet").exists()]
    array = isinstance(parents, np.ndarray)
    try:
        parents_file = _write_parents(out_dir, parents) if array and todo else None
        tasks = _tasks(plan, None if array else parents, labels, groups, payload=payload, out_dir=out_dir,
                       shard_size=shard_size, source=source, pipe_sha=pipe_sha, shards=todo,
                       parents_file=parents_file, resize=resize)
        made = _submit(client, tasks, todo, out_dir, pipe_sha, shard_size, progress, evals, tolerance)
    finally:
        (out_dir / _PARENTS_FILE).unlink(missing_ok=True)
    missing = [s for s in range(n_shards) if not (parts_dir / f"part-{s:05d}.parquet").exists()]
    if missing:  # pragma: no cover - gather raises first when a task failed
        raise DataError(f"{len(missing)} shard(s) have no manifest part after the run. Re-run offline() to finish them.")
    refused = _finish_refused(out_dir, on_leak) if evals else None
    manifest = pd.concat(
        [made[s] if s in made else pd.read_parquet(parts_dir / f"part-{s:05d}.parquet") for s in range(n_shards)],
        ignore_index=True,
    ) if n_shards else None
    os.replace(parts_dir, out_dir / _MANIFEST)  # the run is finished once manifest.parquet exists
    return manifest, refused


def _submit(client, tasks, todo, out_dir, pipe_sha, shard_size, progress, evals, tolerance) -> dict[int, pd.DataFrame]:
    """Run the shard tasks on the cluster; {shard: its manifest rows}."""
    distributed = import_optional("distributed")
    # task keys name this run (its folder and pipeline), so two runs on one cluster never share results
    run_id = hashlib.sha1(f"{out_dir.resolve()}\n{pipe_sha}\n{shard_size}".encode()).hexdigest()[:12]
    extra: dict[str, Any] = {}
    if evals and todo:  # the evaluation images travel once to every worker, not with each task
        [extra["evals"]] = client.scatter([evals], broadcast=True, hash=False)
        extra["tolerance"] = float(tolerance)
    futures = client.map(_make_shard, tasks, key=[f"curakit-offline-{run_id}-shard-{s:05d}" for s in todo], **extra)
    try:
        if progress_enabled(progress) and futures:
            link = getattr(client, "dashboard_link", None)
            if link:
                print(f"augment.offline: {len(futures)} shard(s); Dask dashboard: {link}", file=sys.stderr)
            distributed.progress(futures)  # Dask's own bar (a widget in notebooks)
        return dict(zip(todo, client.gather(futures)))
    finally:
        client.cancel(futures)
        if "evals" in extra:
            client.cancel([extra["evals"]])


def _finish_refused(out_dir: Path, on_leak: str) -> pd.DataFrame:
    """The refused rows of every shard, in plan order; ``refused.parquet`` (one file, as the
    in-process path writes it) when there are any. Raises with ``on_leak="raise"``."""
    from ._leakage import REFUSED_COLUMNS, refuse

    folder = out_dir / _REFUSED_PARTS
    parts = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
    if not parts:
        refused = pd.DataFrame({"position": np.zeros(0, np.int64), "row_id": pd.Series([], dtype=object),
                                "eval_set": pd.Series([], dtype=object), "eval_position": np.zeros(0, np.int64),
                                "match": pd.Series([], dtype=object)}, columns=list(REFUSED_COLUMNS))
    else:
        refused = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    refuse(refused, on_leak, "images")
    if parts:
        with atomic_path(out_dir / _REFUSED) as tmp:
            refused.to_parquet(tmp, index=False)
    shutil.rmtree(folder, ignore_errors=True)
    return refused


def read_refused(out_dir: Path) -> pd.DataFrame | None:
    """The refused rows of a finished distributed run (None when it wrote none)."""
    path = out_dir / _REFUSED
    return pd.read_parquet(path) if path.exists() else None


def read_manifest(out_dir: Path) -> pd.DataFrame:
    """The partitioned manifest of a finished distributed run, in shard order."""
    folder = out_dir / _MANIFEST
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
