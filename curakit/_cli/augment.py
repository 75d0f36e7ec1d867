"""``curakit augment``: fill a weak slice of an image folder or a table.

Inputs
------
INPUT        image data: a folder ``INPUT/<class>/<image>.png`` (class names, sorted as
             torchvision's ImageFolder, or a ``classes.txt``; or class indices), an ``.npz``
             with ``images`` and ``labels``, or a Parquet/CSV table with a ``path`` column of
             image files (and a ``label`` column); or a table (``.parquet``/``.pq``/``.csv``)
             with a label column (``--target-col``).
--pipeline   images: ``default`` (a light label-keeping pipeline: small affine,
             brightness/contrast, weak noise; no flips; see ``curakit._cli.pipelines``) or an
             albumentations pipeline file (YAML or JSON written by ``albumentations.save``).
--method     tables: ``smote`` (default) and the SMOTE family; images and tables: ``vae``
             (``augment.generate``: a conditional VAE fitted on INPUT, sampled around the
             slice's members, each row checked: no near-copies of INPUT or --eval rows, the
             intended label). With vae: ``--temperature``, ``--epochs``, ``--latent-dim``,
             ``--device cuda``, ``--condition class+slice`` (also condition on slice membership),
             ``--save-generator DIR`` / ``--generator DIR``.
What to fill (one of; default: everything):
  --diagnosis DIAGNOSIS.json --slice ID   a slice of ``curakit diagnose`` (found on these rows,
                                          or re-applied: rule slices on the table's columns,
                                          cluster slices with --embeddings)
  --indices 3,17,42 | FILE                row positions (a comma list, or a .txt/.json/.npy file)
  --classes 3,8                           whole classes
--n          new images / rows per slice or class: ``200``, or per class ``3=100,8=50``. A table's
             SMOTE family makes ``--n`` new rows per class within the slice (a slice of 2 classes: 2 x N).

Outputs (in ``--out``: new, empty or an earlier curakit output, replaced whole and atomically;
a folder of your own only with ``--force``, and then only curakit's file names are written)
----------------------------------------------------------------------------------------------
Images: ``images/<label>/<file>.png`` and ``manifest.parquet`` (one row per new image: parent
position, seed and applied parameters; replay with ``augment.replay`` / ``VAEGenerator.replay``).
An interrupted offline run resumes on the same arguments.
Table: ``table.parquet`` and ``manifest.parquet`` (lineage row-aligned with the table): SMOTE
family: the input rows then the new rows; vae: the new rows only.
Both: ``augment.json`` (input, kind, method: what ``curakit build --add`` reads) and, for vae,
``quality.json`` (two-sample AUC, refusals per slice).

Scale (offline augmentation of image data: a folder, a table of paths or an .npz)
--------------------------------------------------------------------------------
``--scheduler tcp://host:8786`` (or ``$DASK_SCHEDULER_ADDRESS``) runs ``augment.offline`` on a
Dask cluster, ``--workers N`` on a local one of N worker processes; ``--shard-size`` new images
per task (default 1000). The workers read the parent files (resized to ``--resize`` as they read
them) and write the PNGs themselves, so INPUT and ``--out`` must be on storage every worker
reaches. An ``.npz`` is read here and written once, next to ``--out`` (in its staging folder,
removed at the end), as an ``.npy`` the workers memory-map. Dask's progress bar is drawn when
stderr is a terminal (or ``CURAKIT_PROGRESS=1``); the dashboard link is printed. The same
images, manifest rows and refused rows as the in-process run; the files are laid out by shard
(``images/shard-<s>/<label>/<file>.png``) and ``manifest.parquet`` is a partitioned dataset (a
folder, read with ``pandas.read_parquet``). ``--method vae`` and tables stay in this process.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curakit.exceptions import DataError, ParameterError
from curakit.io import read_table

from ._options import add_random_state

if TYPE_CHECKING:
    import numpy as np

__all__ = ["add_parser", "run"]

_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")


def _convert(value: str, like: np.ndarray) -> Any:
    if like.dtype.kind in "iu":
        try:
            return int(value)
        except ValueError:
            raise ParameterError(f"The labels are integers but {value!r} is not. Name classes by their integer label.") from None
    if like.dtype.kind == "f":
        try:
            return float(value)
        except ValueError:
            raise ParameterError(f"The labels are numbers but {value!r} is not. Name classes by their label.") from None
    return value


#: the most new rows ``--n`` may ask for per slice or class (a typo guard; the API has no such bound)
MAX_N = 10_000_000


def _check_count(count: int, text: str) -> int:
    if count > MAX_N:
        raise ParameterError(f"--n {text!r} asks for {count} new rows; give at most {MAX_N:,} per slice or class "
                             "(split a larger run, or call augment from Python).")
    return count


def _parse_n(text: str | None, labels: np.ndarray) -> int | dict[Any, int] | None:
    if text is None:
        return None
    text = text.strip()
    if "=" not in text:
        try:
            count = int(text)
        except ValueError:
            raise ParameterError(f"--n expects an int or CLASS=COUNT pairs (3=100,8=50). Got {text!r} instead.") from None
        return _check_count(count, text)
    out: dict[Any, int] = {}
    for part in text.split(","):
        key, sep, count = part.partition("=")
        if not sep:
            raise ParameterError(f"--n expects CLASS=COUNT pairs separated by commas (3=100,8=50). Got {part!r}.")
        try:
            value = int(count)
        except ValueError:
            raise ParameterError(f"--n expects integer counts (3=100). Got {part!r} instead.") from None
        out[_convert(key.strip(), labels)] = _check_count(value, part)
    return out


def _read_indices(text: str) -> np.ndarray:
    import numpy as np

    path = Path(text)
    if path.suffix.lower() in (".txt", ".json", ".npy") or path.exists():
        if not path.exists():
            raise FileNotFoundError(2, "No such file", str(path))
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".json":
            values = json.loads(path.read_text())
        else:
            values = path.read_text().replace(",", " ").split()
    else:
        values = [v for v in text.split(",") if v.strip()]
    try:
        return np.asarray([int(v) for v in np.asarray(values).ravel().tolist()], dtype=np.int64)
    except ValueError:
        raise ParameterError("--indices expects integer row positions (3,17,42 or a file of them).") from None


def _load_slice(path: str, slice_id: str):
    from curakit.plugins import did_you_mean
    from diagnose import Slice

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        raise DataError(f"Diagnosis file {p.name!r} is not valid JSON. Pass diagnosis.json written by curakit diagnose.") from None
    if isinstance(data, dict) and "slices" in data:
        items = data["slices"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, dict) and "definition" in data:
        items = [data]
    else:
        raise DataError(f"Diagnosis file {p.name!r} holds no slices. Pass diagnosis.json written by curakit diagnose.")
    ids = [s.get("id") for s in items]
    if slice_id not in ids:
        raise DataError(
            f"Diagnosis file {p.name!r} has no slice {slice_id!r}.{did_you_mean(slice_id, [str(i) for i in ids])} "
            f"It has {len(ids)} slice(s); list them with curakit diagnose or slices.csv."
        )
    return Slice.from_dict(items[ids.index(slice_id)])


def _selection(args: argparse.Namespace, labels: np.ndarray) -> Any:
    given = [bool(args.diagnosis or args.slice), bool(args.indices), bool(args.classes)]
    if sum(given) > 1:
        raise ParameterError("Pass one of --diagnosis/--slice, --indices or --classes, not several.")
    if args.diagnosis or args.slice:
        if not (args.diagnosis and args.slice):
            raise ParameterError("--diagnosis and --slice go together: the diagnosis file and the id of one of its slices.")
        return _load_slice(args.diagnosis, args.slice)
    if args.indices:
        return _read_indices(args.indices)
    if args.classes:
        return {"classes": [_convert(c.strip(), labels) for c in args.classes.split(",") if c.strip()]}
    return None


def _eval_sets(items: list[str] | None, *, images: bool, resize: Any = None) -> dict[str, Any]:
    from curakit.imageio import read_images

    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(2, "No such file", str(p))
        out[name] = read_images(p, resize=resize)[0] if images else read_table(p, "--eval")
    return out


def _record(args: argparse.Namespace, src: Path, kind: str, method: str, **extra: Any) -> dict[str, Any]:
    """``augment.json``: what ``curakit build --add`` needs to read the folder back."""
    return {"schema_version": 1, "input": str(src.resolve()), "kind": kind, "method": method,
            "random_state": args.random_state, **extra}


def _write_json(path: Path, obj: Any) -> None:
    from curakit.records import json_ready

    path.write_text(json.dumps(json_ready(obj), indent=2, sort_keys=True, default=str) + "\n")


def _embeddings(path: str | None, n_images: int) -> Any:
    """--embeddings: an .npy with one row per image of INPUT (checked here, whatever the selection)."""
    import numpy as np

    if not path:
        return None
    if not Path(path).exists():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        emb = np.load(path, allow_pickle=False)
    except (ValueError, OSError):
        raise DataError(f"--embeddings {Path(path).name!r} is not a .npy array. Save it with numpy.save.") from None
    if emb.ndim != 2 or len(emb) != n_images:
        raise DataError(f"--embeddings has shape {emb.shape} but INPUT has {n_images} images. Pass the embeddings "
                        "of INPUT's images: one row per image, in INPUT's order.")
    return emb


def _check_vae_args(args: argparse.Namespace) -> int:
    import numpy as np

    if args.pipeline:
        raise ParameterError("--method vae generates new rows itself; drop --pipeline (or drop --method vae).")
    n = 100 if args.n is None else _parse_n(args.n, np.zeros(0))
    if not isinstance(n, int):
        raise ParameterError("--method vae takes one --n for every slice or class (200), not CLASS=COUNT pairs.")
    return n


def _vae(args: argparse.Namespace, data: Any, labels: Any, select: Any, exclude: Any, kind: str) -> Any:
    """augment.generate, with --generator (load) / --save-generator (fit, save) handled."""
    import augment

    n = _check_vae_args(args)
    if args.condition != "class" and (args.save_generator or args.generator):
        raise ParameterError("--condition class+slice fits a generator for this selection; it does not combine with "
                             "--save-generator / --generator yet. Drop one of them.")
    gen = None
    if args.generator:
        gen = augment.VAEGenerator.load(args.generator)
    elif args.save_generator:
        gen = augment.VAEGenerator.fit(data, labels, kind=kind, random_state=args.random_state,
                                       latent_dim=args.latent_dim, epochs=args.epochs, device=args.device)
    out = augment.generate(data, labels, select=select, n=n, method="vae", temperature=args.temperature,
                           exclude=exclude, generator=gen, random_state=args.random_state, device=args.device,
                           epochs=args.epochs, latent_dim=args.latent_dim, condition=args.condition)
    if args.save_generator:
        from curakit.io import atomic_dir

        from ._output import publish

        publish(args.save_generator, args.force, lambda p: _save_generator(gen, p, atomic_dir))
    return out


def _save_generator(gen: Any, path: Path, atomic_dir: Any) -> None:
    with atomic_dir(path) as tmp:
        gen.save(tmp)


def _write_vae_images(tmp: Path, out: Any, record: dict[str, Any]) -> None:
    import numpy as np

    from curakit.imageio import write_png

    paths = []
    for k, (image, label) in enumerate(zip(out.images, out.labels)):
        folder = tmp / "images" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        write_png(folder / f"vae-{k:05d}.png", image)
        paths.append(f"images/{label}/vae-{k:05d}.png")
    manifest = out.manifest.copy()
    manifest["path"] = paths
    quality = manifest.attrs.get("quality", {})
    manifest.attrs = {}
    manifest.to_parquet(tmp / "manifest.parquet", index=False)
    out.refused.to_parquet(tmp / "refused.parquet", index=False)
    labels = np.asarray(out.labels)
    _write_json(tmp / "run.json", {"schema_version": 1, "n_images": len(labels), "pipeline": None,
                                   "label_dtype": str(labels.dtype) if labels.dtype != object else None})
    _write_json(tmp / "quality.json", quality)
    _write_json(tmp / "augment.json", record)


def _offline_into(stage: Path, call: Any) -> Any:
    """augment.offline into the stable staging folder (an interrupted run resumes there); a stale
    staging folder of other arguments is curakit's own leftover: removed, then one more try."""
    import shutil

    from curakit.exceptions import CurakitError

    had_run = (stage / "run.json").is_file() and not (stage / "manifest.parquet").exists()
    try:
        return call(stage)
    except CurakitError:
        if not had_run:
            raise
        shutil.rmtree(stage, ignore_errors=True)
        return call(stage)


def _publish_staged(args: argparse.Namespace, stage: Path, record: dict[str, Any], quality: Any = None) -> None:
    import os
    import shutil

    from curakit.io import atomic_dir

    from ._output import publish

    def write(path: Path) -> None:
        with atomic_dir(path) as tmp:
            for entry in stage.iterdir():
                os.replace(entry, tmp / entry.name)
            _write_json(tmp / "augment.json", record)
            if quality is not None:
                _write_json(tmp / "quality.json", quality)

    publish(args.out, args.force, write)
    shutil.rmtree(stage, ignore_errors=True)


def _run_images(args: argparse.Namespace, root: Path) -> int:
    import numpy as np

    import augment
    from curakit.imageio import folder_class_names, parse_size, read_images

    method = args.method or "offline"
    if method not in ("offline", "vae"):
        raise ParameterError(f"--method {method!r} applies to tables; images take --pipeline (offline) or --method vae.")
    if method == "offline" and not args.pipeline:
        raise ParameterError("An image folder needs --pipeline: 'default' (the built-in light pipeline) or a YAML "
                             "or JSON file written by albumentations.save (or --method vae to generate images).")
    from .pipelines import named_pipeline

    if _wants_cluster(args, method):
        return _run_images_on_cluster(args, root)
    size = parse_size(args.resize)
    images, labels, _ = read_images(root, resize=size)
    select = _selection(args, labels)
    evals = _eval_sets(args.eval, images=True, resize=size) or None
    classes = folder_class_names(root) or sorted({str(v) for v in labels.tolist()})
    record = _record(args, root, "images", method, classes=classes, n_input=len(images))
    out_dir = Path(args.out)
    if method == "vae":
        exclude = np.concatenate(list(evals.values())) if evals else None
        out = _vae(args, images, labels, select, exclude, "image")
        from curakit.io import atomic_dir

        from ._output import publish

        publish(out_dir, args.force, lambda p: _atomic(p, atomic_dir, lambda t: _write_vae_images(t, out, record)))
        refused = f"; {len(out.refused)} candidate(s) refused by the quality checks" if len(out.refused) else ""
    else:
        pipeline = named_pipeline(args.pipeline, images.shape[1:])
        embeddings = _embeddings(args.embeddings, len(images))
        stage = out_dir.parent / f".{out_dir.name}.partial"
        out = _offline_into(stage, lambda d: augment.offline(
            images, labels, pipeline, select=select, n=_parse_n(args.n, labels), out_dir=d,
            random_state=args.random_state, n_jobs=args.n_jobs, eval_sets=evals, embeddings=embeddings,
            source=str(root)))
        _publish_staged(args, stage, record)
        refused = f"; {len(out.refused)} refused as duplicates of evaluation images" if len(out.refused) else ""
    print(f"{len(images)} images read; {len(out)} new image(s) by {method} written to {out_dir / 'images'}{refused}. "
          f"Manifest: {out_dir / 'manifest.parquet'}.")
    return 0


def _atomic(path: Path, atomic_dir: Any, fill: Any) -> None:
    with atomic_dir(path) as tmp:
        fill(tmp)


def _write_table(tmp: Path, result: Any, prov: Any, record: dict[str, Any]) -> None:
    quality = prov.attrs.get("quality")
    prov = prov.copy()
    prov.attrs = {}
    result.to_parquet(tmp / "table.parquet", index=False)
    prov.to_parquet(tmp / "manifest.parquet", index=False)
    _write_json(tmp / "augment.json", record)
    if quality is not None:
        _write_json(tmp / "quality.json", quality)


def _check_interpolable(X: Any, method: str, categorical: list[str] | None) -> None:
    """The SMOTE family interpolates numbers: non-numeric columns without --categorical are refused
    here in the command line's words (the API's error names method= / categorical=)."""
    import pandas as pd

    if categorical is not None or method in ("random_over", "random_under"):
        return
    bad = [str(c) for c in X.columns
           if not pd.api.types.is_numeric_dtype(X[c].dtype) or pd.api.types.is_bool_dtype(X[c].dtype)]
    if bad:
        named = ",".join(bad[:4]) + (",..." if len(bad) > 4 else "")
        raise DataError(f"The table has {len(bad)} non-numeric column(s) (first: {bad[0]!r}) that {method} cannot "
                        f"interpolate. Pass --method smotenc --categorical {named}, or drop them from the table "
                        "(a date column: drop it or turn it into numbers).")


def _run_table(args: argparse.Namespace, path: Path) -> int:
    import pandas as pd

    import augment
    from curakit.io import atomic_dir

    from ._output import publish

    if args.pipeline:
        raise ParameterError("--pipeline applies to image folders; tables are resampled with --method.")
    if args.scheduler or args.workers is not None:
        raise ParameterError("--scheduler/--workers run offline augmentation of images on Dask; the SMOTE family "
                             "and vae resample a table from all its rows in this process. Drop --scheduler/--workers.")
    method = args.method or "smote"
    table = read_table(path, "Input")
    if not args.target_col:
        raise ParameterError("A table needs --target-col naming its label column.")
    if args.target_col not in table.columns:
        raise DataError(f"The table has no column {args.target_col!r} ({table.shape[1]} columns). Name the label column with --target-col.")
    y = table[args.target_col].to_numpy()
    X = table.drop(columns=[args.target_col])
    select = _selection(args, y)
    evals = _eval_sets(args.eval, images=False) or None
    if method == "vae":
        exclude = None
        if evals:
            exclude = pd.concat([e[[c for c in X.columns if c in e.columns]] for e in evals.values()], ignore_index=True)
        X2, y2, prov = _vae(args, X, y, select, exclude, "table")
        rows = "generated"
    else:
        categorical = [c.strip() for c in args.categorical.split(",")] if args.categorical else None
        _check_interpolable(X, method, categorical)
        X2, y2, prov = augment.oversample(X, y, method=method, select=select, n=_parse_n(args.n, y),
                                          k_neighbors=args.k_neighbors, categorical=categorical,
                                          random_state=args.random_state, eval_sets=evals)
        rows = "all"
    result = pd.DataFrame(X2, columns=X.columns) if not isinstance(X2, pd.DataFrame) else X2.copy()
    result[args.target_col] = y2
    record = _record(args, path, "table", method, target=args.target_col, rows=rows, n_input=len(table))
    publish(args.out, args.force, lambda p: _atomic(p, atomic_dir, lambda t: _write_table(t, result, prov, record)))
    n_new = int((prov["origin"] == "synthetic").sum())
    refused = prov.attrs.get("refused")
    what = "new rows only" if rows == "generated" else "the input rows then the new rows"
    print(
        f"{len(table)} rows read; {n_new} new row(s) by {method}; table of {len(result)} rows ({what}) written to "
        f"{Path(args.out) / 'table.parquet'}"
        + (f"; {len(refused)} refused" if refused is not None and len(refused) else "")
        + "."
    )
    return 0


# -- offline augmentation on a Dask cluster ---------------------------------------------------
_ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"


def _wants_cluster(args: argparse.Namespace, method: str) -> bool:
    """Whether ``--scheduler`` / ``--workers`` / ``$DASK_SCHEDULER_ADDRESS`` send this run to Dask.

    The flags are refused where the run cannot go there; the variable alone is only followed
    where it can (offline augmentation of image data, --n-jobs 1)."""
    import os

    explicit = bool(args.scheduler) or args.workers is not None
    if args.scheduler and args.workers is not None:
        raise ParameterError("Pass --scheduler ADDRESS (a running Dask cluster) or --workers N (a local one), not both.")
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers expects a number of worker processes >= 1. Got {args.workers} instead.")
    if args.shard_size < 1:
        raise ParameterError(f"--shard-size expects a number of images >= 1. Got {args.shard_size} instead.")
    fits = [
        (method == "offline", "--method vae fits its generator on every image in this process and does not run on "
                              "Dask. Drop --scheduler/--workers to generate here (--device cuda for a GPU), or use "
                              "--pipeline for offline augmentation on Dask"),
        (args.n_jobs == 1, "--n-jobs sizes this process's pool and does not apply on Dask. Drop --n-jobs and size "
                           "the cluster with --workers"),
    ]
    why = next((reason for ok, reason in fits if not ok), None)
    if explicit and why is not None:
        raise ParameterError(f"{why}.")
    return explicit or (why is None and bool(os.environ.get(_ENV_ADDRESS)))


def _image_files(src: Path) -> tuple[list[str], np.ndarray]:
    """(paths, labels) of an image folder or a table of image paths, in :func:`read_images`' order,
    without reading the images (the workers read them)."""
    import numpy as np

    from curakit.imageio import image_path_column

    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() == ".png"
                       and not p.name.startswith(".") and p.parent != src)
        if not files:
            raise DataError(f"Image folder {src.name!r} holds no PNG files in sub-folders. Lay it out as "
                            "<folder>/<label>/<image>.png.")
        names = [p.relative_to(src).parts[0] for p in files]
        digits = all(n.lstrip("-").isdigit() for n in names)
        labels = np.asarray([int(n) for n in names], dtype=np.int64) if digits else np.asarray(names, dtype=str)
        return [str(p) for p in files], labels
    col = image_path_column(src)
    table = read_table(src, "Image table")
    if col is None or "label" not in table.columns or len(table) == 0:
        raise DataError(f"Image table {src.name!r} needs rows with a {col or 'path'!r} column (image files, relative "
                        f"to the table's folder) and a 'label' column. Got {table.shape[1]} column(s).")
    labels = table["label"].to_numpy()
    if labels.dtype.kind not in "iu":
        labels = labels.astype(str)
    return [str(src.parent / str(v)) for v in table[col].tolist()], labels


def _open_cluster(args: argparse.Namespace) -> Any:
    """curate.open_engine: the scheduler of --scheduler or $DASK_SCHEDULER_ADDRESS, else a LocalCluster of --workers."""
    import curate

    return curate.open_engine("dask", scheduler=args.scheduler or None, workers=args.workers, cluster_log_level="error")


def _cluster_parents(args: argparse.Namespace, root: Path) -> tuple[Any, np.ndarray, tuple[int, ...]]:
    """(parents, labels, image shape after --resize) for the cluster: image files the workers read
    (and resize), or an .npz's arrays (the client reads them; offline writes them once for the workers)."""
    from curakit.imageio import parse_size, read_images, read_png

    size = parse_size(args.resize)
    if root.suffix.lower() == ".npz":
        images, labels, _ = read_images(root)
        shape = images.shape[1:]
    else:
        images, labels = _image_files(root)
        shape = read_png(images[0]).shape
    return images, labels, shape if size is None else (*size, shape[-1])


def _run_images_on_cluster(args: argparse.Namespace, root: Path) -> int:
    """``augment.offline(client=...)``: the same arguments as the in-process run, on Dask's workers."""

    import augment
    from curakit.imageio import folder_class_names, parse_size

    from .pipelines import named_pipeline

    parents, labels, shape = _cluster_parents(args, root)
    size = parse_size(args.resize)
    select = _selection(args, labels)
    evals = _eval_sets(args.eval, images=True, resize=size) or None
    classes = folder_class_names(root) or sorted({str(v) for v in labels.tolist()})
    record = _record(args, root, "images", "offline", classes=classes, n_input=len(parents))
    pipeline = named_pipeline(args.pipeline, shape)
    embeddings = _embeddings(args.embeddings, len(parents))
    out_dir = Path(args.out)
    stage = out_dir.parent / f".{out_dir.name}.partial"
    with _open_cluster(args) as engine:
        if engine.dashboard_link:
            print(f"Dask dashboard: {engine.dashboard_link}", flush=True)
        out = _offline_into(stage, lambda d: augment.offline(
            parents, labels, pipeline, select=select, n=_parse_n(args.n, labels), out_dir=d,
            random_state=args.random_state, eval_sets=evals, embeddings=embeddings, source=str(root),
            client=engine.client, shard_size=args.shard_size, resize=size))
    _publish_staged(args, stage, record)
    refused = f"; {len(out.refused)} refused as duplicates of evaluation images" if len(out.refused) else ""
    made = len(out) + len(out.refused)
    shards = -(-made // args.shard_size)
    what = "read" if root.suffix.lower() == ".npz" else "listed"
    print(f"{len(parents)} images {what}; {len(out)} new image(s) by offline on Dask ({shards} shard(s)) written to "
          f"{out_dir / 'images'}{refused}. Manifest: {out_dir / 'manifest.parquet'}.")
    return 0


def run(args: argparse.Namespace) -> int:
    from curakit.imageio import is_image_source

    from ._output import check_apart, check_out

    src = Path(args.input)
    if not src.exists():
        raise FileNotFoundError(2, "No such file", str(src))
    check_out(args.out, args.force)
    inputs = {"INPUT": args.input, "--diagnosis": args.diagnosis, "--embeddings": args.embeddings,
              "--generator": args.generator}
    for item in args.eval or []:
        inputs[f"--eval {item}"] = item.partition("=")[2] or item
    check_apart(args.out, inputs, force=args.force)
    if args.save_generator:
        check_out(args.save_generator, args.force, "--save-generator")
    if is_image_source(src):
        return _run_images(args, src)
    if src.suffix.lower() in _TABLE_SUFFIXES:
        return _run_table(args, src)
    raise DataError(
        f"INPUT {src.name!r} is neither image data nor a table. Pass a folder of <label>/<image>.png files, an .npz "
        "(images, labels), a table of image paths, or a .parquet/.csv table."
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "augment",
        help="fill a weak slice: augment images of a folder or resample a table, with a manifest",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="image data (a <label>/<image>.png folder, an .npz, a table of image paths) "
                   "or a table (.parquet/.csv)")
    p.add_argument("--out", required=True, help="output folder: new, empty, or an earlier curakit output (replaced)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.add_argument("--resize", metavar="HxW", help="images: resize every image to H x W (mixed sizes are refused)")
    p.add_argument("--pipeline", help="'default' or an albumentations pipeline file (.yaml/.json); images")
    p.add_argument("--target-col", help="label column of a table")
    p.add_argument("--diagnosis", help="diagnosis.json from curakit diagnose (with --slice)")
    p.add_argument("--slice", help="id of the slice to fill (with --diagnosis)")
    p.add_argument("--indices", help="row positions to fill: 3,17,42 or a .txt/.json/.npy file")
    p.add_argument("--classes", help="classes to fill: 3,8")
    p.add_argument("--embeddings", help=".npy embeddings of the images, to re-apply a cluster slice")
    p.add_argument("--n", help="new rows per slice or class (200), or per class (3=100,8=50; not with vae); "
                   "tables with the SMOTE family: per class within the slice (a slice of 2 classes gets 2 x N)")
    p.add_argument("--method", default=None,
                   help="tables: smote (default), smotenc, borderline, adasyn, random_over, random_under; "
                        "tables and images: vae (a conditional VAE, augment.generate)")
    p.add_argument("--k-neighbors", type=int, default=5, help="tables: neighbours for the SMOTE family (default 5)")
    p.add_argument("--categorical", help="tables: categorical columns for smotenc (a,b)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="vae: spread of the latent codes around the members' encodings (default 1.0)")
    p.add_argument("--epochs", type=int, default=200, help="vae: at most this many training epochs (early stopping)")
    p.add_argument("--latent-dim", type=int, default=8, help="vae: latent dimensions (default 8)")
    p.add_argument("--condition", choices=("class", "class+slice"), default="class",
                   help="vae: condition the generator on the class, or on the class and slice membership")
    p.add_argument("--device", default="cpu", help="vae: torch device to train on, cpu or cuda (default cpu)")
    p.add_argument("--save-generator", metavar="DIR",
                   help="vae: save the fitted generator (config.json + weights.npz, no pickle) into DIR")
    p.add_argument("--generator", metavar="DIR", help="vae: use the generator saved in DIR instead of fitting one")
    p.add_argument(
        "--eval",
        action="append",
        metavar="[NAME=]PATH",
        help="evaluation set (image data or table); generated duplicates of its rows are refused (repeatable)",
    )
    add_random_state(p)
    p.add_argument("--n-jobs", type=int, default=1, help="image worker processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="images: a Dask scheduler to augment on (tcp://host:8786); "
                   "default $DASK_SCHEDULER_ADDRESS")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="images: start a local Dask cluster of N worker processes")
    p.add_argument("--shard-size", type=int, default=1000, metavar="K",
                   help="images on Dask: new images per task (default 1000)")
    p.set_defaults(func=run)
    return p
