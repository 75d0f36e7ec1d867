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


MODEL_HELP = ("a registry folder (REG = champion, REG@v3), a torch state dict (.pt) with --model-class, a whole "
              "saved module, TorchScript, torch.export (.pt2), or a scikit-learn .skops/.joblib/.pkl file "
              "(pickles and whole modules run code when loaded: use only files you trust)")


def add_model_options(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--model`` with ``--model-class``, ``--model-kwargs``, ``--import-path``, ``--trust``."""
    p.add_argument("--model", required=required, help=MODEL_HELP)
    p.add_argument("--model-class", metavar="MODULE:CLASS", help="for a state dict: the model class to rebuild")
    p.add_argument("--model-kwargs", metavar="JSON", help="for a state dict: the class's init arguments as JSON")
    p.add_argument("--import-path", action="append", default=[], metavar="DIR",
                   help="a folder to import the model's module from (repeatable; the working folder always is)")
    p.add_argument("--trust", action="append", default=[], metavar="MODULE",
                   help="a module whose classes a registry's metadata may name (repeatable)")


def load_cli_model(args: argparse.Namespace):
    """The model ``args.model`` names, through :func:`curakit.modelfile.load_model`."""
    from curakit.modelfile import load_model

    return load_model(args.model, args.model_class, args.model_kwargs,
                      import_paths=args.import_path, trusted=args.trust, registry_loader=load_registry_model)


def load_registry_model(folder, version):
    """The model of ``version`` (None: the champion) in the registry ``folder``."""
    from curate import Registry

    return Registry(folder).load(version)
