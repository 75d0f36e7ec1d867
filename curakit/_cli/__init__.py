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

#: Subcommand modules, in the order ``--help`` lists them, with the one-line summary ``--help``
#: shows (each module passes the same text as ``help=``; a test compares the two listings).
SUMMARIES = {
    "demo": "run the whole loop on the bundled digits drift scenario",
    "diagnose": "find weak slices from files of predictions, or from an image folder and a registry model",
    "augment": "fill a weak slice: augment images of a folder or resample a table, with a manifest",
    "build": "build the next training set from old and new data (with a manifest)",
    "retrain": "retrain a model on a saved training set with one strategy",
    "run": "run a recipe (a file or an example): diagnose, fill, build, retrain, gate",
    "registry": "list, promote, roll back a model registry",
}
SUBCOMMANDS = list(SUMMARIES)


class _LazySubcommands(argparse._SubParsersAction):
    """Subparsers whose modules are imported only when their command is parsed.

    ``curakit --help`` lists the commands from :data:`SUMMARIES` alone, so start-up imports no
    stage (no scikit-learn, pandas, torch); ``curakit NAME ...`` imports ``curakit._cli.NAME``,
    lets its ``add_parser`` build the real parser, and parses with it.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] in self._pending:
            self._load(values[0])
        super().__call__(parser, namespace, values, option_string)

    def _load(self, name: str) -> None:
        staging = argparse._SubParsersAction(option_strings=[], prog=self._prog_prefix, parser_class=self._parser_class)
        importlib.import_module(f"{__name__}.{name}").add_parser(staging)
        self._name_parser_map[name] = staging._name_parser_map[name]
        self._pending.discard(name)


def build_parser(*, lazy: bool = False) -> argparse.ArgumentParser:
    """The whole ``curakit`` parser. With ``lazy=True`` (what :func:`main` uses) the subcommand
    parsers are built on first use, so only the dispatched command's module is imported."""
    from curakit import __version__

    parser = argparse.ArgumentParser(
        prog="curakit",
        description="Diagnose where a model is weak, fill those slices, build the next training set, "
        "retrain, and promote only if better.",
    )
    parser.add_argument("--version", action="version", version=f"curakit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    if lazy:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_LazySubcommands)
        sub._pending = set(SUBCOMMANDS)
        for name in SUBCOMMANDS:
            sub.add_parser(name, help=SUMMARIES[name], add_help=False)  # a placeholder until used
    else:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name in SUBCOMMANDS:
            importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    sub.required = True
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(lazy=True)
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
