"""``curakit build``: the next training set from old and new tables (Parquet or CSV).

    curakit build --old old.parquet --new new.csv --target label --time date \\
        --window 365D --alpha 0.25 --dedup --eval test.parquet --validation 0.1 --out ts/

Window: ``--window 180D`` (latest span), ``--window auto [--candidates 90D,180D,all]``,
``--last-n 5000``, or ``--start 2015-01-01 --end 2015-12-31``. Old data: ``--alpha 0.25`` or
``--alpha auto``, ``--stratify``; ``--replay N --replay-how class_balanced``; recency weights
``--half-life 90D``. Hygiene: ``--dedup`` (``--near TOL`` for near duplicates), ``--eval FILE``
(repeatable; NAME=FILE to name it) removes rows leaking into evaluation sets.

Output: the folder ``--out`` written atomically by ``TrainingSet.save`` (``curate.TrainingSet.load``
reads it). A failed build writes nothing and leaves an earlier folder untouched.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from curakit.exceptions import ParameterError
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


def run(args: argparse.Namespace) -> int:
    from curate import TrainingSetBuilder

    old = read_table(args.old, "--old")
    new = read_table(args.new, "--new")
    features = [c.strip() for c in args.features.split(",") if c.strip()] if args.features else None
    b = TrainingSetBuilder(old, new, target=args.target, time=args.time, features=features)

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
    if args.eval:
        sets = {}
        for k, item in enumerate(args.eval):
            name, sep, path = item.partition("=")
            if not sep:
                name, path = (Path(item).stem or f"eval_{k}"), item
            sets[name] = read_table(path, "--eval")
        b.exclude(sets, near=args.near if args.near is not None else False)
    if args.dedup or args.near is not None:
        b.dedup(near=args.near if args.near is not None else False)
    if args.validation:
        b.split(args.validation, how=args.split_how)
    if args.preprocess:
        b.preprocess()

    ts = b.build(random_state=args.random_state)
    ts.info["inputs"] = {"old": str(args.old), "new": str(args.new), "eval": list(args.eval or [])}
    out = ts.save(args.out)
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
    p.add_argument("--old", required=True, help="old data (Parquet or CSV)")
    p.add_argument("--new", required=True, help="new data (Parquet or CSV)")
    p.add_argument("--target", required=True, help="label column")
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
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)
    return p
