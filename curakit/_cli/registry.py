"""``curakit registry``: list, promote, roll back and show the history of a model registry.

    curakit registry list registry/                 versions, champion marked with *
    curakit registry promote registry/ result/ [--min-gain-new 0.01 --max-drop-old 0.02]
    curakit registry rollback registry/ [--to v3]
    curakit registry history registry/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from curakit.exceptions import RegistryError

__all__ = ["add_parser"]


def _open(path: str):
    from curate import Registry

    p = Path(path)
    if not (p / "registry.json").exists():
        raise RegistryError(f"{path!r} is not a curakit registry (no registry.json). Check the path.")
    return Registry(p)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def cmd_list(args: argparse.Namespace) -> int:
    reg = _open(args.registry)
    frame = reg.to_frame()
    if frame.empty:
        print("(no versions)")
        return 0
    print(f"  {'version':<8} {'strategy':<14} {'metric':<10} {'old':>8} {'new':>8}  created")
    for row in frame.itertuples(index=False):
        mark = "*" if row.champion else " "
        print(f"{mark} {row.version:<8} {str(row.strategy or '-'):<14} {str(row.metric or '-'):<10} "
              f"{_fmt(row.old):>8} {_fmt(row.new):>8}  {row.created[:19]}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from curate import Gate, RetrainResult

    reg = _open(args.registry)
    result = RetrainResult.load(args.result)
    gate = Gate(min_gain_new=args.min_gain_new, max_drop_old=args.max_drop_old, confidence=args.confidence,
                n_bootstrap=args.n_bootstrap, metric=result.metric)
    print(str(reg.promote_if_better(result, gate=gate)))
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
    q = rsub.add_parser("promote", help="register a result folder; champion only if the gate passes")
    q.add_argument("registry")
    q.add_argument("result", help="folder written by `curakit retrain` / RetrainResult.save")
    q.add_argument("--min-gain-new", type=float, default=0.0)
    q.add_argument("--max-drop-old", type=float, default=0.01)
    q.add_argument("--confidence", type=float, default=0.95)
    q.add_argument("--n-bootstrap", type=int, default=1000)
    q.set_defaults(func=cmd_promote)
    q = rsub.add_parser("rollback", help="make the previous champion (or --to VERSION) champion again")
    q.add_argument("registry")
    q.add_argument("--to", help="version to make champion")
    q.set_defaults(func=cmd_rollback)
    q = rsub.add_parser("history", help="every register/promote/reject/rollback event")
    q.add_argument("registry")
    q.set_defaults(func=cmd_history)
