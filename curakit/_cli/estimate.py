"""``curakit estimate``: what each fill is worth before a retrain (``curate.estimate_fill_value``).

    curakit estimate --model reg/ --old old.parquet --new new.parquet --target label \\
        --fill smote=fill.parquet --fill flood=more.csv [--parents auto|none|new|old] [--out est/]
    curakit estimate --model weights.pt --model-class net:Net --old old/ --new new/ --fill aug/

A head (logistic regression) on frozen features (the model's embedding for torch models, its feature
columns for tables) is fitted with and without each fill, cross-fitted over folds of the new and the old
rows: the gain on new (all rows, per class) and the forgetting on old, each with a 95 % paired interval,
and a warning when a fill makes a class the majority of the training set or moves its class prior far
from the new data's. ``--model``: any form ``curakit retrain`` takes. ``--old`` / ``--new`` / ``--fill
NAME=DATA``: Parquet/CSV tables with the ``--target`` column, or image data (a ``<class>/<image>.png``
folder, an ``.npz``, a table of image paths; one class list), or for ``--fill`` a ``curakit augment``
output folder (images or a table, also one made on Dask; ``NAME=`` may be left out, the folder's name is
the fill's): the rows it made, read with their lineage as ``curakit build --add`` reads them.
Parents (fill rows made from rows of --new / --old are kept out of the folds that score their parents):
``--parents auto`` (default): an augment folder's parents are rows of the data it was augmented from
(--old or --new, found by path, as ``curakit build --add``; its row count and each parent's label are
checked against it), other fills have none; ``--parents new`` (or ``old``): the same for every fill, a
table's ``parent`` column holding the positions; ``--parents none``: no parents. ``--out`` (new, empty or
an earlier curakit output; ``--force`` for a folder of your own) gets fill_value.json and fill_value.csv.
Exit 0 also when a fill is estimated harmful: the estimate is advice (its ``harmful`` column says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_random_state

__all__ = ["add_parser"]

SUMMARY = "estimate what each fill is worth before a retrain (head on frozen features, gain on new, forgetting on old)"


def _fill_specs(specs: list[str] | None) -> list[tuple[str, str]]:
    """``--fill NAME=DATA`` (or a bare ``curakit augment`` folder, named by its folder) -> [(name, path)]."""
    from curakit.exceptions import ParameterError

    from ._eval_input import is_augment_output

    if not specs:
        raise ParameterError("curakit estimate needs at least one --fill NAME=DATA.")
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep and is_augment_output(spec):
            name, path = Path(spec).resolve().name, spec
        elif not sep or not name or not path:
            raise ParameterError(f"--fill takes NAME=DATA (e.g. smote=fill.parquet). Got {spec!r} instead.")
        if name in [n for n, _ in out]:
            raise ParameterError(f"--fill names {name!r} twice. Give each fill its own NAME (NAME=DATA).")
        out.append((name, path))
    return out


def _read_all(args: argparse.Namespace, specs: list[tuple[str, str]]) -> tuple[Any, Any, dict, dict]:
    """(old, new, {fill: data}, {fill: AugmentOutput of a curakit augment folder}); one class list for all."""
    from ._eval_input import is_augment_output, read_augment_output, read_labelled

    old, classes = read_labelled(args.old, "--old", target=args.target, need_target=True)
    new, classes = read_labelled(args.new, "--new", target=args.target, need_target=True, classes=classes)
    kind = "images" if isinstance(old, tuple) else "table"
    fills: dict[str, Any] = {}
    augs: dict[str, Any] = {}
    for name, path in specs:
        if is_augment_output(path):
            augs[name], classes = read_augment_output(path, f"--fill {name}", kind=kind, classes=classes,
                                                      target=args.target)
            fills[name] = augs[name].fill
        else:
            fills[name], classes = read_labelled(path, f"--fill {name}", target=args.target, need_target=True,
                                                 classes=classes)
    return old, new, fills, augs


def _source_of(args: argparse.Namespace, name: str, aug: Any) -> str | None:
    """Which data a ``curakit augment`` fill's parents index: --parents, else its input found by path
    (as ``curakit build --add``); a contradiction or an unknown input is a one-line error."""
    from curakit.exceptions import ParameterError

    given = aug.input
    by_path = next((key for key in ("old", "new") if given is not None and given == Path(getattr(args, key)).resolve()),
                   None)
    if args.parents == "none":
        return None
    if args.parents == "auto":
        if by_path is None:
            raise ParameterError(
                f"--fill {name} was augmented from {given.name if given else 'another input'!r}, neither --old nor "
                "--new. Pass --parents new or old (the data its parent positions index), or --parents none.")
        return by_path
    if by_path is not None and by_path != args.parents:
        raise ParameterError(f"--parents {args.parents}, but --fill {name} was augmented from --{by_path} "
                             f"({given.name!r}). Pass --parents {by_path}, or --parents none.")
    return args.parents


def _check_lineage(name: str, aug: Any, source: str, data: Any, target: str | None) -> None:
    """The fill's lineage must index ``data``: as many rows as it was augmented from, parents in range,
    and each made row's label that of its parent (every curakit augment method keeps the label)."""
    import numpy as np

    from curakit.exceptions import DataError

    labels = np.asarray(data[1]) if isinstance(data, tuple) else data[target].to_numpy()
    n = len(labels)
    if aug.n_input is not None and aug.n_input != n:
        raise DataError(f"--fill {name} was augmented from {aug.n_input} rows (augment.json n_input) but --{source} "
                        f"has {n}: its parent positions do not index --{source}. Pass the data it was augmented "
                        "from, or --parents none.")
    if aug.parents.size and int(aug.parents.max()) >= n:
        raise DataError(f"--fill {name} names parent positions up to {int(aug.parents.max())} but --{source} has "
                        f"{n} rows. Pass the data it was augmented from, or --parents none.")
    theirs, mine = labels[aug.parents], np.asarray(aug.labels)
    same = theirs == mine if theirs.dtype.kind == mine.dtype.kind else theirs.astype(str) == mine.astype(str)
    if not np.all(same):
        raise DataError(f"--fill {name}: {int((~np.asarray(same)).sum())} of {len(mine)} rows carry another label "
                        f"than their parent in --{source} (by the fill's lineage): it was not augmented from this "
                        f"--{source}. Pass the data it was augmented from, or --parents none.")


def _parents(args: argparse.Namespace, old: Any, new: Any, fills: dict, augs: dict) -> tuple[dict | None, list[str]]:
    """``parents=`` for ``curate.estimate_fill_value`` and one line per fill saying where its parents are."""
    from curakit.exceptions import ParameterError

    out: dict[str, Any] = {}
    notes: list[str] = []
    for name in list(fills):
        if name in augs:
            source = _source_of(args, name, augs[name])
            if source is not None:
                _check_lineage(name, augs[name], source, old if source == "old" else new, args.target)
                out[name] = (source, augs[name].parents)
            notes.append(f"fill {name}: {len(augs[name].labels)} rows made by curakit augment "
                         f"({augs[name].record.get('method', 'unknown method')}); parents: "
                         + (f"rows of --{source} (its lineage)" if source else "not used (--parents none)"))
            continue
        fill = fills[name]
        if args.parents in ("none", "auto"):
            continue
        if not hasattr(fill, "columns") or "parent" not in fill.columns:
            raise ParameterError(f"--parents {args.parents} needs a 'parent' column (positions in --{args.parents}) "
                                 f"in fill {name!r}, or a curakit augment output folder. Add it, or pass --parents none.")
        out[name] = (args.parents, fill["parent"].to_numpy())
        fills[name] = fill.drop(columns="parent")
    return (out or None), notes


def run(args: argparse.Namespace) -> int:
    import curate

    from ._options import load_cli_model
    from ._output import check_apart, check_out, publish

    if args.out is not None:
        check_out(args.out, args.force)
        check_apart(args.out, {"--old": args.old, "--new": args.new, "--model": args.model,
                               **{f"--fill {spec.partition('=')[0]}": spec.partition("=")[2] or spec
                                  for spec in args.fill or []}}, force=args.force)
    specs = _fill_specs(args.fill)
    old, new, fills, augs = _read_all(args, specs)
    parents, notes = _parents(args, old, new, fills, augs)
    model = load_cli_model(args)
    fv = curate.estimate_fill_value(model, old, new, fills, target=args.target, parents=parents,
                                    n_splits=args.n_splits, random_state=args.random_state)
    for note in notes:
        print(note)
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
    p.add_argument("--fill", action="append", metavar="NAME=DATA",
                   help="a fill: the rows it adds, or a curakit augment output folder (NAME= optional there; repeatable)")
    p.add_argument("--target", help="label column of the tables (image data carries its labels)")
    p.add_argument("--parents", choices=["auto", "none", "new", "old"], default="auto",
                   help="where the fills' parents are: auto (default): a curakit augment folder's in the data it was "
                   "augmented from (--old or --new, by path), other fills none; new / old: in --new / --old (a "
                   "table's 'parent' column, an augment folder's lineage); none: no parents")
    p.add_argument("--n-splits", type=int, default=5, metavar="K", help="validation folds (default: %(default)s)")
    p.add_argument("--max-forgetting", type=float, default=0.02, metavar="X",
                   help="a fill whose forgetting on old lies above X (95%% interval) is marked harmful "
                   "(default: %(default)s)")
    add_random_state(p)
    p.add_argument("--out", help="folder for fill_value.json / .csv: new, empty, or an earlier curakit output")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.set_defaults(func=run)
