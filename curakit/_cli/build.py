"""``curakit build``: the next training set from old and new data (tables or images).

    curakit build --old old.parquet --new new.csv --target label --time date \\
        --window 365D --alpha 0.25 --dedup --eval test.parquet --validation 0.1 --out ts/
    curakit build --old old_images/ --new new_images/ --add fills/ --eval test=test_images/ --out ts/

Data: Parquet/CSV tables (``--target`` names the label column), or image data read by
``curakit.imageio.read_images``: a folder ``<class>/<image>.png`` (class names index by their
sorted order, as torchvision's ImageFolder, or by a ``classes.txt``; integer folders are the
index), an ``.npz`` (``images``, ``labels``) or a Parquet/CSV table of image paths. One class list
serves old, new, the fills and the eval sets; it is stored in the training set's ``info["classes"]``.

Window: ``--window 180D`` (latest span), ``--window auto [--candidates 90D,180D,all]``,
``--last-n 5000``, or ``--start 2015-01-01 --end 2015-12-31``. Old data: ``--alpha 0.25`` or
``--alpha auto``, ``--stratify``; ``--replay N --replay-how class_balanced``; recency weights
``--half-life 90D``. Hygiene: ``--dedup`` (``--near TOL`` for near duplicates), ``--eval FILE``
(repeatable; NAME=FILE to name it) removes rows leaking into evaluation sets.
Fills: ``--add DIR`` (repeatable) adds a ``curakit augment`` output folder with its lineage; its
parents are rows of the data it was augmented from (--old or --new, found by path), or say which
with ``--add-parents old|new|old+new|ids`` (old+new: positions in old then new, concatenated;
ids: the manifest's ``parent_ids`` already hold ``old:<pos>`` / ``new:<pos>``).
Scale: ``--scheduler tcp://host:8786`` (or ``$DASK_SCHEDULER_ADDRESS``) builds on a Dask cluster,
``--workers N`` on a local one (``--engine dask``); Parquet inputs are read lazily there.
Object storage: ``--old``, ``--new`` and ``--out`` may be fsspec URLs (``s3://bucket/old/``,
``gs://``, ``abfs://``; Parquet datasets, or a ``.csv``), which builds on Dask (a local cluster of 2
workers unless ``--scheduler`` / ``--workers`` say otherwise); ``--out URL`` is committed by one
last object (``DaskTrainingSet.save``). Credentials and endpoint come from the environment as the
filesystem reads it (s3fs: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``;
set them on the workers too), or ``--storage-option KEY=VALUE`` (repeatable; VALUE as JSON when it
parses, such as ``anon=true``; e.g. ``endpoint_url=http://minio:9000``), which travel to the workers
with the tasks. ``--eval`` and ``--add`` stay local files.

Output: the folder ``--out`` written atomically by ``TrainingSet.save`` (``curate.TrainingSet.load``
reads it). A failed build writes nothing and leaves an earlier folder untouched. ``--out`` must be
new, empty or an earlier curakit output; a folder of your own only with ``--force`` (then only
curakit's file names are written into it); a file is never replaced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from curakit.exceptions import DataError, ParameterError
from curakit.io import read_table

from ._options import add_random_state

__all__ = ["add_parser", "run"]


def _number_or_text(raw: str):
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _labels(labels: Any, src: Any, classes: list[str] | None) -> Any:
    from curakit.imageio import class_indices

    return labels if classes is None else class_indices(labels, src, classes=classes)[0]


def _image_sets(args: argparse.Namespace) -> tuple[Any, Any, list[str] | None, Any]:
    """(old, new, class names or None for integer labels, resize) of image data (curakit.imageio.read_images)."""
    from curakit.imageio import folder_class_names, parse_size, read_images

    if args.time is not None or args.features is not None:
        raise ParameterError("--time and --features apply to tables; image data has neither.")
    size = parse_size(args.resize)
    old_x, old_y, _ = read_images(args.old, resize=size)
    new_x, new_y, _ = read_images(args.new, resize=size)
    classes = None
    if old_y.dtype.kind not in "iu" or new_y.dtype.kind not in "iu":
        # one class list for every set: the old data's classes.txt / .npz classes, else the sorted names of both
        listed = folder_class_names(args.old) if Path(args.old).is_file() or (Path(args.old) / "classes.txt").is_file() else []
        classes = listed or sorted({str(v) for v in [*old_y.tolist(), *new_y.tolist()]})
    old = {"images": old_x, "labels": _labels(old_y, args.old, classes)}
    new = {"images": new_x, "labels": _labels(new_y, args.new, classes)}
    return old, new, classes, size


def _add_parents(args: argparse.Namespace, record: dict[str, Any], folder: Path) -> str:
    if args.add_parents:
        return args.add_parents
    given = record.get("input")
    for key in ("old", "new"):
        if given and Path(given) == Path(getattr(args, key)).resolve():
            return key
    raise ParameterError(
        f"--add {str(folder)!r} was augmented from {Path(given).name if given else 'another input'!r}, neither --old "
        "nor --new. Pass --add-parents old, new or old+new (positions in old then new) to say which rows are its parents."
    )


def _read_fill(folder: Path, args: argparse.Namespace, kind: str, target: str, classes: list[str] | None) -> Any:
    """A ``curakit augment`` output folder as what ``TrainingSetBuilder.add`` takes."""
    import dataclasses

    import augment

    record_path = folder / "augment.json"
    if not folder.is_dir():
        raise FileNotFoundError(2, "No such folder", str(folder))
    from curakit.records import load_json

    record = load_json(record_path, "augment.json") if record_path.is_file() else {}
    have = record.get("kind", "images" if (folder / "images").is_dir() else "table")
    if (have == "images") != (kind == "images"):
        raise DataError(f"--add {str(folder)!r} holds {have} fills but --old/--new are "
                        f"{'image data' if kind == 'images' else 'tables'}. Add fills of the same kind.")
    if kind == "images":
        aug = augment.AugmentedSet.load(folder)
        labels = aug.labels
        if classes is not None:
            labels = _labels(labels.astype(str), folder, classes)
        return dataclasses.replace(aug, labels=labels), record
    if not (folder / "table.parquet").is_file() or not (folder / "manifest.parquet").is_file():
        raise DataError(f"--add {str(folder)!r} holds no table.parquet and manifest.parquet. Pass a folder written "
                        "by curakit augment.")
    table = read_table(folder / "table.parquet", "--add")
    manifest = read_table(folder / "manifest.parquet", "--add manifest")
    col = record.get("target", target)
    if col not in table.columns:
        raise DataError(f"--add {str(folder)!r}: its table has no label column {col!r}. Pass fills of this target.")
    return (table.drop(columns=[col]), table[col].to_numpy(), manifest), record


def _is_url(path: Any) -> bool:
    from curate.storage import is_url

    return is_url(path)


def _storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--storage-option KEY=VALUE`` (repeatable) as fsspec options; VALUE as JSON when it parses."""
    if not args.storage_option:
        return None
    if not any(_is_url(p) for p in (args.old, args.new, args.out)):
        raise ParameterError("--storage-option applies to object-storage URLs (s3://, gs://, ...) in --old, --new "
                             "or --out. Drop it for local files.")
    options = {}
    for item in args.storage_option:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--storage-option takes KEY=VALUE (such as endpoint_url=http://host:9000). "
                                 f"Got {item.split('=')[0][:40]!r} without '='.")
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


def _builder(args: argparse.Namespace, engine: Any) -> tuple[Any, str, list[str] | None, Any]:
    from curakit.imageio import is_image_source
    from curate import TrainingSetBuilder

    if _is_url(args.old) or _is_url(args.new):
        if not args.target:
            raise ParameterError("Tables need --target naming the label column.")
        old, new = _dask_input(args.old, "--old"), _dask_input(args.new, "--new")
        features = [c.strip() for c in args.features.split(",") if c.strip()] if args.features else None
        return TrainingSetBuilder(old, new, target=args.target, time=args.time, features=features), "table", None, None
    if is_image_source(args.old) or is_image_source(args.new):
        if _is_url(args.out):
            raise ParameterError("--out URL takes tables built on Dask; an image training set is written to a local "
                                 "folder. Pass a local --out.")
        old, new, classes, size = _image_sets(args)
        return TrainingSetBuilder(old, new, target=args.target or "label"), "images", classes, size
    if not args.target:
        raise ParameterError("Tables need --target naming the label column.")
    if engine is not None and engine.name == "dask":
        old, new = _dask_input(args.old, "--old"), _dask_input(args.new, "--new")
    else:
        old, new = read_table(args.old, "--old"), read_table(args.new, "--new")
    features = [c.strip() for c in args.features.split(",") if c.strip()] if args.features else None
    return TrainingSetBuilder(old, new, target=args.target, time=args.time, features=features), "table", None, None


def _dask_input(path: str, what: str) -> Any:
    """The Dask engine reads Parquet files or folders itself (lazily); CSV through dask.dataframe.
    A URL: a Parquet dataset (read by the builder), or a ``.csv`` read by dask.dataframe."""
    from curakit.optional import import_optional

    if _is_url(path):
        if path.lower().endswith((".csv", ".txt")):
            from curate.storage import default_storage_options, storage_errors

            options = default_storage_options()
            with storage_errors(path, what):
                return import_optional("dask.dataframe").read_csv(path, **({} if options is None else
                                                                          {"storage_options": options}))
        return path
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
        return str(p)
    if p.suffix.lower() == ".csv":
        return import_optional("dask.dataframe").read_csv(str(p))
    raise DataError(f"{what} file {p.name!r} has an unsupported extension {p.suffix!r}. Use .parquet, .pq or .csv.")


def _steps(b: Any, args: argparse.Namespace) -> None:
    windows = [args.window is not None, args.last_n is not None, args.start is not None or args.end is not None]
    if sum(windows) > 1:
        raise ParameterError("Pass one of --window, --last-n or --start/--end.")
    if args.candidates and args.window != "auto":
        raise ParameterError("--candidates applies to --window auto only.")
    if args.window == "auto":
        cands = None
        if args.candidates:
            cands = [None if c.strip() == "all" else _number_or_text(c.strip()) for c in args.candidates.split(",")]
        b.window("auto", candidates=cands)
    elif args.window is not None:
        b.window(last=_number_or_text(args.window))
    elif args.last_n is not None:
        b.window(last_n=args.last_n)
    elif args.start is not None or args.end is not None:
        b.window(start=args.start, end=args.end)
    if args.alpha is not None:
        b.mix(alpha="auto" if args.alpha == "auto" else _number_or_text(args.alpha), stratify=args.stratify)
    elif args.stratify:
        raise ParameterError("--stratify applies with --alpha.")
    if args.replay is not None:
        b.rehearse(n=args.replay, how=args.replay_how)
    if args.half_life is not None:
        b.recency(_number_or_text(args.half_life))


def _eval_sets(args: argparse.Namespace, kind: str, classes: list[str] | None, size: Any) -> dict[str, Any]:
    from curakit.imageio import read_images

    sets = {}
    for k, item in enumerate(args.eval or []):
        name, sep, path = item.partition("=")
        if not sep:
            name, path = (Path(item).stem or f"eval_{k}"), item
        if kind == "images":
            x, y, _ = read_images(path, resize=size)
            sets[name] = {"images": x, "labels": _labels(y, path, classes) if y.dtype.kind not in "iu" else y}
        else:
            sets[name] = read_table(path, "--eval")
    return sets


def _build(args: argparse.Namespace, engine: Any) -> Any:
    b, kind, classes, size = _builder(args, engine)
    _steps(b, args)
    adds = []
    for item in args.add or []:
        fill, record = _read_fill(Path(item), args, kind, args.target or "label", classes)
        parents = _add_parents(args, record, Path(item))
        b.add(fill, parents=parents, prefix=f"add{len(adds)}" if len(args.add) > 1 else None)
        adds.append({"folder": str(item), "parents": parents, "method": record.get("method")})
    if args.eval:
        b.exclude(_eval_sets(args, kind, classes, size), near=args.near if args.near is not None else False)
    if args.dedup or args.near is not None:
        b.dedup(near=args.near if args.near is not None else False)
    if args.validation:
        b.split(args.validation, how=args.split_how)
    if args.preprocess:
        b.preprocess()
    ts = b.build(random_state=args.random_state)
    ts.info["inputs"] = {"old": str(args.old), "new": str(args.new), "eval": list(args.eval or []), "add": adds}
    if classes is not None:
        ts.info["classes"] = classes
    return ts


def _open_engine(args: argparse.Namespace) -> Any:
    """curate.open_engine for --engine/--scheduler/--workers (and $DASK_SCHEDULER_ADDRESS), or a no-op."""
    import contextlib
    import os

    import curate

    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be at least 1 (local Dask worker processes), got {args.workers}. "
                             "Pass --workers 1 or more, or drop it to build in this process.")
    urls = [flag for flag, p in (("--old", args.old), ("--new", args.new), ("--out", args.out)) if _is_url(p)]
    options = _storage_options(args)
    if urls and args.engine == "pandas":
        raise ParameterError(f"{urls[0]} is an object-storage URL, which builds on Dask. Drop --engine pandas, or "
                             "copy the data to local files.")
    wants = (args.engine not in (None, "pandas") or args.scheduler or args.workers or urls
             or (args.engine is None and os.environ.get("DASK_SCHEDULER_ADDRESS")))
    if not wants:
        return contextlib.nullcontext(None)
    if args.scheduler and args.workers:
        raise ParameterError("Pass --scheduler ADDRESS (a running Dask cluster) or --workers N (a local one), not both.")
    if args.engine == "pandas" and (args.scheduler or args.workers):
        raise ParameterError("--engine pandas builds in this process; drop --scheduler/--workers or use --engine dask.")
    opener = getattr(curate, "open_engine", None)
    if opener is None:
        raise ParameterError("This curakit build has no Dask engine (curate.open_engine). Drop --engine/--scheduler/"
                             "--workers, or unset DASK_SCHEDULER_ADDRESS.")
    engine = "dask" if urls and args.engine in (None, "auto") else (args.engine or "auto")
    return opener(engine, scheduler=args.scheduler, workers=args.workers, storage_options=options,
                  cluster_log_level="error")  # a failed task is the command's one Error: line, not also a warning


def _check_urls(args: argparse.Namespace) -> None:
    """Before any work, for URLs: --eval/--add stay local, no --force, --out apart from the inputs."""
    for flag, items in (("--eval", args.eval), ("--add", args.add)):
        for item in items or []:
            if _is_url(item) or _is_url(item.partition("=")[2]):
                raise ParameterError(f"{flag} takes a local file or folder, not a URL. Copy it to local disk first.")
    if not _is_url(args.out):
        return
    if args.force:
        raise ParameterError("--force applies to local folders; an --out URL is a prefix curakit commits into. Drop "
                             "--force, or choose a new prefix.")
    out = args.out.rstrip("/") + "/"
    for flag, path in (("--old", args.old), ("--new", args.new)):
        src = str(path).rstrip("/") + "/"
        if _is_url(path) and (src.startswith(out) or out.startswith(src)):
            raise DataError(f"--out {args.out!r} overlaps the input {flag} {path!r}; writing it would change that "
                            "input. Choose an output prefix outside the inputs.")


def run(args: argparse.Namespace) -> int:
    from ._output import check_apart, check_out, publish

    _check_urls(args)
    if not _is_url(args.out):
        check_out(args.out, args.force)
        check_apart(args.out, {"--old": None if _is_url(args.old) else args.old,
                               "--new": None if _is_url(args.new) else args.new,
                               **{f"--add ({k + 1})": a for k, a in enumerate(args.add or [])},
                               **{f"--eval ({k + 1})": e.partition("=")[2] or e for k, e in enumerate(args.eval or [])}},
                    force=args.force)
    with _open_engine(args) as engine:
        if engine is not None and engine.dashboard_link:
            print(f"Dask dashboard: {engine.dashboard_link}")
        ts = _build(args, engine)
        out = ts.save(args.out) if _is_url(args.out) else publish(args.out, args.force, ts.save)
    counts = ts.info["counts"]
    print(f"Wrote {out}: {counts['rows']} rows ({', '.join(f'{k} {v}' for k, v in counts['by_origin'].items())}), "
          f"{counts['val']} validation.")
    for key in ("window", "mix", "rehearse", "leakage", "dedup"):
        entry = ts.info.get(key)
        if entry:
            short = {k: v for k, v in entry.items() if k in ("window", "span", "alpha", "rows", "removed", "how", "chosen")}
            print(f"  {key}: {json.dumps(short, default=str)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "build",
        help="build the next training set from old and new data (with a manifest)",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--old", required=True, help="old data: Parquet/CSV, or image data (a <class>/<image>.png folder, "
                   "an .npz with images and labels, a table of image paths)")
    p.add_argument("--new", required=True, help="new data (the same kind as --old)")
    p.add_argument("--target", default=None, help="label column (tables; required there)")
    p.add_argument("--add", action="append", default=None, metavar="DIR",
                   help="a `curakit augment` output folder to add with its lineage (repeatable)")
    p.add_argument("--add-parents", choices=("old", "new", "old+new", "ids"), default=None,
                   help="which data the --add fills' parent positions index (default: the one they were augmented "
                        "from, by path); ids: their parent_ids already name old:<pos> / new:<pos>")
    p.add_argument("--resize", metavar="HxW", help="image data: resize every image to H x W")
    p.add_argument("--time", default=None, help="time column (dates or numbers)")
    p.add_argument("--features", default=None, help="comma-separated feature columns (default: all others)")
    p.add_argument("--window", default=None, help="latest span such as 365D, or 'auto'")
    p.add_argument("--candidates", default=None, help="with --window auto: comma-separated spans, 'all' for every row")
    p.add_argument("--last-n", type=int, default=None, help="keep the N latest rows")
    p.add_argument("--start", default=None, help="window start (inclusive)")
    p.add_argument("--end", default=None, help="window end (inclusive)")
    p.add_argument("--alpha", default=None, help="fraction of old rows to mix in (0..1), or 'auto'")
    p.add_argument("--stratify", action="store_true", help="sample alpha of each class")
    p.add_argument("--replay", type=int, default=None, help="replay buffer: number of old rows left out to add back")
    p.add_argument("--replay-how", default="random", help="random | class_balanced | nearest")
    p.add_argument("--half-life", default=None, help="recency weights with this half-life (e.g. 90D)")
    p.add_argument("--dedup", action="store_true", help="drop exact duplicates (new kept over old)")
    p.add_argument("--near", type=float, default=None, help="tolerance for near duplicates (dedup and --eval)")
    p.add_argument("--eval", action="append", default=None, metavar="[NAME=]FILE",
                   help="evaluation set whose rows must not leak into training (repeatable)")
    p.add_argument("--validation", type=float, default=0.0, help="validation fraction (group split by parent)")
    p.add_argument("--split-how", default="random", help="random | latest")
    p.add_argument("--preprocess", action="store_true", help="fit imputation/scaling/encoding on the train rows")
    add_random_state(p)
    p.add_argument("--engine", choices=("auto", "pandas", "dask"), default=None,
                   help="pandas (default) or dask; auto = dask when --scheduler/--workers/$DASK_SCHEDULER_ADDRESS is set")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler to build on (tcp://host:8786); "
                   "default $DASK_SCHEDULER_ADDRESS")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="start a local Dask cluster of N workers")
    p.add_argument("--storage-option", action="append", default=None, metavar="KEY=VALUE",
                   help="an fsspec option for s3:// / gs:// / abfs:// URLs (repeatable), e.g. endpoint_url=http://host:9000; "
                        "default: the environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)")
    p.add_argument("--out", required=True, help="output folder: new, empty, or an earlier curakit output (replaced); "
                   "or an object-storage URL (s3://bucket/ts), committed last")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.set_defaults(func=run)
    return p
