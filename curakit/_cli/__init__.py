"""The ``curakit`` command line: argument parsing only; library code does the work.

Exit codes: 0 ok, 1 a domain failure (one line ``Error: ...`` on stderr, no traceback),
2 a usage error (argparse's message). Each subcommand lives in its own module here and
exposes ``add_parser(subparsers)``, which registers the parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from curakit.exceptions import CurakitError

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ["demo", "diagnose", "augment", "build", "retrain", "run", "registry"]


def build_parser() -> argparse.ArgumentParser:
    from curakit import __version__

    parser = argparse.ArgumentParser(
        prog="curakit",
        description="Diagnose where a model is weak, fill those slices, build the next training set, "
        "retrain, and promote only if better.",
    )
    parser.add_argument("--version", action="version", version=f"curakit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose + 1, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        code = args.func(args)
    except CurakitError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        name = exc.filename or str(exc)
        print(f"Error: no such file or folder: {name}. Check the path.", file=sys.stderr)
        return 1
    except OSError as exc:  # permission denied, a file where a folder is expected, disk full, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"Error: {exc.strerror or exc}{where}. Check the path, its permissions and free space.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted; outputs written so far are complete, partial ones were discarded.", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
