"""Offline image augmentation: new images for weak slices, each one replayable bit for bit.

:func:`offline` plans every new image before making any: for each selected group (a slice, a
class, a mask...) it spreads the requested count evenly over the group's images (each parent is
used ``floor`` or ``ceil`` of count / size times, in a seeded random order) and draws one seed
per new image from ``child_seed(random_state, "offline", group)``. An image depends only on
(pipeline, parent, seed), so the output is identical for any ``n_jobs`` and any chunking.

With ``out_dir`` the images are written as PNG files ``out_dir/images/<label>/<group>-<k>.png``
(atomically, each with its applied parameters in a PNG text chunk), and finally the manifest
``out_dir/manifest.parquet`` (atomically, last). ``out_dir/run.json`` fingerprints the
inputs and arguments: re-running the same call on the same ``out_dir`` after an interruption
makes only the images that are missing and then writes the manifest; a finished ``out_dir``
is read back as is; an ``out_dir`` holding another run is refused.

Workers (``n_jobs > 1``) are processes started from a fork server that has albumentations and
the main module loaded; the pool is kept for the session and reused by later calls with the same
``n_jobs`` (each task carries its pipeline), so only the first call pays for starting it. In a
script, call :func:`offline` with ``n_jobs > 1`` under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import multiprocessing
import numbers
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import CurakitError, DataError, ParameterError
from curakit.imageio import read_png, read_png_text, remove_temporaries
from curakit.io import atomic_path, atomic_write_json
from curakit.progress import progress
from curakit.records import load_json
from curakit.seeds import resolve_seed
from curakit.validation import UNSET, check_image_shape_kept, check_labels, renamed

from ._leakage import REFUSED_COLUMNS, check_on_leak, check_tolerance, find_leaks, refuse
from ._offline_core import (
    MANIFEST_COLUMNS,
    _group_infos,
    _init_worker,
    _manifest,
    _Plan,
    _plan,
    _run_chunk,
    _run_chunk_with,
    _stack,
    _worker_payload,
)
from ._pipeline import apply_pipeline, load_pipeline, pipeline_dict, pipeline_fingerprint
from ._select import check_count, resolve_groups

__all__ = ["MANIFEST_COLUMNS", "AugmentedSet", "offline"]

logger = logging.getLogger(__name__)

_RUN_FILE = "run.json"
_MANIFEST = "manifest.parquet"
_REFUSED = "refused.parquet"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AugmentedSet:
    """New rows made by augment, with their lineage.

    images : uint8 (n, H, W, C) for image augmentation, else None.
    X : the new table rows (tabular), else None.
    labels : the label of each new row.
    manifest : one row per new row: :data:`MANIFEST_COLUMNS` (lineage + ``parent`` + ``path`` + ``label``).
    refused : rows refused by the leakage guard (:data:`augment._leakage.REFUSED_COLUMNS`).
    pipeline : albumentations' dict form of the pipeline (None when it has none).
    out_dir : where the images and manifest were written, or None.
    """

    images: np.ndarray | None
    labels: np.ndarray
    manifest: pd.DataFrame
    X: pd.DataFrame | None = None
    refused: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REFUSED_COLUMNS)))
    pipeline: dict[str, Any] | None = None
    out_dir: Path | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        shape = None if self.images is None else tuple(self.images.shape)
        return (
            f"AugmentedSet(n={len(self)}, images={shape}, refused={len(self.refused)}, "
            f"out_dir={None if self.out_dir is None else str(self.out_dir)!r})"
        )

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> AugmentedSet:
        """Read a finished ``out_dir`` written by :func:`offline`."""
        out_dir = Path(out_dir)
        manifest_path = out_dir / _MANIFEST
        if not manifest_path.exists():
            raise DataError(
                f"{str(out_dir)!r} holds no {_MANIFEST}: it is not a finished augmentation run. "
                "Re-run offline() with this out_dir to finish it."
            )
        manifest = pd.read_parquet(manifest_path)
        missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
        if missing:
            raise DataError(f"{_MANIFEST} in {str(out_dir)!r} lacks column(s) {missing}. It was not written by offline().")
        run = load_json(out_dir / _RUN_FILE, "Augmented set run") if (out_dir / _RUN_FILE).exists() else {}
        images = [read_png(out_dir / p) for p in manifest["path"]]
        stacked = np.stack(images) if images else np.zeros((0, 0, 0, 0), dtype=np.uint8)
        refused_path = out_dir / _REFUSED
        refused = pd.read_parquet(refused_path) if refused_path.exists() else pd.DataFrame(columns=list(REFUSED_COLUMNS))
        labels = _labels_from_json(run.get("label_dtype"), manifest["label"].tolist())
        return cls(
            images=stacked,
            labels=labels,
            manifest=manifest,
            refused=refused,
            pipeline=run.get("pipeline"),
            out_dir=out_dir,
        )


def _labels_from_json(dtype: str | None, values: list[Any]) -> np.ndarray:
    if dtype is None:
        return np.asarray(values)
    try:
        return np.asarray(values, dtype=np.dtype(dtype))
    except TypeError:
        return np.asarray(values, dtype=object)


_POOL: tuple[int, ProcessPoolExecutor] | None = None


def _pool(n_jobs: int) -> ProcessPoolExecutor:
    """One reusable pool of ``n_jobs`` workers per session (pipelines travel with the tasks)."""
    global _POOL
    if _POOL is not None:
        size, pool = _POOL
        if size == n_jobs and not getattr(pool, "_broken", False):
            return pool
        _drop_pool()
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # the fork server imports these once; workers fork from it without re-importing them
        ctx.set_forkserver_preload(["__main__", "albumentations", "augment._offline"])
    else:  # pragma: no cover - Windows / macOS without fork server
        ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_init_worker)
    _POOL = (n_jobs, pool)
    return pool


def _drop_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown(wait=False, cancel_futures=True)
        _POOL = None


atexit.register(_drop_pool)


# -- validation -------------------------------------------------------------------------------
def _check_resize(resize: Any) -> tuple[int, int] | None:
    from curakit.imageio import MAX_SIDE

    if resize is None:
        return None
    ok = (isinstance(resize, (tuple, list)) and len(resize) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in resize))
    if not ok:
        raise ParameterError(f"The 'resize' parameter of offline must be (H, W) in pixels, each 1..{MAX_SIDE}, such "
                             f"as (28, 28). Got {resize!r} instead.")
    return int(resize[0]), int(resize[1])


def _resized(image: np.ndarray, resize: tuple[int, int] | None) -> np.ndarray:
    """``image`` resized to ``resize`` (H, W), area interpolation: :func:`curakit.imageio.read_images`' resize."""
    from curakit.imageio import _resize

    return image if resize is None else _resize(image, resize)


def _check_images(images: Any, resize: tuple[int, int] | None = None) -> np.ndarray:
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, os.PathLike)):
        loaded = [_resized(read_png(p), resize) for p in images]
        if len({im.shape for im in loaded}) > 1:
            channels = {im.shape[-1] for im in loaded}
            if len(channels) > 1:
                raise DataError(
                    f"The image files mix {sorted(channels)} channels (grayscale and colour). "
                    "Convert every image to one mode (all grayscale or all RGB) first."
                )
            raise DataError("The image files differ in size. Resize them to one size first.")
        return np.stack(loaded)
    arr = images if isinstance(images, np.ndarray) else np.asarray(images)
    if arr.dtype != np.uint8:
        raise DataError(
            f"images must be uint8 in [0, 255]. Got dtype {arr.dtype} instead. "
            "Convert with (x * 255).round().astype('uint8') for floats in [0, 1]."
        )
    if arr.ndim == 3:
        raise DataError(
            f"images must be shaped (n, H, W, C). Got shape {arr.shape} instead. "
            "Add a channel axis with images[..., None] for grayscale."
        )
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"images must be shaped (n, H, W, C) with 1, 3 or 4 channels. Got shape {arr.shape} instead."
        )
    if resize is not None and arr.shape[1:3] != resize:
        arr = np.stack([_resized(im, resize) for im in arr]) if len(arr) else arr
    return arr


def _check_n_jobs(n_jobs: Any) -> int:
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise ParameterError(f"The 'n_jobs' parameter of offline must be an int >= 1 or -1. Got {n_jobs!r} instead.")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)




def _check_eval_channels(eval_sets: dict[str, np.ndarray], images: np.ndarray) -> None:
    for name, ev in eval_sets.items():
        if ev.shape[-1] != images.shape[-1]:
            raise DataError(
                f"Evaluation set {name!r} has {ev.shape[-1]} channel(s) but the images have {images.shape[-1]}. "
                "Pass evaluation images in the same mode (grayscale or RGB)."
            )


# -- out_dir ----------------------------------------------------------------------------------
def _fingerprint(images: np.ndarray, labels: np.ndarray, plan: _Plan, pipe_sha: str, source: str) -> str:
    h = hashlib.sha1()
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    h.update(json.dumps([str(v) for v in labels.tolist()]).encode())
    h.update(plan.parents.tobytes())
    h.update(plan.seeds.tobytes())
    h.update("\n".join(plan.row_ids).encode())
    h.update(pipe_sha.encode())
    h.update(source.encode())
    return h.hexdigest()


def _prepare_out_dir(out_dir: Path, run: dict[str, Any]) -> tuple[str, bool]:
    """Returns (state, created): state is "fresh", "resume" or "done"."""
    run_file = out_dir / _RUN_FILE
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"out_dir {str(out_dir)!r} is a file. Pass a folder path.")
    if out_dir.exists() and _clear_unfinished_start(out_dir):
        atomic_write_json(run_file, run)  # killed while writing the first run.json: start again
        return "fresh", False
    if out_dir.exists() and any(out_dir.iterdir()):
        if not run_file.exists():
            raise DataError(
                f"out_dir {str(out_dir)!r} is not empty and holds no augmentation run. Pass an empty or new folder."
            )
        try:
            old = json.loads(run_file.read_text())
        except ValueError:
            raise DataError(f"{_RUN_FILE} in {str(out_dir)!r} is corrupt. Delete the folder and run again.") from None
        if old.get("fingerprint") != run["fingerprint"]:
            raise DataError(
                f"out_dir {str(out_dir)!r} holds another augmentation run (different inputs or arguments). "
                "Pass another out_dir, or delete it to start over."
            )
        return ("done" if (out_dir / _MANIFEST).exists() else "resume"), False
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_file, run)
    return "fresh", created


def _clear_unfinished_start(out_dir: Path) -> bool:
    """True (and the leftovers removed) when ``out_dir`` holds only what a kill while writing the
    first ``run.json`` leaves: its temporary files and/or an empty or truncated ``run.json``,
    no image. Nothing else in the folder is ever touched."""
    if not out_dir.is_dir():
        return False
    entries = list(out_dir.iterdir())
    temps = [e for e in entries if e.is_file() and e.name.startswith(f".{_RUN_FILE}.")]
    run_file = out_dir / _RUN_FILE
    others = [e for e in entries if e not in temps and e != run_file]
    if others or not entries:
        return False
    if run_file.exists():
        try:
            if isinstance(json.loads(run_file.read_text()), dict):
                return False  # a complete run.json: a resumable run, checked by the caller
        except ValueError:
            pass
    for leftover in [*temps, *([run_file] if run_file.exists() else [])]:
        leftover.unlink()
    return True


# -- the entry point --------------------------------------------------------------------------
def offline(
    images: Any,
    labels: Any,
    pipeline: Any,
    *,
    select: Any = None,
    n: int | dict[Any, int] | None = None,
    out_dir: str | os.PathLike | None = None,
    random_state: int | None = 0,
    n_jobs: int = 1,
    eval_sets: Any = None,
    leak_tolerance: float | None = None,
    on_leak: str = "refuse",
    embeddings: Any = None,
    source: str = "input",
    progress: bool | None = None,
    progress_bar: Any = UNSET,
    client: Any = None,
    shard_size: int = 1000,
    resize: tuple[int, int] | None = None,
) -> AugmentedSet:
    """Make new images from the selected ones with an albumentations pipeline, with lineage.

    Parameters
    ----------
    images : uint8 (n, H, W, C) (C = 1 grayscale, 3 RGB, 4 RGBA), or a list of PNG paths.
    labels : one label per image; new images keep their parent's label.
    pipeline : an albumentations ``Compose``, its dict form, or a YAML/JSON file path.
    select : the images to augment: a ``Slice`` (or a list of slices, one group each), a boolean
        mask, row positions, or ``{"classes": [...]}`` (one group per class). None: all images.
    n : new images per group (int), or per class within each group (``{3: 100, 8: 50}``).
        None: one new image per selected image.
    out_dir : write PNGs and ``manifest.parquet`` there (resumable); None keeps them in memory.
    random_state : int seed; the same seed gives the same images for any ``n_jobs``.
    n_jobs : worker processes (-1: one per CPU).
    eval_sets : mapping name -> evaluation images; generated images that duplicate one of them
        (exactly, or within ``leak_tolerance`` RMS as a fraction of 255, default 0.02) are
        refused and listed in ``.refused`` (``on_leak="raise"`` raises :class:`LeakageError`).
    embeddings : embeddings of ``images`` (same model and layer as the slices), to re-apply
        cluster slices; without them a slice's ``indices`` are used.
    source : recorded as the lineage ``source`` of the new rows.

    Returns
    -------
    AugmentedSet with ``images``, ``labels``, ``manifest`` and ``refused``. Row ids are
    ``aug:<group>:<k>``; ``parent`` is the parent's position in ``images``; ``seed`` and
    ``params["applied"]`` reproduce the image with :func:`augment.replay`.
    progress : draw a progress bar (None: automatic; ``progress_bar=`` is the old name); with
        ``client=``, Dask's own progress bar (``distributed.progress``).
    client : a ``distributed.Client``: the work runs on its cluster, in shards of ``shard_size``
        new images (see ``augment._offline_dask``). ``images`` are then image paths (a list, a
        DataFrame or a Parquet table with a ``path`` column, and ``label`` when ``labels`` is
        None), ``out_dir`` is required, and the result holds ``images=None`` (the PNGs stay in
        ``out_dir/images/shard-<s>/``; ``manifest.parquet`` is a partitioned dataset). The
        images and manifest are the same for any number of workers; a dead worker's shards are
        re-run by the scheduler, and a stopped run resumes when called again. ``eval_sets`` work
        there too, with the same result: each shard checks its images before writing them
        (the evaluation images are sent once to every worker). ``images`` may also be a uint8
        array there: it is written once as ``out_dir/.parents.npy`` (removed when the call
        returns), which the workers memory-map (so ``out_dir`` costs one more copy of the
        parents on disk while the call runs, and each worker pages in only the rows its
        shards use; the client holds the array, as in one process).
    resize : (H, W): resize every parent to H x W (area interpolation, as
        :func:`curakit.imageio.read_images` does) before augmenting it. With ``client=`` and
        image paths the workers resize what they read: the pixels of the in-process run.
    """
    progress_bar = renamed("offline", "progress_bar", "progress", progress_bar, progress)
    if client is not None:
        return _offline_on_client(
            images, labels, pipeline, client=client, shard_size=shard_size, select=select, n=n, out_dir=out_dir,
            random_state=random_state, n_jobs=n_jobs, eval_sets=eval_sets, leak_tolerance=leak_tolerance,
            on_leak=on_leak, embeddings=embeddings, source=source, progress=progress_bar, resize=_check_resize(resize),
        )
    return _offline_in_process(
        images, labels, pipeline, select=select, n=n, out_dir=out_dir, random_state=random_state, n_jobs=n_jobs,
        eval_sets=eval_sets, leak_tolerance=leak_tolerance, on_leak=on_leak, embeddings=embeddings, source=source,
        progress=progress_bar, resize=_check_resize(resize),
    )


def _offline_in_process(images, labels, pipeline, *, select, n, out_dir, random_state, n_jobs, eval_sets,
                        leak_tolerance, on_leak, embeddings, source, progress, resize) -> AugmentedSet:
    """:func:`offline` in this process (``n_jobs`` worker processes of this machine)."""
    imgs, labs = _check_images_and_labels(images, labels, resize)
    count = check_count(n, "n", "offline")
    n_jobs = _check_n_jobs(n_jobs)
    seed = resolve_seed(random_state, "offline")
    on_leak, tol, evals = _check_leak_args(on_leak, leak_tolerance, eval_sets, imgs)
    groups = resolve_groups(select, len(imgs), labels=labs, embeddings=embeddings, owner="offline")
    compose = load_pipeline(pipeline)
    pdict = pipeline_dict(compose)
    pipe_sha = pipeline_fingerprint(compose)
    plan = _plan(groups, labs, count, seed)
    m = len(plan.parents)
    out_shape = None
    if m:  # probe: a pipeline unsuited to these images fails here, before anything is written
        out_shape = apply_pipeline(compose, np.ascontiguousarray(imgs[plan.parents[0]]), int(plan.seeds[0]))[0].shape
        check_image_shape_kept(imgs.shape[1:3], out_shape[:2], "offline")
    payload = _worker_payload(compose, pdict, pipe_sha) if n_jobs > 1 and m > 1 else None

    out_path = None if out_dir is None else Path(out_dir)
    state, created = "memory", False
    if out_path is not None:
        run = _run_record(imgs, labs, plan, seed, pdict, pipe_sha, str(source))
        state, created = _prepare_out_dir(out_path, run)
        if state == "done":
            logger.info("out_dir %s already holds this finished run; reading it back", out_path)
            return AugmentedSet.load(out_path)
    try:
        result = _generate(
            compose, imgs, labs, plan, groups, out_path, state, n_jobs, payload, progress,
            pdict=pdict, pipe_sha=pipe_sha, source=str(source), evals=evals, tol=tol, on_leak=on_leak,
            out_shape=out_shape,
        )
    except CurakitError:
        if created and out_path is not None:
            shutil.rmtree(out_path, ignore_errors=True)
        raise
    return result


def _offline_on_client(images, labels, pipeline, *, client, shard_size, select, n, out_dir, random_state, n_jobs,
                       eval_sets, leak_tolerance, on_leak, embeddings, source, progress, resize) -> AugmentedSet:
    """:func:`offline` on a ``distributed.Client`` (see ``augment._offline_dask``)."""
    from . import _offline_dask as od

    _check_client_args(out_dir, n_jobs, shard_size)
    parents, labs = _client_parents(od, images, labels, resize)
    count = check_count(n, "n", "offline")
    seed = resolve_seed(random_state, "offline")
    groups = resolve_groups(select, len(parents), labels=labs, embeddings=embeddings, owner="offline")
    compose = load_pipeline(pipeline)
    pdict, pipe_sha = pipeline_dict(compose), pipeline_fingerprint(compose)
    plan = _plan(groups, labs, count, seed)
    on_leak, tol, evals = _check_leak_args(on_leak, leak_tolerance, eval_sets, None)
    if len(plan.parents):  # probe on the client: a pipeline unsuited to the images fails before any work is sent
        k = int(plan.parents[0])
        first = parents[k] if isinstance(parents, np.ndarray) else _resized(read_png(parents[k]), resize)
        out = apply_pipeline(compose, first, int(plan.seeds[0]))[0]
        check_image_shape_kept(first.shape[:2], out.shape[:2], "offline")
        if evals:  # the in-process path's one-line errors for evaluation images of another mode or size
            _check_eval_channels(evals, first[None])
            find_leaks(out[None], evals, tolerance=tol)
    out_path = Path(out_dir)
    run = _run_record_paths(od, parents, labs, plan, seed, pdict, pipe_sha, str(source), int(shard_size), resize)
    if evals:
        run["fingerprint"] = hashlib.sha1(f"{run['fingerprint']}\n{od.eval_fingerprint(evals, tol)}".encode()).hexdigest()
    state, created = _prepare_out_dir(out_path, run)
    if state != "done":
        try:
            manifest, refused = od.run_shards(
                client, plan, parents, labs, _group_infos(groups), payload=_worker_payload(compose, pdict, pipe_sha),
                out_dir=out_path, shard_size=int(shard_size), source=str(source), pipe_sha=pipe_sha, progress=progress,
                evals=evals, tolerance=tol, on_leak=on_leak, resize=resize,
            )
        except CurakitError:
            if created:
                shutil.rmtree(out_path, ignore_errors=True)
            raise
    else:
        logger.info("out_dir %s already holds this finished run; reading its manifest back", out_path)
        manifest, refused = od.read_manifest(out_path), od.read_refused(out_path)
    if manifest is None or manifest.empty:
        manifest = pd.DataFrame(columns=list(MANIFEST_COLUMNS))
    keep = np.ones(len(plan.parents), dtype=bool)
    if refused is not None and len(refused):
        keep[refused["position"].to_numpy(dtype=np.int64)] = False
    extra = {} if refused is None else {"refused": refused}
    return AugmentedSet(images=None, labels=labs[plan.parents[keep]], manifest=manifest, pipeline=pdict,
                        out_dir=out_path, **extra)


def _check_client_args(out_dir: Any, n_jobs: Any, shard_size: Any) -> None:
    if out_dir is None:
        raise ParameterError("offline(client=...) writes its images to disk: pass out_dir= (a folder all workers can reach).")
    if n_jobs != 1:
        raise ParameterError("offline(client=...) runs on the cluster's workers: leave n_jobs at 1 (size the cluster instead).")
    if not isinstance(shard_size, numbers.Integral) or isinstance(shard_size, bool) or shard_size < 1:
        raise ParameterError(f"The 'shard_size' parameter of offline must be an int >= 1. Got {shard_size!r} instead.")


def _client_parents(od, images: Any, labels: Any, resize: tuple[int, int] | None) -> tuple[Any, np.ndarray]:
    """(parents, labels) of a run on a client: image paths (the workers read and resize them), or
    a uint8 array (checked and resized here, as in one process)."""
    if isinstance(images, np.ndarray):
        return _check_images_and_labels(images, labels, resize)
    paths, labels = od.parent_paths(images, labels)
    labs = check_labels(labels, "labels", "offline")
    if len(labs) != len(paths):
        raise DataError(f"images and labels differ in length ({len(paths)} vs {len(labs)}). Pass one label per image.")
    return paths, labs


def _run_record_paths(od, parents, labs, plan, seed, pdict, pipe_sha, source, shard_size, resize) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "fingerprint": od.parents_fingerprint(parents, labs, plan, pipe_sha, source, shard_size, resize),
        "engine": "distributed",
        "shard_size": shard_size,
        "random_state": seed,
        "n_images": len(plan.parents),
        "pipeline": pdict,
        "pipeline_sha1": pipe_sha,
        "label_dtype": str(labs.dtype) if labs.dtype != object else None,
    }


def _check_images_and_labels(images: Any, labels: Any, resize: tuple[int, int] | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    imgs = _check_images(images, resize)
    labs = check_labels(labels, "labels", "offline")
    if len(labs) != len(imgs):
        raise DataError(f"images and labels differ in length ({len(imgs)} vs {len(labs)}). Pass one label per image.")
    return imgs, labs


def _check_leak_args(on_leak: Any, leak_tolerance: Any, eval_sets: Any, imgs: np.ndarray | None) -> tuple[str, Any, dict]:
    from ._leakage import eval_arrays

    on_leak = check_on_leak(on_leak, "offline")
    tol = check_tolerance(leak_tolerance, "images", "offline")
    evals = eval_arrays(eval_sets, kind="images")
    if imgs is not None:
        _check_eval_channels(evals, imgs)
    return on_leak, tol, evals


def _run_record(imgs, labs, plan: _Plan, seed: int, pdict, pipe_sha: str, source: str) -> dict[str, Any]:
    """The content of ``run.json``: the fingerprint of inputs and arguments, and how to read labels back."""
    return {
        "schema_version": 1,
        "fingerprint": _fingerprint(imgs, labs, plan, pipe_sha, source),
        "random_state": seed,
        "n_images": len(plan.parents),
        "pipeline": pdict,
        "pipeline_sha1": pipe_sha,
        "label_dtype": str(labs.dtype) if labs.dtype != object else None,
    }


def _generate(
    compose, imgs, labs, plan, groups, out_path, state, n_jobs, payload, progress_bar, *,
    pdict, pipe_sha, source, evals, tol, on_leak, out_shape=None,
) -> AugmentedSet:
    m = len(plan.parents)
    paths = None if out_path is None else [out_path / "images" / f for f in plan.files]
    outputs, params, todo = _done_images(out_path, paths, state, m)
    # the result array, filled as images are made (one copy per image, while it is in cache)
    dest = np.empty((m, *out_shape), dtype=np.uint8) if m and out_shape is not None else None
    _make_images(compose, imgs, plan, paths, todo, outputs, params, n_jobs, payload, progress_bar, dest)
    new_images = _stack_outputs(outputs, m, imgs, dest)
    outputs.clear()
    refused, keep = _refuse_leaks(new_images, plan, paths, evals, tol, on_leak)
    kept = np.flatnonzero(keep)
    manifest = _manifest(plan, groups, kept, params, labs[plan.parents], out_path, source, pipe_sha)
    new_labels = labs[plan.parents[kept]]
    images_out = new_images[kept] if len(kept) < m else new_images
    if out_path is not None:
        if not refused.empty:
            with atomic_path(out_path / _REFUSED) as tmp:
                refused.to_parquet(tmp, index=False)
        with atomic_path(out_path / _MANIFEST) as tmp:
            manifest.to_parquet(tmp, index=False)
    logger.info("offline augmentation made %d images (%d refused)", len(kept), len(refused))
    return AugmentedSet(
        images=images_out,
        labels=new_labels,
        manifest=manifest,
        refused=refused,
        pipeline=pdict,
        out_dir=out_path,
    )


def _done_images(out_path, paths, state, m) -> tuple[list, list, list[int]]:
    """(outputs, params, todo): the images already written by an interrupted run, and those left to make."""
    outputs: list[np.ndarray | None] = [None] * m
    params: list[str | None] = [None] * m
    todo = list(range(m))
    if paths is None:
        return outputs, params, todo
    for folder in {p.parent for p in paths}:
        folder.mkdir(parents=True, exist_ok=True)
    if state == "resume":
        removed = remove_temporaries(out_path)
        todo = []
        for k in range(m):
            text = None
            if paths[k].exists():
                image, text = read_png_text(paths[k])
            if text is not None:
                outputs[k], params[k] = image, text
            else:
                todo.append(k)
        logger.info("resuming %s: %d of %d images done, %d temporary files removed", out_path, m - len(todo), m, removed)
    return outputs, params, todo


def _make_images(compose, imgs, plan, paths, todo, outputs, params, n_jobs, payload, progress_bar, dest=None) -> None:
    """Make the images of ``todo`` in chunks (in worker processes with a ``payload``), filling ``outputs``/``params``."""
    chunk = max(1, min(64, math.ceil(len(todo) / (max(n_jobs, 1) * 4)))) if todo else 1
    pooled = payload is not None and len(todo) > chunk
    tasks = []
    for start in range(0, len(todo), chunk):
        ks = todo[start : start + chunk]
        parents = plan.parents[ks]
        tasks.append(
            (
                ks,
                {
                    # one array to send to a worker; views of the input in this process (no copy)
                    "images": np.ascontiguousarray(imgs[parents]) if pooled
                    else [np.ascontiguousarray(imgs[p]) for p in parents.tolist()],
                    "seeds": plan.seeds[ks],
                    "paths": None if paths is None else [paths[k] for k in ks],
                },
            )
        )
    desc = f"augment ({len(todo)} images)"
    if pooled:
        _make_in_pool(tasks, payload, n_jobs, outputs, params, desc, progress_bar)
    else:
        for ks, task in progress(tasks, desc=desc, total=len(tasks), enabled=progress_bar):
            out, ps = _run_chunk_with(compose, task, dest, ks)
            for j, k in enumerate(ks):
                outputs[k], params[k] = out[j], ps[j]


def _make_in_pool(tasks, payload, n_jobs, outputs, params, desc, progress_bar) -> None:
    from concurrent.futures.process import BrokenProcessPool

    for _, t in tasks:
        t["pipeline"] = payload
    try:
        pool = _pool(n_jobs)
        results = pool.map(_run_chunk, [t for _, t in tasks])
        for (ks, _), (out, ps) in progress(
            zip(tasks, results), desc=desc, total=len(tasks), enabled=progress_bar
        ):
            for j, k in enumerate(ks):
                outputs[k], params[k] = out[j], ps[j]
    except BrokenProcessPool:
        _drop_pool()
        raise CurakitError(
            "A worker process of offline(n_jobs>1) died before finishing. In a script, call offline() under "
            "`if __name__ == '__main__':` (workers start from a fork server and re-import the main module), "
            "or use n_jobs=1. Images written so far are kept; re-run to resume."
        ) from None
    except BaseException:
        _drop_pool()  # interrupted: do not keep workers that may still be busy
        raise


def _stack_outputs(outputs: list, m: int, imgs: np.ndarray, dest: np.ndarray | None = None) -> np.ndarray:
    """The images as one array: ``dest`` (rows already placed are kept) or a new one."""
    if not m:
        return np.zeros((0, *imgs.shape[1:]), dtype=np.uint8)
    shapes = {o.shape for o in outputs}
    if len(shapes) > 1:
        _stack([o for o in outputs])  # raises the one-line error naming the sizes
    if dest is None or dest.shape[1:] != outputs[0].shape:
        dest = np.empty((m, *outputs[0].shape), dtype=np.uint8)
    for k, o in enumerate(outputs):
        if o.base is not dest:  # resumed from files or made in a worker process
            dest[k] = o
    return dest


def _refuse_leaks(new_images, plan, paths, evals, tol, on_leak) -> tuple[pd.DataFrame, np.ndarray]:
    """(refused, keep): images duplicating an evaluation image are refused (their files removed)."""
    m = len(plan.parents)
    refused = pd.DataFrame(columns=list(REFUSED_COLUMNS))
    keep = np.ones(m, dtype=bool)
    if evals and m:
        refused = find_leaks(new_images, evals, tolerance=tol, row_ids=list(plan.row_ids))
        refuse(refused, on_leak, "images")
        if not refused.empty:
            refused = refused.assign(parent=plan.parents[refused["position"].to_numpy()])
            keep[refused["position"].to_numpy()] = False
            if paths is not None:
                for k in refused["position"].tolist():
                    paths[k].unlink(missing_ok=True)
    return refused, keep
