"""Options every subcommand spells the same way."""

from __future__ import annotations

import argparse
import sys


class _RandomState(argparse.Action):
    """``--random-state N``; the old ``--seed N`` still works, with a note on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string == "--seed":
            print("curakit: --seed is renamed --random-state; --seed will stop working in the next release.",
                  file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_random_state(p: argparse.ArgumentParser, default: int | None = 0, help: str = "one seed for everything") -> None:
    """The seed flag: ``--random-state`` (``--seed`` kept one release as a deprecated alias)."""
    shown = "the recipe's" if default is None else "%(default)s"
    p.add_argument("--random-state", "--seed", dest="random_state", type=int, default=default, metavar="N",
                   action=_RandomState, help=f"{help} (default: {shown}; --seed is the old name)")
