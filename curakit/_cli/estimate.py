"""``curakit estimate``: what each fill is worth before a retrain (``curate.estimate_fill_value``).

    curakit estimate --model reg/ --old old.parquet --new new.parquet --target label \\
        --fill smote=fill.parquet --fill flood=more.csv [--parents none|new|old] [--out est/]

A head (logistic regression) on frozen features (the model's embedding for torch models, its feature
columns for tables) is fitted with and without each fill, cross-fitted over folds of the new and the old
rows: the gain on new (all rows, per class) and the forgetting on old, each with a 95 % paired interval,
and a warning when a fill makes a class the majority of the training set or moves its class prior far
from the new data's. ``--model``: any form ``curakit retrain`` takes. ``--old`` / ``--new`` / ``--fill
NAME=DATA``: Parquet/CSV tables with the ``--target`` column, or image data (a ``<class>/<image>.png``
folder, an ``.npz``, a table of image paths). ``--parents new`` (or ``old``): the fill's rows are
copies / augmentations of those rows, given in order by a ``parent`` column (a position), so they are
kept out of the folds that score their parents. ``--out`` (new, empty or an earlier curakit output;
``--force`` for a folder of your own) gets fill_value.json and fill_value.csv. Exit 0 also when a fill is
estimated harmful: the estimate is advice (its ``harmful`` column says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_random_state

__all__ = ["add_parser"]

SUMMARY = "estimate what each fill is worth before a retrain (head on frozen features, gain on new, forgetting on old)"


def _read(path: str, what: str, target: str | None, classes: list[str] | None) -> tuple[Any, list[str] | None]:
    """A table (with the target column) or image data as ``(images, labels)``; class names index by one list."""
    from curakit.exceptions import ParameterError
    from curakit.imageio import class_indices, is_image_source, read_images
    from curakit.io import read_table

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if is_image_source(p):
        images, labels, _ = read_images(p, label_col=target or "label")
        if labels.dtype.kind not in "iu":
            labels, classes = class_indices(labels, p, classes=classes)
        return (images, labels), classes
    if target is None:
        raise ParameterError(f"{what} is a table; pass --target naming its label column.")
    return read_table(p, what), classes


def run(args: argparse.Namespace) -> int:
    import curate
    from curakit.exceptions import ParameterError

    from ._options import load_cli_model
    from ._output import check_apart, check_out, publish

    if args.out is not None:
        check_out(args.out, args.force)
        check_apart(args.out, {"--old": args.old, "--new": args.new, "--model": args.model,
                               **{f"--fill {spec.partition('=')[0]}": spec.partition("=")[2] for spec in args.fill or []}},
                    force=args.force)
    if not args.fill:
        raise ParameterError("curakit estimate needs at least one --fill NAME=DATA.")
    fills, classes = {}, None
    old, classes = _read(args.old, "--old", args.target, classes)
    new, classes = _read(args.new, "--new", args.target, classes)
    for spec in args.fill:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ParameterError(f"--fill takes NAME=DATA (e.g. smote=fill.parquet). Got {spec!r} instead.")
        fills[name], classes = _read(path, f"--fill {name}", args.target, classes)
    parents = None
    if args.parents != "none":
        parents = {}
        for name, fill in fills.items():
            if not hasattr(fill, "columns") or "parent" not in fill.columns:
                raise ParameterError(f"--parents {args.parents} needs a 'parent' column (positions in --{args.parents}) "
                                     f"in fill {name!r}. Add it, or pass --parents none.")
            parents[name] = (args.parents, fill["parent"].to_numpy())
            fills[name] = fill.drop(columns="parent")
    model = load_cli_model(args)
    fv = curate.estimate_fill_value(model, old, new, fills, target=args.target, parents=parents,
                                    n_splits=args.n_splits, random_state=args.random_state)
    per = fv.per_fill(args.max_forgetting)
    print(per.drop(columns="warnings").to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    for note in fv.warnings():
        print(f"warning: {note}")
    if args.out is not None:
        publish(args.out, args.force, lambda folder: _write(folder, fv))
        print(f"estimate written to {args.out} (fill_value.json, fill_value.csv)")
    return 0


def _write(folder: Path, fv: Any) -> None:
    import json

    from curakit.io import atomic_dir
    from curakit.records import json_ready

    with atomic_dir(folder) as tmp:
        (tmp / "fill_value.json").write_text(json.dumps(json_ready(fv.to_dict()), indent=2, sort_keys=True))
        fv.to_frame().to_csv(tmp / "fill_value.csv", index=False)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help=SUMMARY, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(p, required=True)
    p.add_argument("--old", required=True, help="the model's training rows (a table or image data)")
    p.add_argument("--new", required=True, help="the new labelled rows (a table or image data)")
    p.add_argument("--fill", action="append", metavar="NAME=DATA", help="a fill: the rows it adds (repeatable)")
    p.add_argument("--target", help="label column of the tables (image data carries its labels)")
    p.add_argument("--parents", choices=["none", "new", "old"], default="none",
                   help="the fills' 'parent' column holds positions in --new / --old (default: %(default)s)")
    p.add_argument("--n-splits", type=int, default=5, metavar="K", help="validation folds (default: %(default)s)")
    p.add_argument("--max-forgetting", type=float, default=0.02, metavar="X",
                   help="a fill whose forgetting on old lies above X (95%% interval) is marked harmful "
                   "(default: %(default)s)")
    add_random_state(p)
    p.add_argument("--out", help="folder for fill_value.json / .csv: new, empty, or an earlier curakit output")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.set_defaults(func=run)
