"""``curakit diagnose``: find weak slices from files of predictions, or from images and a model.

Three modes (exclusive; mixing them is a usage error, exit 2):

  curakit diagnose PREDICTIONS --out DIR [--features F] [--embeddings E.npy] ...
  curakit diagnose --images FOLDER --model REGISTRY[@VERSION] --out DIR [--train-images FOLDER] [--layer NAME]
  curakit diagnose --features TABLE --model MODEL --target COLUMN --out DIR [--train-features OLD_TABLE]

Inputs (files mode)
-------------------
PREDICTIONS  Parquet (``.parquet``/``.pq``) or CSV with columns ``y_true``, ``y_pred`` (names
             changeable with ``--y-true-col`` / ``--y-pred-col``) and optional ``proba_<class>``
             columns (class probabilities, in file order).
--features   Parquet/CSV with one row per prediction (rule slices; embedded for clusters when
             no ``--embeddings`` is given). Passing the PREDICTIONS file again uses its other
             columns (everything but the label, prediction and ``proba_*`` columns).
--embeddings ``.npy`` array (n, d), one row per prediction (cluster slices).
--train-features / --train-embeddings: the training rows, for under-representation.

Inputs (table mode: a table and the model that predicts it)
----------------------------------------------------------
--features TABLE  Parquet/CSV of the analysed rows with their labels in ``--target``.
--model           a scikit-learn ``.skops`` / ``.joblib`` / ``.pkl`` file, a registry, or a torch model
                  (any ``--model`` form). It predicts on its ``feature_names_in_`` columns when it has
                  them, else on every column but ``--target`` (in table order); rule slices use the same columns.
--train-features  the training table (the same columns; ``--target`` may be there too), for under-representation.
Also writes ``predictions.csv`` (row, y_true, y_pred, proba_<class> per class of the model).

Inputs (images mode)
--------------------
--images        an image folder ``FOLDER/<label>/<file>.png`` (or an ``.npz`` with ``images`` and
                ``labels``, or a Parquet/CSV with a ``path`` and a ``label`` column), read in sorted order (label
                folder, then file name), the order ``curakit augment`` reads the same folder in.
--model         a torch model: a registry folder (``REGISTRY`` = champion, ``REGISTRY@v3``), a
                state dict with ``--model-class module:Class`` [``--model-kwargs JSON``], a
                whole saved module (runs code when loaded), TorchScript or ``torch.export``.
--train-images  the training images (same layout), embedded for under-representation.
--layer         the embedding layer (a ``model.named_modules()`` name); default the input of
                the model's last Linear layer (``diagnose.embed``).
Labels: class-name folders (``new/Shirt/*.png``) index by sorted name as torchvision's
``ImageFolder`` does, or by the order of a ``classes.txt`` (one name a line) in the folder;
integer folder names ARE the model's class index (folder ``3`` = output 3). A class the model
does not know (more classes than outputs, an integer outside 0..k-1) is an error.
Images reach the model as float32 in [0, 1], channels first (``diagnose.predict_proba``).

Outputs (in ``--out``; each file written atomically, nothing written if the run fails):
``diagnosis.json`` (``diagnose.Diagnosis.load``), ``report.html`` (self-contained) and
``slices.csv`` (one row per slice). A short table of the top slices is printed.
Images mode also writes ``predictions.csv`` (path relative to FOLDER, class name, y_true, y_pred,
proba_<class> per model output; rows in the folder's order) and ``embeddings.npy`` (the
analysed embeddings), so ``curakit augment FOLDER --diagnosis DIR/diagnosis.json --slice ID
[--embeddings DIR/embeddings.npy]`` fills a slice on the same folder (cluster slices need the
embeddings).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from curakit.io import read_table

from ._options import add_model_options, add_random_state, count, load_cli_model, parse_assignments

__all__ = ["add_parser", "run"]


def _read_npy(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if p.suffix.lower() != ".npy":
        raise DataError(f"{what} file {p.name!r} must be a .npy array saved with numpy.save. Got {p.suffix!r} instead.")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{what} file {p.name!r} is not a plain numeric .npy array ({exc}). Save it with numpy.save."
        ) from exc


def _parse_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set METHOD.OPTION=VALUE`` items, checked against the method's options (did-you-mean)."""
    from diagnose import DIAGNOSERS

    return parse_assignments(items, "--set", "clusters.min_cluster_size=20", DIAGNOSERS.get, skip=("inp",),
                             form="METHOD.OPTION=VALUE")


_FILE_ONLY = ("features", "embeddings", "train_features", "train_embeddings")
_IMAGE_ONLY = ("model", "train_images", "layer", "model_class", "model_kwargs", "resize")


def _table_mode(args: argparse.Namespace) -> bool:
    """``--features TABLE --model MODEL --target COL``: the model predicts the table's rows."""
    return args.images is None and args.predictions is None and (
        args.target is not None or (args.model is not None and args.features is not None))


def _check_table_mode(args: argparse.Namespace) -> None:
    usage = args.diagnose_usage_error
    missing = [flag for flag, v in (("--features TABLE", args.features), ("--model MODEL", args.model),
                                    ("--target COLUMN", args.target)) if v is None]
    if missing:
        usage(f"a table and its model go together: pass {', '.join(missing)} too "
              "(curakit diagnose --features TABLE --model MODEL --target COLUMN).")
    mixed = [f"--{k.replace('_', '-')}" for k in ("embeddings", "train_embeddings", "train_images", "layer", "resize")
             if getattr(args, k) is not None]
    mixed += [flag for flag, dest, default in (("--y-true-col", "y_true_col", "y_true"),
                                               ("--y-pred-col", "y_pred_col", "y_pred")) if getattr(args, dest) != default]
    if mixed:
        usage(f"{', '.join(mixed)} do{'' if len(mixed) > 1 else 'es'} not apply to --features TABLE --model MODEL "
              "(the model predicts the table; --target names its label column).")


def _check_mode(args: argparse.Namespace) -> None:
    """Usage errors (exit 2): the files mode, the images mode and the table mode are exclusive."""
    usage = args.diagnose_usage_error
    if _table_mode(args):
        _check_table_mode(args)
        return
    if args.target is not None:
        usage("--target goes with --features TABLE --model MODEL (the table mode); a PREDICTIONS file names its "
              "label column with --y-true-col, an image folder's labels are its sub-folders.")
    if args.images is not None or args.model is not None:
        if args.predictions is not None:
            usage("pass either a PREDICTIONS file or --images/--model, not both.")
        if args.images is None or args.model is None:
            usage("--images and --model go together: an image folder and a model (a registry REG or REG@v3, or a model "
                  "file: see --model).")
        mixed = [f"--{k.replace('_', '-')}" for k in _FILE_ONLY if getattr(args, k) is not None]
        mixed += [
            flag
            for flag, dest, default in (
                ("--y-true-col", "y_true_col", "y_true"),
                ("--y-pred-col", "y_pred_col", "y_pred"),
            )
            if getattr(args, dest) != default
        ]
        if mixed:
            usage(
                f"{', '.join(mixed)} appl{'y' if len(mixed) > 1 else 'ies'} to a PREDICTIONS file, not to --images/--model."
            )
        return
    if args.predictions is None:
        usage("pass a PREDICTIONS file, or --images FOLDER with --model REGISTRY.")
    mixed = [f"--{k.replace('_', '-')}" for k in _IMAGE_ONLY if getattr(args, k) is not None]
    if mixed:
        usage(
            f"{', '.join(mixed)} appl{'y' if len(mixed) > 1 else 'ies'} to --images/--model, not to a PREDICTIONS file."
        )
    for train, rows in (("train_features", "features"), ("train_embeddings", "embeddings")):
        if getattr(args, train) is not None and getattr(args, rows) is None and args.features is None:
            usage(f"--{train.replace('_', '-')} needs --{rows} for the analysed rows too.")


def _files_inputs(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    if Path(args.predictions).is_dir():
        raise DataError(f"The predictions file {args.predictions!r} is a folder. Pass a .csv/.parquet of y_true, "
                        f"y_pred (and proba_*), or for images: curakit diagnose --images {args.predictions} --model MODEL.")
    preds = read_table(args.predictions, "predictions")
    for col, flag in ((args.y_true_col, "--y-true-col"), (args.y_pred_col, "--y-pred-col")):
        if col not in preds.columns:
            raise DataError(
                f"The predictions file has no column {col!r} ({preds.shape[1]} columns). Name the column with {flag}."
            )
    proba_cols = [c for c in preds.columns if str(c).startswith("proba_")]
    text = [c for c in proba_cols if not pd.api.types.is_numeric_dtype(preds[c])]
    if text:
        raise DataError(f"The predictions file's column {str(text[0])!r} has dtype {preds[text[0]].dtype}, not numbers. "
                        "proba_* columns hold class probabilities; fix those cells or rename the column.")
    own = {args.y_true_col, args.y_pred_col, *proba_cols}
    features = train_features = None
    if args.features:
        if Path(args.features).resolve() == Path(args.predictions).resolve():
            features = preds.drop(columns=list(own))
            if features.shape[1] == 0:
                raise DataError(
                    "The predictions file has no columns besides the labels, predictions and proba_* columns, "
                    "so it holds no features. Pass a separate --features file."
                )
        else:
            features = read_table(args.features, "features")
    if args.train_features:
        train_features = read_table(args.train_features, "train features")
        # a training file in the predictions layout: drop its label / prediction / proba columns
        drop = [c for c in train_features.columns if c in own and (features is None or c not in features.columns)]
        train_features = train_features.drop(columns=drop)
    return {
        "y_true": preds[args.y_true_col].to_numpy(),
        "y_pred": preds[args.y_pred_col].to_numpy(),
        "proba": preds[proba_cols].to_numpy(dtype=np.float64) if proba_cols else None,
        "features": features,
        "embeddings": _read_npy(args.embeddings, "embeddings") if args.embeddings else None,
        "train_features": train_features,
        "train_embeddings": _read_npy(args.train_embeddings, "train embeddings") if args.train_embeddings else None,
    }


def _model_columns(model: Any, table: Any, target: str, name: str) -> list[Any]:
    """The columns the model predicts on: its ``feature_names_in_``, else every column but the target."""
    named = getattr(model, "feature_names_in_", None)
    if named is not None:
        cols = {str(c): c for c in table.columns}
        missing = [str(c) for c in named if str(c) not in cols]
        if missing:
            raise DataError(f"--features lacks {len(missing)} column(s) the model {name} was fitted on (first: "
                            f"{missing[0]!r}). Pass a table with the model's training columns.")
        return [cols[str(c)] for c in named]
    rest = [c for c in table.columns if c != target]
    n_in = getattr(model, "n_features_in_", None)
    if isinstance(n_in, int) and n_in != len(rest):
        raise DataError(f"The model {name} was fitted on {n_in} unnamed columns, but --features has {len(rest)} "
                        f"columns besides --target {target!r}. Keep only the model's columns, in training order "
                        "(or refit it on a DataFrame so that it records their names).")
    return rest


def _table_inputs(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from curakit.adapters import predict_proba

    table = read_table(args.features, "features")
    if args.target not in table.columns:
        raise DataError(f"--features has no column {args.target!r} ({table.shape[1]} columns). Name its label "
                        "column with --target.")
    model, name = _load_model(args)
    cols = _model_columns(model, table, args.target, name)
    train = read_table(args.train_features, "train features") if args.train_features else None
    if train is not None and [c for c in cols if c not in train.columns]:
        raise DataError(f"--train-features lacks {len([c for c in cols if c not in train.columns])} of the model's "
                        "columns. Pass the training table with the same columns as --features.")
    try:
        proba = predict_proba(model, table[cols])
    except (ValueError, TypeError) as exc:  # scikit-learn: text in a numeric column, NaN, another column order
        raise DataError(f"The model {name} cannot predict the rows of --features ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:160]}). Pass the columns and dtypes it was trained on.") from None
    classes = np.asarray(getattr(model, "classes_", np.arange(proba.shape[1])))
    if len(classes) != proba.shape[1]:
        classes = np.arange(proba.shape[1])
    y_true, y_pred = table[args.target].to_numpy(), classes[proba.argmax(axis=1)]
    unknown = ~pd.Series(y_true).isin(list(classes)).to_numpy()
    if unknown.any():
        raise DataError(f"{int(unknown.sum())} row(s) of --target {args.target!r} hold a class the model {name} does "
                        f"not predict (it knows {len(classes)} classes, dtype {classes.dtype}). Check the label column.")
    frame = pd.DataFrame({"row": np.arange(len(table)), "y_true": y_true, "y_pred": y_pred})
    for k, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, k]
    return {"y_true": y_true, "y_pred": y_pred, "proba": proba, "features": table[cols],
            "train_features": None if train is None else train[cols], "labels": list(classes),
            "_predictions": frame, "_model": name, "_rows": "rows"}


def _load_model(args: argparse.Namespace) -> tuple[Any, str]:
    """The ``--model`` (any form :mod:`curakit.modelfile` reads) and a short name for messages."""
    from curakit.modelfile import _split_registry

    model = load_cli_model(args)
    path, version = _split_registry(args.model)
    if (path / "registry.json").is_file():
        from curate import Registry

        return model, f"{path.name} {Registry(path).version(version).version}"
    return model, path.name


def _images_inputs(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    import diagnose
    from curakit.adapters import is_torch_model
    from curakit.imageio import class_indices, parse_size, read_images

    size = parse_size(args.resize)
    images, labels, paths = read_images(args.images, resize=size)
    train_images = read_images(args.train_images, resize=size)[0] if args.train_images else None
    model, name = _load_model(args)
    if not is_torch_model(model):
        raise ParameterError(
            f"--images needs a torch model; the model {name} is a {type(model).__name__}. "
            "For other models, write a predictions file and use the files mode."
        )
    from curakit.imageio import match_channels
    from curakit.validation import model_input_channels

    channels = model_input_channels(model)
    images = match_channels(images, channels, "--images", name)
    if train_images is not None:
        train_images = match_channels(train_images, channels, "--train-images", name)
    try:
        proba = diagnose.predict_proba(model, images)
    except RuntimeError as exc:
        raise DataError(
            f"The model {name} cannot run on images shaped {images.shape[1:]} "
            f"({str(exc).splitlines()[0][:160]}). Pass images of the size it was trained on."
        ) from None
    y_true, names = class_indices(labels, args.images, proba.shape[1])
    y_pred = proba.argmax(axis=1).astype(np.int64)
    embeddings = diagnose.embed(model, images, layer=args.layer)
    train_embeddings = diagnose.embed(model, train_images, layer=args.layer) if train_images is not None else None
    frame = pd.DataFrame({"path": paths, "class": [names[i] for i in y_true], "y_true": y_true, "y_pred": y_pred})
    for k in range(proba.shape[1]):
        frame[f"proba_{k}"] = proba[:, k]
    return {
        "y_true": y_true,
        "y_pred": y_pred,
        "proba": proba,
        "embeddings": embeddings,
        "train_embeddings": train_embeddings,
        "labels": list(range(proba.shape[1])),
        "_predictions": frame,
        "_model": name,
        "_class_names": None if names == [str(i) for i in range(len(names))] else [str(n) for n in names],
    }


def _check_out(out: Path, force: bool) -> None:
    """Before any work: ``--out`` is new, empty, an earlier curakit output, or (``--force``) any
    folder, into which only curakit's own file names are written (nothing else is touched)."""
    from curakit.io import OUTPUT_MARKER, check_output_dir

    from ._output import file_above

    blocker = file_above(out)
    if blocker is not None:
        raise DataError(f"--out {str(out)!r} lies under {str(blocker)!r}, which is a file, not a folder. "
                        "Choose a path under a folder.")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} is a file, not a folder. Choose a folder path.")
    if force and out.is_dir() and not out.is_symlink():
        return
    try:
        check_output_dir(out, "--out")
    except DataError as exc:
        if out.is_dir() and not (out / OUTPUT_MARKER).exists():
            raise DataError(f"{str(exc).rstrip('.')}, or pass --force to write only curakit's files into it.") from None
        raise


_FLAGS = {
    "features": ("--features FILE", ("features",)),
    "embeddings": ("--embeddings E.npy (or --features, which are embedded)", ("embeddings", "features")),
    "train_features": ("--train-features FILE", ("train_features",)),
    "train_embeddings": ("--train-embeddings E.npy", ("train_embeddings",)),
}


def _check_method_flags(methods: list[str], args: argparse.Namespace) -> None:
    """Files mode, before reading anything: each named method's inputs are given (flags named as typed)."""
    from diagnose import DIAGNOSERS

    for m in methods:
        for req in DIAGNOSERS.meta(m).get("requires", ()):  # an unknown method: UnknownNameError, did-you-mean
            flag, dests = _FLAGS.get(req, (None, ()))
            if flag and not any(getattr(args, d, None) for d in dests):
                raise ParameterError(f"--methods {m} needs {flag}. Pass it, or leave {m!r} out of --methods.")


def run(args: argparse.Namespace) -> int:
    import diagnose

    from ._output import check_apart

    _check_mode(args)
    _check_out(Path(args.out), args.force)
    check_apart(args.out, {"PREDICTIONS file": args.predictions, **{
        f"--{k.replace('_', '-')}": getattr(args, k)
        for k in ("images", "train_images", "model", "features", "embeddings", "train_features", "train_embeddings")}},
        force=args.force)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    options = _parse_options(args.set or [])
    unused = [m for m in options if methods and m not in methods]
    if unused:
        raise ParameterError(f"--set {unused[0]}.{next(iter(options[unused[0]]))}=... sets an option of {unused[0]!r}, "
                             f"which --methods {','.join(methods)} leaves out. Add it to --methods or drop the --set.")
    if methods and args.images is None:
        _check_method_flags(methods, args)
    if args.images is not None:
        inputs = _images_inputs(args)
    else:
        inputs = _table_inputs(args) if _table_mode(args) else _files_inputs(args)
    predictions = inputs.pop("_predictions", None)
    model_name = inputs.pop("_model", None)
    rows = inputs.pop("_rows", "images")
    class_names = inputs.pop("_class_names", None)
    if class_names is not None:  # slices read "true 'Shirt' predicted as 'T-shirt'", definitions keep indices
        for method in ("confusion", "clusters"):
            if methods is None or method in methods:
                options.setdefault(method, {}).setdefault("class_names", class_names)

    d = diagnose.find_slices(**inputs, methods=methods, random_state=args.random_state, **options)
    html = d.to_html(title=args.title, class_names=class_names)
    frame = d.to_frame()

    from curakit.io import OUTPUT_MARKER, atomic_path, atomic_write_text

    out = Path(args.out)
    fresh = not out.exists() or not any(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    if fresh:
        atomic_write_text(out / OUTPUT_MARKER, "written by curakit diagnose\n")
    written = ["diagnosis.json", "report.html", "slices.csv"]
    if predictions is not None:
        atomic_write_text(out / "predictions.csv", predictions.to_csv(index=False))
        written.append("predictions.csv")
    if predictions is not None and inputs.get("embeddings") is not None:
        with atomic_path(out / "embeddings.npy") as tmp:
            np.save(tmp, inputs["embeddings"])
        written.append("embeddings.npy")
    atomic_write_text(out / "slices.csv", frame.to_csv(index=False))
    atomic_write_text(out / "report.html", html)
    d.save(out / "diagnosis.json")

    source = "" if predictions is None else f" (model {model_name})" if rows == "rows" else \
        f" ({len(predictions)} images, model {model_name})"
    print(
        f"{d.n_analysed} rows{source}, baseline error {d.baseline_error_rate:.3f}, methods: {', '.join(d.methods)}; "
        f"{len(d.slices)} slice(s)."
    )
    if len(frame):
        shown = frame.head(args.top)[["rank", "method", "size", "error_rate", "lift", "description"]].copy()
        shown["description"] = shown["description"].str.slice(0, 70)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    names = [str(out / w) for w in written]
    print(f"Wrote {', '.join(names[:-1])} and {names[-1]}.")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diagnose",
        help="find weak slices from files of predictions, or from an image folder and a model",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "predictions", nargs="?", help="Parquet/CSV with y_true, y_pred and optional proba_* columns (files mode)"
    )
    p.add_argument("--out", required=True, help="output folder (diagnosis.json, report.html, slices.csv); new, "
                   "empty or an earlier curakit output")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.add_argument("--images", help="images mode: an image folder FOLDER/<class>/<file>.png (class names or indices), "
                   "an .npz (images, labels) or a Parquet/CSV of image paths")
    add_model_options(p)
    p.add_argument("--resize", metavar="HxW", help="images mode: resize every image to H x W (mixed sizes are refused)")
    p.add_argument("--train-images", help="images mode: the training image folder (under-representation)")
    p.add_argument("--layer", help="images mode: embedding layer name (default: the input of the last Linear)")
    p.add_argument("--features", help="Parquet/CSV of features, one row per prediction (or the predictions file); "
                   "with --model and --target: the table the model predicts (table mode)")
    p.add_argument("--target", metavar="COLUMN", help="table mode: the label column of --features")
    p.add_argument("--embeddings", help=".npy embeddings (n, d), one row per prediction")
    p.add_argument("--train-features", help="Parquet/CSV of the training rows' features")
    p.add_argument("--train-embeddings", help=".npy embeddings of the training rows")
    p.add_argument("--methods", help="comma-separated methods (default: all the inputs allow)")
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.OPTION=VALUE",
        help="a method option, e.g. clusters.min_cluster_size=20 (repeatable; VALUE is JSON, a bare word only for text "
        "options such as rules.search=tree; unknown options are refused)",
    )
    add_random_state(p)
    p.add_argument("--y-true-col", default="y_true", help="label column (default y_true)")
    p.add_argument("--y-pred-col", default="y_pred", help="prediction column (default y_pred)")
    p.add_argument("--top", type=count, default=10, help="slices shown in the printed table (default 10)")
    p.add_argument("--title", default="curakit diagnosis", help="report title")
    p.set_defaults(func=run, diagnose_usage_error=p.error)
    return p
