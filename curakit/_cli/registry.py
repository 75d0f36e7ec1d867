"""``curakit registry``: list, promote, roll back and show the history of a model registry.

    curakit registry list registry/                 versions, champion marked with *
    curakit registry register registry/ --model MODEL [--model-class mod:Class --metric accuracy]
    curakit registry promote registry/ result/ [--min-gain-new 0.01 --max-drop-old 0.02]

    curakit registry rollback registry/ [--to v3]
    curakit registry history registry/

``register`` stores a model (any ``--model`` form) as a new version; it becomes champion when
the registry has none (or with ``--champion``). ``promote`` exits 0 when the result became
champion and 3 when the gate rejected it (its reasons printed); other failures exit 1.

Loading a registry you did not write can run code. curakit checks every version's files against
the hashes registry.json records before reading them, rebuilds torch models only from classes of
curakit, torch.nn, torchvision.models, sklearn and imblearn (add your own module with
--trust MODULE: importing it runs it), reads scikit-learn models from skops files holding only
such types, and reads a pickled model (versions written before skops, or without it) only with
--allow-pickle. A forger who rewrites registry.json too is stopped by those rules, not by the
hashes: load registries, and trust modules, only from people you trust.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from curakit.exceptions import RegistryError

from ._options import add_model_options, load_cli_model, parse_json_option, parse_model_kwargs

__all__ = ["EXIT_REJECTED", "add_parser"]

#: Exit code of ``registry promote`` when the gate rejects the result.
EXIT_REJECTED = 3


def _open(path: str):
    from curate import Registry

    p = Path(path)
    if not (p / "registry.json").exists():
        raise RegistryError(f"{path!r} is not a curakit registry (no registry.json). Check the path.")
    return Registry(p)


def _missing(v) -> bool:
    """None, or the NaN pandas puts in a column where other versions have a value."""
    return v is None or (isinstance(v, float) and v != v)


def _fmt(v) -> str:
    return "-" if _missing(v) else f"{v:.4f}"


def _text(v) -> str:
    return "-" if _missing(v) or v == "" else str(v)


def cmd_list(args: argparse.Namespace) -> int:
    reg = _open(args.registry)
    frame = reg.to_frame()
    if frame.empty:
        print("(no versions)")
        return 0
    print(f"  {'version':<8} {'strategy':<14} {'metric':<10} {'old':>8} {'new':>8}  created")
    for row in frame.itertuples(index=False):
        mark = "*" if row.champion else " "
        print(f"{mark} {row.version:<8} {_text(row.strategy):<14} {_text(row.metric):<10} "
              f"{_fmt(row.old):>8} {_fmt(row.new):>8}  {row.created[:19]}")
    return 0


def _allow(args: argparse.Namespace) -> None:
    """Before ``promote`` loads the result's model: the working folder and ``--import-path`` on the
    import path (as every ``--model`` loader does) and the ``--trust`` names checked."""
    from curakit.modelfile import add_import_paths
    from curakit.trust import trusted_modules

    trusted_modules(args.trust)  # a bad module name is a one-line error before anything loads
    add_import_paths(getattr(args, "import_path", ()))


def _slice_drop(text: str) -> float | None:
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] or 'none', got {text!r}") from None


def _add_allow(q: argparse.ArgumentParser) -> None:
    q.add_argument("--import-path", action="append", default=[], metavar="DIR",
                   help="a folder to import the model's module from (repeatable; the working folder always is)")
    q.add_argument("--trust", action="append", default=[], metavar="MODULE",
                   help="a module whose model classes the result or registry may name (repeatable; importing it runs it)")
    q.add_argument("--allow-pickle", action="store_true",
                   help="read a pickled scikit-learn model (runs any code the file holds; only for files you wrote)")


def cmd_promote(args: argparse.Namespace) -> int:
    from curate import Gate, RetrainResult

    _allow(args)
    reg = _open(args.registry)
    result = RetrainResult.load(args.result, trusted=args.trust, allow_pickle=args.allow_pickle)
    gate = Gate(min_gain_new=args.min_gain_new, max_drop_old=args.max_drop_old, confidence=args.confidence,
                n_bootstrap=args.n_bootstrap, metric=result.metric, max_slice_drop=args.max_slice_drop)
    promotion = reg.promote_if_better(result, gate=gate)
    print(str(promotion))
    return 0 if promotion.promoted else EXIT_REJECTED


def _leftover_only(p: Path) -> bool:
    """Whether folder ``p`` holds only what a failed first register leaves: ``.lock``, an empty ``versions/``."""
    for entry in p.iterdir():
        if entry.name == ".lock" and entry.is_file():
            continue
        if entry.name == "versions" and entry.is_dir() and not any(entry.iterdir()):
            continue
        return False
    return True


def cmd_register(args: argparse.Namespace) -> int:
    import shutil

    from curate import Registry

    p = Path(args.registry)
    if p.is_dir() and not (p / "registry.json").exists() and not _leftover_only(p):
        raise RegistryError(f"{args.registry!r} is a folder with files but not a curakit registry. Pick a new folder.")
    metrics = parse_json_option(args.metrics, "--metrics", "'{\"new\": {\"accuracy\": 0.9}}'", kind=dict)
    model = load_cli_model(args)  # --trust / --allow-pickle reach a registry given as --model
    init_kwargs = parse_model_kwargs(args.model_kwargs)
    existed = p.exists()
    reg = Registry(p)
    try:
        mv = reg.register(model, metrics=metrics, metric=args.metric, init_kwargs=init_kwargs,
                          champion=True if args.champion else None, note=args.note or "")
    except BaseException:
        if not existed:  # a failed first register leaves no folder behind
            shutil.rmtree(p, ignore_errors=True)
        raise
    mark = " (champion)" if reg.champion == mv.version else ""
    print(f"registered {mv.version}{mark} in {p}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    reg = _open(args.registry)
    before = reg.champion
    rec = reg.rollback(to=args.to)
    print(f"champion: {before} -> {rec.version}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    for e in _open(args.registry).history():
        extra = f" ({e.get('champion_before')} -> {e.get('champion_after')})" if "champion_after" in e else ""
        print(f"{e['time'][:19]} {e['event']:<9} {e['version']}{extra}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="list, promote, roll back a model registry",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="registry_command", metavar="ACTION")
    rsub.required = True
    q = rsub.add_parser("list", help="versions, champion marked with *")
    q.add_argument("registry")
    q.set_defaults(func=cmd_list)
    q = rsub.add_parser("register", help="store a model (e.g. the incumbent) as a new version")
    q.add_argument("registry")
    add_model_options(q, required=True)
    q.add_argument("--metric", default=None, help="the metric its scores use (e.g. accuracy)")
    q.add_argument("--metrics", default=None, metavar="JSON", help="its scores, e.g. '{\"new\": {\"accuracy\": 0.9}}'")
    q.add_argument("--champion", action="store_true", help="make it champion even if the registry has one")
    q.add_argument("--note", default=None, help="a free-text note stored with the version")
    q.add_argument("--allow-pickle", action="store_true",
                   help="--model REG: read a pickled scikit-learn version (runs any code the file holds)")
    q.set_defaults(func=cmd_register)
    q = rsub.add_parser("promote", help="register a result folder; champion only if the gate passes (exit 3 when rejected)")
    q.add_argument("registry")
    q.add_argument("result", help="folder written by `curakit retrain` / RetrainResult.save")
    q.add_argument("--min-gain-new", type=float, default=0.0)
    q.add_argument("--max-drop-old", type=float, default=0.01)
    q.add_argument("--confidence", type=float, default=0.95)
    q.add_argument("--n-bootstrap", type=int, default=1000)
    q.add_argument("--max-slice-drop", type=_slice_drop, default=0.05, metavar="X",
                   help="refuse when a named slice of the result (retrain's slices) drops significantly more than "
                        "X (default: %(default)s; 'none' turns the check off)")
    _add_allow(q)
    q.set_defaults(func=cmd_promote)
    q = rsub.add_parser("rollback", help="make the previous champion (or --to VERSION) champion again")
    q.add_argument("registry")
    q.add_argument("--to", help="version to make champion")
    q.set_defaults(func=cmd_rollback)
    q = rsub.add_parser("history", help="every register/promote/reject/rollback event")
    q.add_argument("registry")
    q.set_defaults(func=cmd_history)
