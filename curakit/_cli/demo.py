"""``curakit demo``: the whole loop on the bundled digits drift scenario."""

from __future__ import annotations

import argparse

from ._options import add_random_state


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole loop on the bundled digits drift scenario",
        description="Train an incumbent CNN on old digits, diagnose it on a new batch where heavy slanted "
        "strokes became common, fill the weak slices by augmentation, build the new training set, retrain "
        "(continue_all, scratch_all), compare, and promote only if better. Writes everything to --out.",
    )
    p.add_argument("--out", default="curakit-out", help="output folder (default: %(default)s)")
    add_random_state(p)
    p.add_argument("--quick", action="store_true", help="a reduced scenario for a smoke run (~1/3 of the time)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: 15, or 6 with --quick)")
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="most accuracy (a fraction) the promoted model may lose on the old holdout, judged at 95%% "
                   "confidence by a paired bootstrap (default: %(default)s)")
    p.add_argument("--skip-if-harmful", action="store_true",
                   help="leave the fill out when its estimate before the retrain is clearly harmful (as the recipe "
                   "key fill.skip_if_harmful)")
    p.add_argument("--selection-split", type=float, default=None, metavar="SHARE",
                   help="pick the candidate on this share of each holdout and score and gate it on the rest (as the "
                   "recipe key retrain.selection_split; default: off)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from curakit.exceptions import ParameterError
    from curate import run_demo

    if args.epochs is not None and args.epochs < 1:
        raise ParameterError(f"--epochs must be a positive int. Got {args.epochs} instead.")
    if not 0.0 <= args.tolerance <= 1.0:
        raise ParameterError(f"--tolerance must be a float in the range [0.0, 1.0]. Got {args.tolerance} instead.")
    if args.selection_split is not None and not 0.0 < args.selection_split < 1.0:
        raise ParameterError(f"--selection-split must be a share between 0 and 1 (e.g. 0.5). Got "
                             f"{args.selection_split} instead.")
    result = run_demo(args.out, random_state=args.random_state, quick=args.quick, epochs=args.epochs,
                      tolerance=args.tolerance, skip_if_harmful=args.skip_if_harmful,
                      selection_split=args.selection_split, progress=False if args.no_progress else None)
    print(result.summary())
    return 0
