"""``curakit retrain``: a saved training set + a model + eval sets -> a result folder.

    curakit retrain ts/ --model registry/ --eval old=old_test.parquet --eval new=new_test.parquet \\
        --strategy continue_all --param epochs=5 --out result/

``--model``: a registry folder (its champion; ``registry@v3`` for a version), a torch state dict
(``.pt``) with ``--model-class module:Class`` [``--model-kwargs '{...}'``], a whole saved module,
TorchScript, ``torch.export`` (``.pt2``), or a scikit-learn ``.skops`` / ``.joblib`` / ``.pkl`` file.
Loading a pickle or a whole module runs code from the file: use only files you trust. The working
folder is on the import path (plus ``--import-path DIR``).
``--eval NAME=FILE``: Parquet / CSV with the target column (tabular), or image data (a folder
``<class>/<image>.png``, an ``.npz`` with ``images`` and ``labels``, a table of image paths;
class names map through the training set's class list, as ``curakit build`` wrote it).
The result folder (``RetrainResult.save``) holds result.json, predictions.npz and the model
(``model/model.pt``: a plain torch state dict, load it with your class and ``load_state_dict``;
or ``model/model.skops`` for an estimator; ``model/model.json`` names the file); ``curakit registry promote`` takes it. ``--out`` must be
new, empty or an earlier curakit output (a folder of your own only with ``--force``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from curakit.exceptions import DataError, ParameterError

from ._options import add_model_options, add_random_state

__all__ = ["add_parser", "load_eval", "load_model", "parse_params"]


def _takes_text(strategy: str | None, key: str) -> bool:
    """True when ``strategy``'s parameter ``key`` is annotated ``str`` (``finetune_head``'s ``head``)."""
    import inspect
    import re

    from curate import STRATEGIES

    if strategy is None or strategy not in STRATEGIES:
        return False
    param = inspect.signature(STRATEGIES.get(strategy)).parameters.get(key)
    hint = getattr(param, "annotation", inspect.Parameter.empty)
    return hint is str or (isinstance(hint, str) and re.search(r"\bstr\b", hint) is not None)


def _check_strategy_name(strategy: str) -> None:
    """Before any loading: an unknown ``--strategy`` is refused with a did-you-mean (as curate.retrain does)."""
    from curakit.exceptions import UnknownNameError
    from curakit.plugins import did_you_mean
    from curate import STRATEGIES

    if strategy not in STRATEGIES:
        names = STRATEGIES.names()
        raise UnknownNameError(
            f"Unknown strategy {strategy!r}.{did_you_mean(str(strategy), names)} Known strategies: {', '.join(names)}."
        )


def _check_key(strategy: str | None, key: str) -> None:
    """Before any loading: ``key`` must be one of the strategy's parameters (did-you-mean)."""
    from curakit.plugins import did_you_mean
    from curate import STRATEGIES

    if strategy is None or strategy not in STRATEGIES:
        return  # an unknown strategy is refused by curate.retrain with its own did-you-mean
    allowed = list(STRATEGIES.meta(strategy).get("params", ()))
    if key not in allowed:
        known = f" It takes: {', '.join(allowed)}." if allowed else " It takes no parameters."
        raise ParameterError(f"Strategy {strategy!r} has no parameter {key!r}.{did_you_mean(key, allowed)}{known}")


def parse_params(items: list[str] | None, strategy: str | None = None) -> dict[str, Any]:
    """``["epochs=3", "lr=0.01", "replay=true"]`` -> typed values.

    VALUE is JSON (``3``, ``0.5``, ``true``, ``null``, ``[1, 2]``, ``'"text"'``). A bare word that is
    not JSON is taken as a string only for a parameter of ``strategy`` annotated ``str``
    (``--param head=fc``); anywhere else it is a one-line :class:`ParameterError` naming the key
    and showing how to quote a string, so ``epochs=3O`` or ``replay=ture`` never pass as text.
    With ``strategy`` given, a key it does not take is refused here, before any loading.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"--param takes KEY=VALUE (for example --param epochs=3). Got {item!r} instead.")
        _check_key(strategy, key)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            if not _takes_text(strategy, key):
                raise ParameterError(
                    f"The value of --param {key} is not JSON. Write a number (--param {key}=3), true/false, null, "
                    f"a list such as [1, 2], or a quoted string such as --param {key}='\"text\"'."
                ) from None
            out[key] = raw
    return out


def load_eval(spec: str, classes: list[str] | None = None, resize: Any = None) -> tuple[str, Any]:
    """``NAME=FILE`` -> (name, a table or ``(images, labels)``). Image data (a folder, an ``.npz``,
    a table of image paths: ``curakit.imageio.read_images``) gets its class names mapped to the
    training set's ``classes`` (``info["classes"]``, written by ``curakit build``): the shared reader
    ``_eval_input.read_labelled`` with ``class_list="training set"``."""
    from ._eval_input import read_labelled

    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise ParameterError(f"--eval takes NAME=FILE (e.g. new=new_test.parquet). Got {spec!r} instead.")
    data, _ = read_labelled(path, "Eval set", classes=classes, class_list="training set", resize=resize, name=name)
    return name, data


def load_model(spec: str, model_class: str | None = None, model_kwargs: str | None = None) -> Any:
    """Kept for callers of the old name: :func:`curakit.modelfile.load_model`."""
    from curakit.modelfile import load_model as _load

    from ._options import load_registry_model

    return _load(spec, model_class, model_kwargs, registry_loader=load_registry_model)


def _load_model(args: argparse.Namespace) -> Any:
    """--model through curakit.modelfile; a registry's metadata may name classes of --trust modules."""
    from curakit.modelfile import load_model as _load

    def registry(folder: Any, version: Any) -> Any:
        from curate import Registry

        return Registry(folder).load(version, trusted=list(args.trust))

    return _load(args.model, args.model_class, args.model_kwargs, import_paths=args.import_path,
                 trusted=args.trust, registry_loader=registry)


def _check_eval_specs(specs: list[str] | None) -> None:
    """Before any loading: at least one ``--eval NAME=FILE``, each of that form, each file there."""
    if not specs:
        raise ParameterError("curakit retrain needs --eval NAME=FILE (at least old=... and new=...).")
    seen: set[str] = set()
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ParameterError(f"--eval takes NAME=FILE (e.g. new=new_test.parquet). Got {spec!r} instead.")
        if name in seen:
            raise ParameterError(f"--eval names {name!r} twice. Give each eval set its own NAME (old=..., new=...).")
        seen.add(name)
        if not Path(path).exists():
            raise FileNotFoundError(2, "No such file", path)


def _check_kinds(model: Any, ts: Any) -> None:
    """A torch model needs an image training set; a table (even of pixel columns) cannot feed it."""
    from curakit.adapters import is_torch_model

    X = ts.X
    if is_torch_model(model) and (hasattr(X, "columns") or getattr(X, "ndim", 4) < 3):
        raise DataError(
            f"The model is a torch nn.Module but the training set is a table ({X.shape[1]} columns); a table of pixel "
            "columns cannot feed it. Build the training set from images (an image folder or .npz), or pass a "
            "scikit-learn estimator for tables."
        )


def run(args: argparse.Namespace) -> int:
    import curate
    from curakit.imageio import parse_size

    from ._output import check_apart, check_out, publish

    if not args.model_class:  # the module of --model-class may register a strategy when it is imported
        _check_strategy_name(args.strategy)  # the cheap checks first: nothing is loaded yet
    params = parse_params(args.param, args.strategy)
    _check_eval_specs(args.eval)
    check_out(args.out, args.force)
    check_apart(args.out, {"training set": args.training_set, "--model": args.model,
                           **{f"--eval {e.partition('=')[0]}": e.partition("=")[2] for e in args.eval}}, force=args.force)
    ts = curate.TrainingSet.load(args.training_set)
    model = _load_model(args)
    _check_kinds(model, ts)
    classes = ts.info.get("classes")
    eval_sets = dict(load_eval(e, classes, parse_size(args.resize)) for e in args.eval)
    result = curate.retrain(model, ts, strategy=args.strategy, eval_sets=eval_sets, metric=args.metric,
                            random_state=args.random_state, **params)
    publish(args.out, args.force, result.save)
    for name in eval_sets:
        before = result.baseline_metrics[name][result.metric]
        after = result.metrics[name][result.metric]
        print(f"{name}: {result.metric} {before:.4f} -> {after:.4f} (n={result.metrics[name]['n']})")
    record = Path(args.out) / "model" / "model.json"
    model_file = Path(args.out) / "model" / (json.loads(record.read_text()).get("file", "") if record.is_file() else "")
    print(f"{result.strategy}: trained in {result.train_time:.2f}s; result written to {args.out} (model: {model_file})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="retrain a model on a saved training set with one strategy",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("training_set", help="folder written by `curakit build` / TrainingSet.save")
    add_model_options(p, required=True)
    p.add_argument("--eval", action="append", metavar="NAME=FILE", help="an eval set (repeat: old=..., new=...)")
    p.add_argument("--strategy", default="continue_all", help="strategy name (default: continue_all)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a strategy parameter, VALUE as JSON: epochs=3, replay=true, "
                   "head='\"fc\"' (a bare word only for text parameters such as head; repeatable)")
    p.add_argument("--metric", default="accuracy", help="accuracy or a scikit-learn scorer name")
    add_random_state(p)
    p.add_argument("--resize", metavar="HxW", help="image eval sets: resize every image to H x W")
    p.add_argument("--out", required=True, help="result folder: new, empty, or an earlier curakit output (replaced)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder curakit did not create: only curakit's own file names are replaced")
    p.set_defaults(func=run)
