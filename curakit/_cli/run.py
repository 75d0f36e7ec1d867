"""``curakit run RECIPE``: diagnose, fill, build, retrain, compare and gate in one go.

    curakit run recipe.yaml [--output runs/today] [--registry registry/] [--seed 0]
    curakit run digits_drift                 # an example recipe shipped with curakit
    curakit run --list-examples              # the example recipes
    curakit run --show-example digits_drift > my_recipe.yaml   # copy one to adapt it
    curakit run my_recipe.yaml --set retrain.params.epochs=2 --set data.scenario_params.n_samples=600
    curakit run my_recipe.yaml --check       # check paths, model, strategies; fit nothing
    curakit run my_recipe.yaml --trust mymodels   # allow the recipe to name classes from mymodels
    curakit run my_recipe.yaml --require-promotion   # exit 3 unless a new champion was promoted

RECIPE is a recipe file, or the name of an example recipe. An example's relative paths
(registry, output) resolve against the working folder; a file's against the file's folder.
``--set KEY=VALUE`` changes one key before validation: KEY is a dotted path (section.key, or
deeper into a mapping such as data.scenario_params.n_samples), VALUE is read as YAML (2, 0.5,
true, [a, b], {epochs: 2}); ``null`` removes the key. See ``curate._recipe`` for the format.

Safety: a recipe is data. It may name model classes only from curakit, sklearn, imblearn,
torchvision.models and torch.nn, plus the modules in its 'trusted_modules:' list, in --trust
MODULE or in $CURAKIT_TRUST (importing a module runs its code: trust only what you vetted). Its
paths stay inside its folder (or its 'root:'): absolute paths and '..' are refused in the file;
give them on the command line (--output, --registry). The output folder is replaced only if
curakit wrote it. Loading a registry's champion unpickles it: only use registries you trust.

Prints the strategy comparison, the chosen strategy and the gate's decision; the output folder
holds the report and the training set. The run exits 0 whatever the gate decided, unless
``--require-promotion``: then it exits 3 when no new champion was promoted (the gate kept the
incumbent, or no strategy beat do_nothing), so that a retrain job stops before deploying.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._options import add_random_state

__all__ = ["add_parser"]


def _set_key(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set KEY=VALUE`` to the raw recipe mapping (validation comes after)."""
    import yaml

    from curakit.exceptions import ParameterError

    key, sep, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ParameterError(
            f"The --set option takes KEY=VALUE with a dotted KEY, such as retrain.params.epochs=2. Got {assignment!r} instead."
        )
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ParameterError(f"The value of --set {key} is not valid YAML. Quote it or fix its syntax.") from None
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ParameterError(f"The --set option cannot set {key}: recipe key {where!r} is not a mapping.")
        node = child
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def _load(args: argparse.Namespace) -> Any:
    """The validated Recipe that ``args`` name (a file or an example), with the --set changes."""
    from curakit.exceptions import ParameterError, UnknownNameError
    from curakit.plugins import did_you_mean
    from curate import Recipe, example_recipes, example_text, parse_recipe

    if args.example is not None:
        text, base_dir, what = example_text(args.example), Path.cwd(), f"example {args.example!r}"
    else:
        target = args.recipe
        path = Path(target)
        examples = example_recipes()
        if path.is_file():
            text, base_dir, what = path.read_text(), path.resolve().parent, repr(target)
        elif target in examples:
            text, base_dir, what = example_text(target), Path.cwd(), f"example {target!r}"
        elif path.is_dir():
            raise ParameterError(f"{target!r} is a folder; give a recipe file (YAML) or an example recipe name.")
        elif path.suffix.lower() in (".yaml", ".yml", ".json") or len(path.parts) > 1:
            raise FileNotFoundError(2, "No such file", target)
        else:
            names = list(examples)
            raise UnknownNameError(
                f"{target!r} is neither a recipe file nor an example recipe.{did_you_mean(target, names)} "
                f"Examples: {', '.join(names)} (curakit run --list-examples)."
            )
    data = dict(parse_recipe(text, what))  # a file that is no mapping (a CSV) is refused there, by name
    for assignment in args.set or []:
        _set_key(data, assignment)
    return Recipe.from_dict(data, base_dir=base_dir)


def run(args: argparse.Namespace) -> int:
    from curate import example_recipes, example_text, run_recipe

    chosen = [flag for flag, on in (("RECIPE", args.recipe is not None), ("--example", args.example is not None),
                                    ("--list-examples", args.list_examples),
                                    ("--show-example", args.show_example is not None)) if on]
    if not chosen:
        args.parser.error("give a recipe file or an example name (see curakit run --list-examples)")
    if len(chosen) > 1:
        args.parser.error(f"{chosen[0]} and {chosen[1]} cannot be combined; give one of them")
    if args.list_examples:
        examples = example_recipes()
        width = max(map(len, examples), default=0)
        for name, summary in examples.items():
            print(f"{name:<{width}}  {summary}")
        return 0
    if args.show_example is not None:
        print(example_text(args.show_example), end="")
        return 0

    for flag, value in (("--output", args.output), ("--registry", args.registry)):
        if value is not None and not value.strip():
            args.parser.error(f"{flag} is empty; give a folder path, or leave it out to use the recipe's")
    recipe = _load(args)
    trusted = list(args.trust or [])
    if args.require_promotion and args.registry is None and recipe.data.get("registry") is None:
        from curakit.exceptions import ParameterError

        raise ParameterError("--require-promotion needs a registry to promote into. Give --registry DIR or the "
                             "recipe key 'registry'.")
    if args.check:
        import sys

        errors, warnings = recipe.check(output=args.output, registry=args.registry, trusted=trusted)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        for line in errors:
            print(f"Error: {line}", file=sys.stderr)
        if errors:
            return 1
        print(f"ok: recipe {recipe.data.get('name', '(unnamed)')!r} is valid (sha256 {recipe.hash[:12]})")
        return 0
    result = run_recipe(recipe, output=args.output, registry=args.registry, random_state=args.random_state,
                        trusted=trusted)
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}")
    frame = result.comparison.frame
    cols = [c for c in ("strategy", "old", "new", "forgetting", "train_time") if c in frame.columns]
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"slices filled: {len(result.slices)}; training rows: {result.rows_by_origin}")
    _print_fill_value(result.fill_value)
    print(f"chosen: {result.chosen}")
    if result.promotion is not None:
        print(str(result.promotion))
    elif result.chosen == "do_nothing":
        limit = recipe.section("retrain").get("max_forgetting")
        within = "" if limit is None else f" while forgetting at most {limit} on 'old'"
        print(f"no strategy beat do_nothing on 'new'{within}; nothing to promote")
    if result.output is not None:
        print(f"report: {result.output / 'comparison.html'}")
    return _exit_code(result, args.require_promotion)


def _exit_code(result: Any, require_promotion: bool) -> int:
    """0, or with ``--require-promotion`` 3 (:data:`EXIT_REJECTED`) when no new champion was promoted."""
    import sys

    from .registry import EXIT_REJECTED

    if not require_promotion or (result.promotion is not None and result.promotion.promoted):
        return 0
    print("not promoted: exit 3 (--require-promotion)", file=sys.stderr)
    return EXIT_REJECTED


def _print_fill_value(record: Any) -> None:
    """Each fill's estimate before the build (gain on new, forgetting on old) and what the retrain measured."""
    if not record or not record.get("fills"):
        return
    print("fill estimate (head on frozen features; gain on new, forgetting on old, 95% intervals):")
    for f in record["fills"]:
        state = "added" if f["added"] else "SKIPPED (estimated harmful)"
        print(f"  {f['fill']} {f['description']}: gain {f['gain']:+.3f} [{f['gain_low']:+.3f}, {f['gain_high']:+.3f}], "
              f"on its slice {f['slice_gain']:+.3f}, forgetting {f['forgetting']:+.3f} "
              f"[{f['forgetting_low']:+.3f}, {f['forgetting_high']:+.3f}]; {state}")
        for note in f["warnings"]:
            print(f"    warning: {note}")
    m = record.get("measured") or {}
    if m.get("vs_naive:new") is not None:
        print(f"  measured by the retrain ({m['strategy']} vs naive, the fills together): new "
              f"{m['vs_naive:new']:+.3f} [{m['vs_naive:new:low']:+.3f}, {m['vs_naive:new:high']:+.3f}], old "
              f"{m['vs_naive:old']:+.3f}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe (a file or an example): diagnose, fill, build, retrain, gate",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", help="recipe YAML file, or the name of an example recipe")
    p.add_argument("--example", metavar="NAME", help="run the example recipe NAME (see --list-examples)")
    p.add_argument("--list-examples", action="store_true", help="list the example recipes and exit")
    p.add_argument("--show-example", metavar="NAME", help="print the commented YAML of an example recipe and exit")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change one recipe key before validation (repeatable), e.g. retrain.params.epochs=2")
    p.add_argument("--check", action="store_true",
                   help="check the recipe (paths, model class, strategies, output) without fitting anything, and exit")
    p.add_argument("--trust", action="append", metavar="MODULE",
                   help="let the recipe name classes from MODULE (repeatable); importing it runs its code")
    p.add_argument("--output", help="output folder (overrides the recipe's output; relative to the working folder)")
    p.add_argument("--registry", help="registry folder (overrides the recipe's registry; relative to the working folder)")
    p.add_argument("--require-promotion", action="store_true",
                   help="exit 3 unless the run promoted a new champion (for a retrain job that must stop then)")
    add_random_state(p, default=None, help="seed, overriding the recipe's random_state")
    p.set_defaults(func=run, parser=p)
