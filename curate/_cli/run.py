"""``curakit run RECIPE.yaml``: diagnose, fill, build, retrain, compare and gate in one go.

    curakit run recipe.yaml [--output runs/today] [--registry registry/] [--seed 0]

See ``curate._recipe`` for the recipe format. Prints the strategy comparison, the chosen
strategy and the gate's decision; the output folder holds the report and the training set.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def run(args: argparse.Namespace) -> int:
    from curate._recipe import run_recipe

    result = run_recipe(args.recipe, output=args.output, registry=args.registry, random_state=args.seed)
    frame = result.comparison.frame
    cols = [c for c in ("strategy", "old", "new", "forgetting", "train_time") if c in frame.columns]
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"slices filled: {len(result.slices)}; training rows: {result.rows_by_origin}")
    print(f"chosen: {result.chosen}")
    if result.promotion is not None:
        print(str(result.promotion))
    elif result.chosen == "do_nothing":
        print("no strategy beat do_nothing; nothing to promote")
    if result.output is not None:
        print(f"report: {result.output / 'comparison.html'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe: diagnose, fill, build, retrain, gate",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--output", help="output folder (overrides the recipe's output)")
    p.add_argument("--registry", help="registry folder (overrides the recipe's registry)")
    p.add_argument("--seed", type=int, default=None, help="random_state (overrides the recipe's)")
    p.set_defaults(func=run)
