"""``curakit augment``: fill a weak slice of an image folder or a table.

Inputs
------
INPUT        an image folder laid out as ``INPUT/<label>/<image>.png`` (read in sorted order:
             label folder, then file name), or a table (``.parquet``/``.pq``/``.csv``) with a
             label column (``--target-col``).
--pipeline   ``default`` (a light label-keeping pipeline: small affine, brightness/contrast,
             weak noise; no flips; see ``curakit._cli.pipelines``) or an albumentations
             pipeline file (YAML or JSON written by ``albumentations.save``); image folders only.
What to fill (one of; default: everything):
  --diagnosis DIAGNOSIS.json --slice ID   a slice of ``curakit diagnose`` (found on these rows,
                                          or re-applied: rule slices on the table's columns,
                                          cluster slices with --embeddings)
  --indices 3,17,42 | FILE                row positions (a comma list, or a .txt/.json/.npy file)
  --classes 3,8                           whole classes
--n          new images / rows per slice or class: ``200``, or per class ``3=100,8=50``.

Outputs (in ``--out``)
----------------------
Image folder: ``images/<label>/<group>-<k>.png`` and ``manifest.parquet`` (one row per new image:
parent position, seed and applied parameters; replay with ``augment.replay``). A re-run with the
same arguments resumes an interrupted run.
Table: ``table.parquet`` (the input rows then the new rows, label column included) and
``manifest.parquet`` (lineage row-aligned with the table); written as one folder, atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.io import read_table

from ._options import add_random_state

__all__ = ["add_parser", "run"]

_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")


def _convert(value: str, like: np.ndarray) -> Any:
    if like.dtype.kind in "iu":
        try:
            return int(value)
        except ValueError:
            raise ParameterError(f"The labels are integers but {value!r} is not. Name classes by their integer label.") from None
    if like.dtype.kind == "f":
        return float(value)
    return value


def _parse_n(text: str | None, labels: np.ndarray) -> int | dict[Any, int] | None:
    if text is None:
        return None
    text = text.strip()
    if "=" not in text:
        try:
            return int(text)
        except ValueError:
            raise ParameterError(f"--n expects an int or CLASS=COUNT pairs (3=100,8=50). Got {text!r} instead.") from None
    out: dict[Any, int] = {}
    for part in text.split(","):
        key, sep, count = part.partition("=")
        if not sep:
            raise ParameterError(f"--n expects CLASS=COUNT pairs separated by commas (3=100,8=50). Got {part!r}.")
        try:
            out[_convert(key.strip(), labels)] = int(count)
        except ValueError:
            raise ParameterError(f"--n expects integer counts (3=100). Got {part!r} instead.") from None
    return out


def _read_indices(text: str) -> np.ndarray:
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


def _eval_sets(items: list[str] | None, *, images: bool) -> dict[str, Any]:
    from curakit.imageio import read_image_folder

    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(2, "No such file", str(p))
        out[name] = read_image_folder(p)[0] if images else read_table(p, "--eval")
    return out


def _run_images(args: argparse.Namespace, root: Path) -> int:
    import augment
    from curakit.imageio import read_image_folder

    if not args.pipeline:
        raise ParameterError("An image folder needs --pipeline: 'default' (the built-in light pipeline) or a YAML "
                             "or JSON file written by albumentations.save.")
    if args.method != "smote":
        raise ParameterError("--method applies to tables; images are augmented with --pipeline.")
    from curakit.imageio import parse_size

    from .pipelines import named_pipeline

    images, labels, _ = read_image_folder(root, resize=parse_size(args.resize))
    pipeline = named_pipeline(args.pipeline, images.shape[1:])
    select = _selection(args, labels)
    embeddings = None
    if args.embeddings:
        embeddings = np.load(args.embeddings, allow_pickle=False)
    out = augment.offline(
        images,
        labels,
        pipeline,
        select=select,
        n=_parse_n(args.n, labels),
        out_dir=args.out,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        eval_sets=_eval_sets(args.eval, images=True) or None,
        embeddings=embeddings,
        source=str(root),
    )
    print(
        f"{len(images)} images read; {len(out)} new image(s) written to {Path(args.out) / 'images'}"
        + (f"; {len(out.refused)} refused as duplicates of evaluation images" if len(out.refused) else "")
        + f". Manifest: {Path(args.out) / 'manifest.parquet'}."
    )
    return 0


def _run_table(args: argparse.Namespace, path: Path) -> int:
    import augment
    from curakit.io import atomic_dir

    if args.pipeline:
        raise ParameterError("--pipeline applies to image folders; tables are resampled with --method.")
    table = read_table(path, "Input")
    if not args.target_col:
        raise ParameterError("A table needs --target-col naming its label column.")
    if args.target_col not in table.columns:
        raise DataError(f"The table has no column {args.target_col!r} ({table.shape[1]} columns). Name the label column with --target-col.")
    y = table[args.target_col].to_numpy()
    X = table.drop(columns=[args.target_col])
    select = _selection(args, y)
    n = _parse_n(args.n, y)
    categorical = [c.strip() for c in args.categorical.split(",")] if args.categorical else None
    evals = _eval_sets(args.eval, images=False) or None
    X2, y2, prov = augment.oversample(
        X,
        y,
        method=args.method,
        select=select,
        n=n,
        k_neighbors=args.k_neighbors,
        categorical=categorical,
        random_state=args.random_state,
        eval_sets=evals,
    )
    result = pd.DataFrame(X2, columns=X.columns) if not isinstance(X2, pd.DataFrame) else X2.copy()
    result[args.target_col] = y2
    with atomic_dir(args.out) as tmp:
        result.to_parquet(tmp / "table.parquet", index=False)
        prov.to_parquet(tmp / "manifest.parquet", index=False)
    n_new = int((prov["origin"] == "synthetic").sum())
    refused = prov.attrs.get("refused")
    print(
        f"{len(table)} rows read; {n_new} new row(s) by {args.method}; table of {len(result)} rows written to "
        f"{Path(args.out) / 'table.parquet'}"
        + (f"; {len(refused)} refused as duplicates of evaluation rows" if refused is not None and len(refused) else "")
        + "."
    )
    return 0


def run(args: argparse.Namespace) -> int:
    src = Path(args.input)
    if not src.exists():
        raise FileNotFoundError(2, "No such file", str(src))
    if src.is_dir():
        return _run_images(args, src)
    if src.suffix.lower() in _TABLE_SUFFIXES:
        return _run_table(args, src)
    raise DataError(
        f"INPUT {src.name!r} is neither an image folder nor a table. Pass a folder of <label>/<image>.png files "
        "or a .parquet/.csv table."
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "augment",
        help="fill a weak slice: augment images of a folder or resample a table, with a manifest",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="image folder (<label>/<image>.png) or table (.parquet/.csv)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resize", metavar="HxW", help="image folders: resize every image to H x W (mixed sizes are refused)")
    p.add_argument("--pipeline", help="'default' or an albumentations pipeline file (.yaml/.json); image folders")
    p.add_argument("--target-col", help="label column of a table")
    p.add_argument("--diagnosis", help="diagnosis.json from curakit diagnose (with --slice)")
    p.add_argument("--slice", help="id of the slice to fill (with --diagnosis)")
    p.add_argument("--indices", help="row positions to fill: 3,17,42 or a .txt/.json/.npy file")
    p.add_argument("--classes", help="classes to fill: 3,8")
    p.add_argument("--embeddings", help=".npy embeddings of the images, to re-apply a cluster slice")
    p.add_argument("--n", help="new rows per slice or class (200), or per class (3=100,8=50)")
    p.add_argument("--method", default="smote", help="tables: smote, smotenc, borderline, adasyn, random_over, random_under")
    p.add_argument("--k-neighbors", type=int, default=5, help="tables: neighbours for the SMOTE family (default 5)")
    p.add_argument("--categorical", help="tables: categorical columns for smotenc (a,b)")
    p.add_argument(
        "--eval",
        action="append",
        metavar="[NAME=]PATH",
        help="evaluation set (image folder or table); generated duplicates of its rows are refused (repeatable)",
    )
    add_random_state(p)
    p.add_argument("--n-jobs", type=int, default=1, help="image worker processes (default 1)")
    p.set_defaults(func=run)
    return p
