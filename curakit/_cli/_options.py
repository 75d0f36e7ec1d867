"""Options every subcommand spells the same way."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from curakit.exceptions import ParameterError


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


def count(text: str) -> int:
    """An argparse ``type=``: a whole number >= 0 (``--top 5``); anything else is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def existing_folder(text: str) -> str:
    """An argparse ``type=``: a folder that exists (``--import-path DIR``), so that a misspelt one
    is a usage error instead of a silent no-op followed by a confusing import failure."""
    from pathlib import Path

    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder; give the folder that holds the model's module")
    return text


MODEL_HELP = ("a registry folder (REG = champion, REG@v3), a torch state dict (.pt) with --model-class, a whole "
              "saved module, TorchScript, torch.export (.pt2), or a scikit-learn .skops/.joblib/.pkl file "
              "(pickles, whole modules and registries you did not write can run code when loaded: use only files "
              "you trust; see curakit registry --help; --trust MODULE allows a module's classes)")


def add_model_options(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--model`` with ``--model-class``, ``--model-kwargs``, ``--import-path``, ``--trust``."""
    p.add_argument("--model", required=required, help=MODEL_HELP)
    p.add_argument("--model-class", metavar="MODULE:CLASS", help="for a state dict: the model class to rebuild")
    p.add_argument("--model-kwargs", metavar="JSON", help="for a state dict: the class's init arguments as JSON")
    p.add_argument("--import-path", action="append", default=[], metavar="DIR", type=existing_folder,
                   help="a folder to import the model's module from (repeatable; the working folder always is)")
    p.add_argument("--trust", action="append", default=[], metavar="MODULE",
                   help="a module whose classes a registry's metadata may name (repeatable)")


def load_cli_model(args: argparse.Namespace):
    """The model ``args.model`` names, through :func:`curakit.modelfile.load_model`."""
    from curakit.modelfile import load_model

    parse_model_kwargs(args.model_kwargs)  # bad JSON is refused for every model form, before any loading
    trusted = list(getattr(args, "trust", []) or [])
    allow_pickle = bool(getattr(args, "allow_pickle", False))
    return load_model(args.model, args.model_class, args.model_kwargs, import_paths=args.import_path, trusted=trusted,
                      registry_loader=lambda folder, version: load_registry_model(
                          folder, version, trusted=trusted, allow_pickle=allow_pickle))


def load_registry_model(folder, version, *, trusted=(), allow_pickle: bool = False):
    """The model of ``version`` (None: the champion) in the registry ``folder``; ``trusted`` modules
    may be named by its metadata, ``allow_pickle`` reads an old pickled estimator (runs code)."""
    from curate import Registry

    return Registry(folder).load(version, trusted=list(trusted), allow_pickle=allow_pickle)


def parse_json_option(text: str | None, flag: str, example: str, *, kind: type = dict) -> Any:
    """The JSON value of ``flag`` (None when not given): a one-line ParameterError when it does
    not parse or is not a ``kind``, with ``example`` as the fix."""
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{flag} is not valid JSON (column {exc.colno}). Pass for example {example}.") from None
    if kind is not None and not isinstance(value, kind):
        raise ParameterError(f"{flag} must be a JSON {'object' if kind is dict else kind.__name__}; "
                             f"got a {type(value).__name__}. Pass for example {example}.")
    return value


def parse_model_kwargs(text: str | None) -> dict[str, Any] | None:
    """``--model-kwargs`` as a dict (None when not given)."""
    return parse_json_option(text, "--model-kwargs", "'{\"width\": 16}'")


def parse_assignments(items: list[str] | None, flag: str, example: str,
                      target: Callable[[str], Callable[..., Any]], *, skip: tuple[str, ...] = (),
                      form: str = "GROUP.OPTION=VALUE") -> dict[str, dict[str, Any]]:
    """``GROUP.OPTION=VALUE`` items (``--set clusters.min_cluster_size=20``) as ``{group: {option: value}}``.

    ``target(group)`` is the function whose keyword parameters the group's options must be (an
    unknown name is an error with a did-you-mean). VALUE is JSON; a bare word is taken as a string
    only where the option's default is a string (``rules.search=tree``), else it is an error.
    """
    from curakit.validation import check_options

    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        group, dot, name = key.partition(".")
        if not sep or not dot or not group or not name:
            raise ParameterError(f"{flag} expects {form} (for example {example}). Got {item!r} instead.")
        fn = target(group)
        check_options(fn, {name: None}, f"{flag} {group}", skip=skip)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            param = inspect.signature(fn).parameters.get(name)
            if param is None or not isinstance(param.default, str):
                raise ParameterError(
                    f"The value of {flag} {key} is not JSON. Write a number, true/false, null, a list such as [1, 2], "
                    f"or a quoted string such as {key}='\"text\"'."
                ) from None
            value = raw
        out.setdefault(group, {})[name] = value
    return out
