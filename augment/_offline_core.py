"""The work of one offline augmentation, shared by the in-process and the distributed paths.

* planning (:func:`_plan`): which parent and which seed each new image gets, from the groups,
  the labels, ``n`` and ``random_state`` only (never from worker order or chunking);
* making a chunk of images (:func:`_run_chunk_with`): seed, transform, record the applied
  parameters, optionally write each PNG atomically with its parameters inside;
* the manifest rows of made images (:func:`_manifest`).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.imageio import encode_png
from curakit.seeds import child_seed

from ._lineage import LINEAGE_COLUMNS
from ._manifest import fast_lineage_frame
from ._pipeline import apply_chunk, load_pipeline
from ._select import Group

#: Columns of an augmentation manifest: lineage, the parent's position in the input, the PNG
#: path relative to ``out_dir`` (None in memory) and the label.
MANIFEST_COLUMNS = (*LINEAGE_COLUMNS, "parent", "path", "label")

_MAX_SEED = 2**31 - 1


# -- planning ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    parents: np.ndarray  # int64 positions in the input
    seeds: np.ndarray  # int64
    row_ids: list[str]
    group_index: np.ndarray  # int64 index into groups
    files: list[str]  # relative PNG paths (under images/)


def _spread(positions: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` parents, each position used floor/ceil(count / len) times, in random order."""
    reps = math.ceil(count / len(positions)) if count else 0
    if reps == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([rng.permutation(positions) for _ in range(reps)])[:count].astype(np.int64)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _label_folders(labels: np.ndarray, parents: np.ndarray) -> list[str]:
    """The image folder (the safe label text) of each parent, computed once per distinct label."""
    cache: dict[int, str] = {}
    out = []
    for p in parents.tolist():
        folder = cache.get(p)
        if folder is None:
            folder = cache[p] = _safe(str(labels[p]))
        out.append(folder)
    return out


def _plan(groups: list[Group], labels: np.ndarray, n: int | dict | None, random_state: int) -> _Plan:
    parents, seeds, row_ids, gidx, files = [], [], [], [], []
    class_groups = all(g.label is not None for g in groups)
    if isinstance(n, dict) and class_groups:
        chosen = [g.label for g in groups]
        extra = [lab for lab in n if not any(lab == c for c in chosen)]
        lacking = [c for c in chosen if not any(c == lab for lab in n)]
        if extra or lacking:
            raise ParameterError(
                "With select={'classes': [...]}, n as a mapping gives one count per selected class. "
                + (f"n names class {extra[0]!r}, which is not selected." if extra else f"n has no count for class {lacking[0]!r}.")
            )
    for gi, g in enumerate(groups):
        if isinstance(n, dict):
            parts = []
            quota = {g.label: n[g.label]} if class_groups else n
            for lab, count in quota.items():
                members = g.positions[labels[g.positions] == lab] if len(g.positions) else g.positions
                if members.size == 0:
                    what = "the selection" if g.id in ("all", "selected") else f"group {g.id!r}"
                    raise DataError(
                        f"n asks for {count} images of class {lab!r} but {what} has no image of that class. "
                        "Remove the class from n or select rows that hold it."
                    )
                parts.append((members, count, child_seed(random_state, "offline", g.id, str(lab))))
        else:
            count = len(g.positions) if n is None else n
            parts = [(g.positions, count, child_seed(random_state, "offline", g.id))]
        k = 0
        gid, gsafe = g.id, _safe(g.id)
        for members, count, seed in parts:
            rng = np.random.default_rng(seed)
            p = _spread(members, count, rng)
            s = rng.integers(0, _MAX_SEED, size=len(p), dtype=np.int64)
            folders = _label_folders(labels, p)
            row_ids.extend([f"aug:{gid}:{j}" for j in range(k, k + len(p))])
            files.extend([f"{folder}/{gsafe}-{j:05d}.png" for j, folder in enumerate(folders, start=k)])
            k += len(p)
            parents.append(p)
            seeds.append(s)
            gidx.append(np.full(len(p), gi, dtype=np.int64))
    if len(set(files)) != len(files):
        raise DataError("Two groups map to one file name. Give the slices or classes distinct names.")
    def cat(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64)

    return _Plan(parents=cat(parents), seeds=cat(seeds), row_ids=row_ids, group_index=cat(gidx), files=files)


# -- workers ----------------------------------------------------------------------------------
_WORKER_PIPELINES: dict[str, Any] = {}


def _init_worker() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)  # one OpenCV thread per worker process
    except ImportError:  # pragma: no cover - cv2 comes with albumentations
        pass


def _worker_pipeline(payload: tuple[str, str, Any]):
    sha, kind, value = payload
    compose = _WORKER_PIPELINES.get(sha)
    if compose is None:
        compose = load_pipeline(value) if kind == "dict" else pickle.loads(value)
        _WORKER_PIPELINES.clear()
        _WORKER_PIPELINES[sha] = compose
    return compose


def _run_chunk_with(compose, task: dict[str, Any], dest=None, ks=None) -> tuple[list[np.ndarray], list[str]]:
    """Augment a chunk; returns the images and each one's applied parameters as JSON text.

    With paths, each PNG is written atomically with its parameters inside (a tEXt chunk), so a
    file under its final name is a finished image whose parameters can be read back. With
    ``dest`` (the result array) each image goes straight into its row ``ks[j]`` while still in cache.
    """
    outs, params = [], []
    paths = task["paths"]
    pid = os.getpid()
    for j, (out, text) in enumerate(apply_chunk(compose, task["images"], task["seeds"])):
        if paths is not None:
            _write_png_atomic(str(paths[j]), encode_png(out, text=text), pid)
        if dest is not None and out.shape == dest.shape[1:]:
            dest[ks[j]] = out
            out = dest[ks[j]]
        outs.append(out)
        params.append(text)
    return outs, params


def _write_png_atomic(path: str, data: bytes, pid: int) -> None:
    """:func:`curakit.imageio.write_png` for ready bytes: the same temporary sibling
    (``.<name>.<pid>.tmp``, cleared by ``remove_temporaries`` on resume), then ``os.replace``."""
    head, _, name = path.rpartition(os.sep)
    tmp = f"{head}{os.sep}.{name}.{pid}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _run_chunk(task: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    outs, params = _run_chunk_with(_worker_pipeline(task["pipeline"]), task)
    return _stack(outs), params  # one buffer to send back


def _stack(images: list[np.ndarray]) -> np.ndarray:
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise DataError(
            f"The pipeline produced images of different sizes ({a} and {b}). End the pipeline with A.Resize(...) "
            "or use fixed-size crops so every image has one size."
        )
    return np.stack(images) if images else np.zeros((0, 0, 0, 0), dtype=np.uint8)


def _worker_payload(compose: Any, pdict: dict[str, Any] | None, pipe_sha: str) -> tuple[str, str, Any]:
    """The pipeline as sent to worker processes: its dict form, else the pickled ``Compose``."""
    if pdict is not None:
        return (pipe_sha, "dict", pdict)
    try:
        return (pipe_sha, "pickle", pickle.dumps(compose))
    except Exception:  # noqa: BLE001 - a Lambda with a local function, an open handle, ...
        raise ParameterError(
            "The pipeline cannot be sent to worker processes (it holds a transform that can be neither "
            "serialised nor pickled, such as a Lambda of a local function). Use n_jobs=1."
        ) from None


def _manifest(plan, groups, kept, params, row_labels, out_path, source, pipe_sha) -> pd.DataFrame:
    """The manifest of the kept images: lineage, parent position, PNG path and label.

    ``row_labels[k]`` is the label of plan row ``k`` (its parent's label); ``params[k]`` its applied JSON.
    """
    row_ids = plan.row_ids
    kept_list = kept.tolist()
    gi = plan.group_index[kept]
    slice_json = [json.dumps(list(g.slice_ids)) for g in groups]
    reasons = [f"augmented to fill {g.description or g.id}" for g in groups]
    manifest = fast_lineage_frame(
        row_ids=[row_ids[k] for k in kept_list],
        origin="augmented",
        source=source,
        parent_ids=[f'["{p}"]' for p in plan.parents[kept].tolist()],
        operation="albumentations",
        # sorted keys, as lineage_frame writes them: "applied" < "pipeline_sha1"
        params=[f'{{"applied": {params[k]}, "pipeline_sha1": "{pipe_sha}"}}' for k in kept_list],
        slice_ids=[slice_json[g] for g in gi.tolist()],
        seed=plan.seeds[kept],
        reason=[reasons[g] for g in gi.tolist()],
    )
    manifest["parent"] = plan.parents[kept].astype(np.int64)
    manifest["path"] = [f"images/{plan.files[k]}" for k in kept_list] if out_path is not None else None
    new_labels = row_labels[kept]
    if new_labels.dtype != object:
        manifest["label"] = new_labels.tolist()  # Python scalars, as .item() gives them
    else:
        manifest["label"] = [v.item() if hasattr(v, "item") else v for v in new_labels]
    return manifest[list(MANIFEST_COLUMNS)]


@dataclass(frozen=True, slots=True)
class _GroupInfo:
    """What the manifest needs of a group (no member positions), to send to worker processes."""

    id: str
    slice_ids: tuple
    description: str | None


def _group_infos(groups) -> list[_GroupInfo]:
    return [_GroupInfo(g.id, tuple(g.slice_ids), g.description) for g in groups]
