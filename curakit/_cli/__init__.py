"""The ``curakit`` command line: argument parsing only; library code does the work.

Exit codes (:data:`EXIT_CODES`): 0 ok; 1 a mistake in the input (one line ``Error: ...`` on
stderr naming the problem and the fix, no traceback); 2 a usage error (argparse's message);
3 not promoted (``registry promote`` when the gate rejects; ``run --require-promotion``
when no new champion was promoted); 70 an internal error, a bug in curakit or a library
it calls (one line naming the exception; ``--debug`` or ``CURAKIT_DEBUG=1`` prints the traceback);
130 interrupted (Ctrl-C); 141 the reader of stdout went away (``| head``). Each subcommand
lives in its own module here and exposes ``add_parser(subparsers)``, which registers the parser
and sets ``func``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from curakit.exceptions import CurakitError

__all__ = ["EXIT_CODES", "EXIT_INTERNAL", "add_debug_flag", "build_parser", "main", "report_error"]

#: What each exit status of ``curakit`` means (README "Exit codes" lists the same).
EXIT_CODES = {
    0: "ok",
    1: "a mistake in the input: one 'Error:' line naming the problem and the fix",
    2: "a usage error: argparse's message (unknown command, missing or malformed flag)",
    3: "not promoted: registry promote's gate rejected the candidate (kept as a candidate); "
       "run --require-promotion promoted no new champion",
    70: "internal error: a bug in curakit or a library it calls (rerun with --debug for the traceback)",
    130: "interrupted (Ctrl-C)",
    141: "the reader of the output went away (curakit ... | head): nothing is printed",
}
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h
DEBUG_HELP = "on an internal error, print the full traceback (also: environment CURAKIT_DEBUG=1)"

#: Subcommand modules, in the order ``--help`` lists them, with the one-line summary ``--help``
#: shows (each module passes the same text as ``help=``; a test compares the two listings).
SUMMARIES = {
    "demo": "run the whole loop on the bundled digits drift scenario",
    "diagnose": "find weak slices from files of predictions, or from an image folder and a model",
    "augment": "fill a weak slice: augment images of a folder or resample a table, with a manifest",
    "build": "build the next training set from old and new data (with a manifest)",
    "retrain": "retrain a model on a saved training set with one strategy",
    "estimate": "estimate what each fill is worth before a retrain (head on frozen features, gain on new, forgetting on old)",
    "run": "run a recipe (a file or an example): diagnose, fill, build, retrain, gate",
    "registry": "list, promote, roll back a model registry",
}
SUBCOMMANDS = list(SUMMARIES)


def _installed(names) -> list[str]:
    """The subcommands whose module ``curakit._cli.NAME`` exists (found without importing it), so a
    :data:`SUMMARIES` entry added ahead of its module never breaks ``curakit --help``."""
    import importlib.util

    return [name for name in names if importlib.util.find_spec(f"{__name__}.{name}") is not None]


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
        add_debug_flag(staging._name_parser_map[name])
        self._name_parser_map[name] = staging._name_parser_map[name]
        self._pending.discard(name)


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on ``parser`` and every sub-command parser under it, so that it works after the
    command too (``curakit registry promote ... --debug``); it never overrides the top-level flag."""
    if "--debug" not in parser._option_string_actions:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_debug_flag(child)


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
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    if lazy:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_LazySubcommands)
        sub._pending = set(_installed(SUMMARIES))
        for name in _installed(SUMMARIES):
            sub.add_parser(name, help=SUMMARIES[name], add_help=False)  # a placeholder until used
    else:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name in _installed(SUMMARIES):
            importlib.import_module(f"{__name__}.{name}").add_parser(sub)
            add_debug_flag(sub.choices[name])
    sub.required = True
    return parser


def _debug_env() -> bool:
    return os.environ.get("CURAKIT_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _file_in_the_way(exc: BaseException) -> str | None:
    """For "File exists" / "Not a directory" on a path: the file that stands where a folder is needed."""
    from pathlib import Path

    if not isinstance(exc, (FileExistsError, NotADirectoryError)) or not exc.filename:
        return None
    path = Path(exc.filename)
    for part in (path, *path.parents) if isinstance(exc, NotADirectoryError) else (path,):
        if part.exists() and not part.is_dir():
            return str(part)
    return None


def _flag_hint(flag: str | None, parser: argparse.ArgumentParser) -> str:
    """" Did you mean '--x'?" for a misspelt long flag (names compared without the dashes)."""
    import difflib

    if not flag or not flag.startswith("--"):
        return ""
    names = {o[2:]: o for o in parser._option_string_actions if o.startswith("--")}
    close = difflib.get_close_matches(flag[2:], list(names), n=1, cutoff=0.75)
    return f" Did you mean {names[close[0]]!r}?" if close else ""


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but an unknown flag is reported by the (sub)command parser it was
    given to, with its usage and a did-you-mean, not by the top-level parser."""
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    target = parser
    while True:
        subs = next((a for a in target._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, subs.dest, None) if subs is not None else None
        if name not in getattr(subs, "choices", {}):
            break
        target = subs.choices[name]
    flag = next((e.partition("=")[0] for e in extras if e.startswith("-")), None)
    target.error(f"unrecognized arguments: {' '.join(extras)}.{_flag_hint(flag, target)}")
    raise AssertionError("unreachable")  # pragma: no cover - error() exits


def report_error(exc: BaseException, debug: bool = False) -> int:
    """Print ``exc`` as one stderr line and return the exit code (see :data:`EXIT_CODES`).

    A :class:`CurakitError` is the user's mistake (its message names the fix): exit 1. Missing
    files, permissions and full disks (``OSError``) and running out of memory are exit 1 too.
    Anything else is a bug, in curakit or in a library it calls with input curakit should have
    checked: one "internal error" line naming the exception, exit 70; with ``debug`` the whole
    traceback comes first.
    """
    if isinstance(exc, CurakitError):
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, FileNotFoundError):
        from ._output import file_above

        blocker = file_above(exc.filename) if exc.filename else None
        why = f" ({str(blocker)!r} is a file, not a folder)" if blocker is not None else ""
        print(f"Error: no such file or folder: {exc.filename or exc}{why}. Check the path.", file=sys.stderr)
        return 1
    if isinstance(exc, BrokenPipeError):  # `curakit ... | head`: stop quietly, as other tools do (128 + SIGPIPE)
        with contextlib.suppress(Exception):  # and let the interpreter's final flush go nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    blocker = _file_in_the_way(exc)
    if blocker is not None:
        print(f"Error: {blocker!r} is a file, not a folder, so nothing can be written in it. Choose a path under a "
              "folder (a file is never replaced).", file=sys.stderr)
        return 1
    if isinstance(exc, OSError):  # permission denied, disk full, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"Error: {exc.strerror or exc}{where}. Check the path, its permissions and free space.", file=sys.stderr)
        return 1
    if isinstance(exc, MemoryError):
        print("Error: out of memory. Use a smaller input, ask for less (--n, --resize), or a machine with more "
              "memory.", file=sys.stderr)
        return 1
    from curakit import __version__

    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    detail = _one_line(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (raised in {os.path.basename(frames[-1].filename)} line {frames[-1].lineno})" if frames else ""
    print(f"Error: internal error in curakit {__version__}: {type(exc).__name__}{': ' + detail if detail else ''}{where}; "
          + ("please report it with the traceback above." if debug else
             "rerun with --debug (or CURAKIT_DEBUG=1) for the traceback, and please report it."), file=sys.stderr)
    return EXIT_INTERNAL


@contextlib.contextmanager
def _warnings_on_one_line(active: bool, quiet: bool):
    """On the console, a library's warning is one line ``WARNING Category: message (file:line)``
    (Python's default adds the source line); ``-q`` hides warnings, ``--debug`` keeps Python's form."""
    if not active:
        yield
        return

    def show(message, category, filename, lineno, file=None, line=None):
        where = f"{os.path.basename(str(filename))}:{lineno}"
        print(f"WARNING {category.__name__}: {_one_line(message)} ({where})", file=sys.stderr)

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``curakit ARGV``; returns the exit code (:data:`EXIT_CODES`). Usage errors exit 2 via
    argparse (``SystemExit``); every other failure is one stderr line (:func:`report_error`)."""
    console = argv is None  # the console script / python -m curakit (not a caller's in-process run)
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = _debug_env() or "--debug" in argv  # known before parsing, for failures while parsing
    try:
        args = _parse(build_parser(lazy=True), argv)  # exits 2 on usage errors
        debug = debug or bool(getattr(args, "debug", False))
        level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose + 1, 2)]
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        with _warnings_on_one_line(console and not debug, args.quiet):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("Error: interrupted; outputs written so far are complete, partial ones were discarded.", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place every failure becomes one line and an exit code
        return report_error(exc, debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
