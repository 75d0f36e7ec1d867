"""Retraining strategies (the ``STRATEGIES`` registry) and forgetting guards.

=================  ================================================================================
``do_nothing``     keep the incumbent as it is (the baseline every comparison shows)
``continue_new``   continue training on the new rows only (new + augmented + synthetic), with a
                   smaller learning rate (``lr * lr_scale``); sklearn: ``warm_start`` / ``partial_fit``
``continue_all``   continue training on every row (old + new)
``scratch_new``    re-initialise and train on the new rows only
``scratch_all``    re-initialise and train on every row ("all data")
``finetune_head``  torch: freeze the backbone, put a new head (the module ``head``, the user's
                   ``head=`` or the last ``nn.Linear``) sized for every label seen, train the head
``ensemble_new``   average the incumbent's probabilities with a model trained from scratch on new rows
``ensemble_all``   the same with the fresh model trained on every row
=================  ================================================================================

Forgetting guards: ``replay=`` (``*_new`` strategies: True takes the builder's replay rows,
a float a seeded fraction, an int a seeded count of the old training rows), ``l2_old=`` (L2
pull toward the incumbent's weights) and ``ewc=`` (elastic weight consolidation, diagonal
Fisher from old rows) for torch ``continue_*``.

A strategy is ``fn(ctx, **params) -> (model, history, info)``; its registry meta holds
``params`` (the names it accepts) and ``check`` (``fn(model) -> reason or None``).
"""

from __future__ import annotations

import copy
import logging
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from curakit.adapters import is_torch_model, model_input, num_outputs
from curakit.exceptions import DataError, ParameterError, StrategyError
from curakit.optional import import_optional
from curakit.plugins import PluginRegistry
from curakit.seeds import check_random_state, child_seed
from curakit.validation import check_interval

from ._trainer import (
    TrainConfig,
    can_continue,
    fit_torch,
    reset_parameters,
    sk_continue,
    sk_fit,
)

__all__ = ["NEW_ORIGINS", "STRATEGIES", "EnsembleClassifier", "StrategyContext", "find_head", "supported_strategies"]

logger = logging.getLogger(__name__)

#: Origins a ``*_new`` strategy trains on.
NEW_ORIGINS = ("new", "augmented", "synthetic")

#: name -> fn(ctx, **params) -> (model, history, info); meta: params, check, description.
STRATEGIES: PluginRegistry[Callable[..., tuple[Any, list[dict[str, Any]], dict[str, Any]]]] = PluginRegistry(
    "strategy"
)

#: Parameters of the torch trainer every training strategy accepts.
TRAIN_PARAMS = ("epochs", "lr", "batch_size", "weight_decay", "patience", "progress")
SK_PARAMS = ("epochs", "extra_estimators")


# -- context --------------------------------------------------------------------------------
@dataclass(kw_only=True)
class StrategyContext:
    """What a strategy works with. ``model`` is already a deep copy of the incumbent."""

    model: Any
    ts: Any
    X: Any  # model inputs for every row of ts (images or the feature matrix)
    y: np.ndarray
    seed: int
    transform: Callable | None = None
    config: TrainConfig = field(default_factory=TrainConfig)

    @property
    def is_torch(self) -> bool:
        return is_torch_model(self.model)

    def rows(self, scope: str, split: str = "train", replay: Any = None) -> np.ndarray:
        """Positions of the rows of ``scope`` ("new" or "all") in ``split``, plus replay rows."""
        ts = self.ts
        if scope == "all":
            mask = ts.mask(split=split)
        else:
            mask = ts.mask(split=split, origins=NEW_ORIGINS)
            if replay is not None and replay is not False:
                mask |= self._replay_mask(split, replay)
        return np.flatnonzero(mask)

    def _replay_mask(self, split: str, replay: Any) -> np.ndarray:
        ts = self.ts
        old = ts.mask(split=split, origins=("old",))
        if replay is True:
            man = ts.manifest
            flagged = np.zeros(len(ts), dtype=bool)
            for col in ("operation", "reason", "source"):
                flagged |= man[col].astype(str).str.contains("replay|rehears", case=False, regex=True).to_numpy()
            out = old & flagged
            if split == "train" and not out.any():
                raise DataError(
                    "replay=True but the training set has no replay rows (old rows whose manifest operation, "
                    "reason or source mentions replay/rehearsal). Build it with TrainingSetBuilder.rehearse(...), "
                    "or pass replay=<fraction in (0, 1]> or replay=<number of old rows>."
                )
            return out
        pos = np.flatnonzero(old)
        if isinstance(replay, numbers.Integral) and not isinstance(replay, bool):
            k = int(replay)
            if k < 1:
                raise ParameterError(f"The 'replay' parameter of retrain must be True, a float in (0, 1] or an int >= 1. Got {replay!r} instead.")
        elif isinstance(replay, numbers.Real) and not isinstance(replay, bool) and 0 < replay <= 1:
            k = int(round(float(replay) * len(pos)))
        else:
            raise ParameterError(
                f"The 'replay' parameter of retrain must be True, a float in (0, 1] or an int >= 1. Got {replay!r} instead."
            )
        rng = check_random_state(child_seed(self.seed, "replay", split))
        chosen = rng.choice(pos, size=min(k, len(pos)), replace=False) if len(pos) else pos
        out = np.zeros(len(ts), dtype=bool)
        out[chosen] = True
        return out

    def take(self, pos: np.ndarray) -> Any:
        return self.X.iloc[pos] if hasattr(self.X, "iloc") else self.X[pos]


def _config(ctx: StrategyContext, params: dict[str, Any], *, lr_scale: float = 1.0) -> TrainConfig:
    kw = {k: params[k] for k in TRAIN_PARAMS if k in params}
    cfg = replace(ctx.config, **kw)
    if lr_scale != 1.0:
        cfg = replace(cfg, lr=cfg.lr * lr_scale)
    return cfg


def _label_check(ctx: StrategyContext, model: Any, pos: np.ndarray, name: str) -> None:
    """Torch: every training label must be an output index of the model."""
    if not len(pos):
        return
    k = num_outputs(model, ctx.take(pos[:1]), ctx.transform)
    top = int(np.max(ctx.y[pos]))
    if top >= k:
        raise StrategyError(
            f"The training rows have labels up to {top} but the model has {k} outputs, so {name!r} cannot "
            "learn the new classes. Use finetune_head (a new head sized for every label)."
        )


def _train_torch(ctx: StrategyContext, model: Any, pos: np.ndarray, val: np.ndarray, cfg: TrainConfig, *,
                 desc: str, **kw: Any) -> list[dict[str, Any]]:
    return fit_torch(
        model,
        ctx.take(pos),
        ctx.y[pos],
        config=cfg,
        seed=child_seed(ctx.seed, "train", desc),
        sample_weight=ctx.ts.weights[pos],
        X_val=ctx.take(val) if len(val) else None,
        y_val=ctx.y[val] if len(val) else None,
        transform=ctx.transform,
        desc=desc,
        **kw,
    )


# -- forgetting guards --------------------------------------------------------------------------
def _check_guard(name: str, value: Any) -> float:
    return check_interval(value, name, "retrain", low=0.0)


def _old_weight_penalty(ctx: StrategyContext, model: Any, *, l2_old: float, ewc: float,
                        ewc_samples: int) -> Callable | None:
    """L2 toward the incumbent's weights and/or EWC; None when both are 0."""
    if not l2_old and not ewc:
        return None
    torch = import_optional("torch")
    anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = _fisher_diagonal(ctx, model, ewc_samples) if ewc else None

    def penalty(m: Any):
        total = torch.zeros(())
        for n, p in m.named_parameters():
            if n not in anchor or anchor[n].shape != p.shape or not p.requires_grad:
                continue
            d2 = (p - anchor[n]) ** 2
            if l2_old:
                total = total + 0.5 * l2_old * d2.sum()
            if fisher is not None:
                total = total + 0.5 * ewc * (fisher[n] * d2).sum()
        return total

    return penalty


def _fisher_diagonal(ctx: StrategyContext, model: Any, n_samples: int) -> dict[str, Any]:
    """Empirical diagonal Fisher information of the incumbent on (up to ``n_samples``) old rows."""
    torch = import_optional("torch")
    F = torch.nn.functional
    old = np.flatnonzero(ctx.ts.mask(split="train", origins=("old",)))
    if not len(old):
        raise DataError(
            "ewc= needs old rows to measure which weights matter (the Fisher information), but the training set "
            "has no 'old' training rows. Add old rows (mix/rehearse) or use l2_old= instead."
        )
    rng = check_random_state(child_seed(ctx.seed, "ewc"))
    pick = np.sort(rng.choice(old, size=min(int(n_samples), len(old)), replace=False))
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    try:
        for i in pick:
            model.zero_grad(set_to_none=True)
            logits = model(model_input(ctx.take(np.array([i])), ctx.transform))
            F.cross_entropy(logits, torch.as_tensor([int(ctx.y[i])])).backward()
            for n, p in model.named_parameters():
                if p.grad is not None:
                    fisher[n] += p.grad.detach() ** 2
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {n: f / len(pick) for n, f in fisher.items()}


# -- checks -----------------------------------------------------------------------------------
def _describe(model: Any) -> str:
    name = type(model).__name__
    if hasattr(model, "warm_start"):
        return f"{name}(warm_start={model.warm_start!r})"
    return name


def _always(model: Any, name: str) -> str | None:
    return None


def _check_continue(model: Any, name: str) -> str | None:
    if is_torch_model(model) or can_continue(model):
        return None
    return f"{_describe(model)} supports neither warm_start nor partial_fit, so {name!r} cannot continue its training."


def _check_scratch(model: Any, name: str) -> str | None:
    if is_torch_model(model):
        if any(callable(getattr(m, "reset_parameters", None)) for m in model.modules()):
            return None
        return (
            f"{type(model).__name__} has no submodule with reset_parameters(), so {name!r} cannot re-initialise it."
        )
    return None


def _check_ensemble(model: Any, name: str) -> str | None:
    if not is_torch_model(model) and not hasattr(model, "predict_proba"):
        return f"{type(model).__name__} has no predict_proba, so {name!r} cannot average probabilities."
    return _check_scratch(model, name)


def _check_head(model: Any, name: str) -> str | None:
    if not is_torch_model(model):
        return f"{type(model).__name__} is not a torch nn.Module, so {name!r} has no head to replace."
    try:
        find_head(model, None)
    except StrategyError as exc:
        return str(exc)
    return None


def supported_strategies(model: Any) -> list[str]:
    """Names of the strategies that can run with ``model``, in registry order."""
    return [n for n in STRATEGIES.names() if STRATEGIES.meta(n)["check"](model, n) is None]


# -- strategies ----------------------------------------------------------------------------------
@STRATEGIES.register("do_nothing", params=(), check=_always, description="keep the incumbent unchanged")
def do_nothing(ctx: StrategyContext) -> tuple[Any, list, dict]:
    return ctx.model, [], {"n_train": 0}


def _continue(ctx: StrategyContext, scope: str, *, lr_scale: float, replay: Any, l2_old: float, ewc: float,
              ewc_samples: int, params: dict[str, Any], name: str) -> tuple[Any, list, dict]:
    model = ctx.model
    pos = ctx.rows(scope, "train", replay)
    val = ctx.rows(scope, "val", replay)
    info = {"n_train": int(len(pos)), "n_val": int(len(val))}
    if ctx.is_torch:
        _label_check(ctx, model, pos, name)
        cfg = _config(ctx, params, lr_scale=lr_scale)
        penalty = _old_weight_penalty(ctx, model, l2_old=_check_guard("l2_old", l2_old),
                                      ewc=_check_guard("ewc", ewc), ewc_samples=ewc_samples)
        info["lr"] = cfg.lr
        return model, _train_torch(ctx, model, pos, val, cfg, desc=name, penalty=penalty), info
    if l2_old or ewc:
        raise ParameterError(
            f"l2_old= and ewc= pull a torch model's weights toward the old ones; {type(model).__name__} is not a "
            "torch nn.Module. Use replay= (continue_new) or drop these parameters."
        )
    if not len(pos):
        raise DataError(f"No training rows for {name!r}: the training set has no {scope} rows in its train split.")
    hist = sk_continue(
        model, ctx.take(pos), ctx.y[pos], sample_weight=ctx.ts.weights[pos],
        epochs=params.get("epochs", 5), extra_estimators=params.get("extra_estimators"),
        seed=child_seed(ctx.seed, "partial_fit", name),
        X_val=ctx.take(val) if len(val) else None, y_val=ctx.y[val] if len(val) else None,
    )
    info["how"] = can_continue(model)
    return model, hist, info


_CONTINUE_PARAMS = (*TRAIN_PARAMS, "extra_estimators", "l2_old", "ewc", "ewc_samples")


@STRATEGIES.register("continue_new", params=(*_CONTINUE_PARAMS, "lr_scale", "replay"), check=_check_continue,
                     description="continue training on new rows with a smaller learning rate")
def continue_new(ctx: StrategyContext, *, lr_scale: float = 0.1, replay: Any = None, l2_old: float = 0.0,
                 ewc: float = 0.0, ewc_samples: int = 200, **params: Any) -> tuple[Any, list, dict]:
    lr_scale = check_interval(lr_scale, "lr_scale", "retrain", low=0.0, closed="right")
    return _continue(ctx, "new", lr_scale=lr_scale, replay=replay, l2_old=l2_old, ewc=ewc,
                     ewc_samples=ewc_samples, params=params, name="continue_new")


@STRATEGIES.register("continue_all", params=_CONTINUE_PARAMS, check=_check_continue,
                     description="continue training on old and new rows")
def continue_all(ctx: StrategyContext, *, l2_old: float = 0.0, ewc: float = 0.0, ewc_samples: int = 200,
                 **params: Any) -> tuple[Any, list, dict]:
    return _continue(ctx, "all", lr_scale=1.0, replay=None, l2_old=l2_old, ewc=ewc, ewc_samples=ewc_samples,
                     params=params, name="continue_all")


def fresh_model(ctx: StrategyContext, name: str) -> Any:
    """A re-initialised copy of the incumbent (torch: reset_parameters; sklearn: clone)."""
    if ctx.is_torch:
        return reset_parameters(copy.deepcopy(ctx.model), child_seed(ctx.seed, "init", name))
    from sklearn.base import clone

    est = clone(ctx.model)
    if "random_state" in est.get_params(deep=False) and est.get_params(deep=False)["random_state"] is None:
        # a fresh model must be reproducible from retrain's random_state
        est.set_params(random_state=child_seed(ctx.seed, "init", name))
    return est


def _scratch(ctx: StrategyContext, scope: str, *, replay: Any, params: dict[str, Any], name: str,
             ) -> tuple[Any, list, dict]:
    model = fresh_model(ctx, name)
    pos = ctx.rows(scope, "train", replay)
    val = ctx.rows(scope, "val", replay)
    info = {"n_train": int(len(pos)), "n_val": int(len(val))}
    if not len(pos):
        raise DataError(f"No training rows for {name!r}: the training set has no {scope} rows in its train split.")
    if ctx.is_torch:
        _label_check(ctx, model, pos, name)
        return model, _train_torch(ctx, model, pos, val, _config(ctx, params), desc=name), info
    return model, sk_fit(model, ctx.take(pos), ctx.y[pos], sample_weight=ctx.ts.weights[pos],
                         X_val=ctx.take(val) if len(val) else None, y_val=ctx.y[val] if len(val) else None), info


@STRATEGIES.register("scratch_new", params=(*TRAIN_PARAMS, "replay"), check=_check_scratch,
                     description="re-initialise, train on new rows")
def scratch_new(ctx: StrategyContext, *, replay: Any = None, **params: Any) -> tuple[Any, list, dict]:
    return _scratch(ctx, "new", replay=replay, params=params, name="scratch_new")


@STRATEGIES.register("scratch_all", params=TRAIN_PARAMS, check=_check_scratch,
                     description="re-initialise, train on all rows")
def scratch_all(ctx: StrategyContext, **params: Any) -> tuple[Any, list, dict]:
    return _scratch(ctx, "all", replay=None, params=params, name="scratch_all")


def find_head(model: Any, head: str | None) -> tuple[str, Any]:
    """The (qualified name, nn.Linear) that ``finetune_head`` replaces.

    ``head`` names a module (as in ``named_modules()``); default: the module ``head`` when
    there is one, else the last ``nn.Linear``. A named container's last ``nn.Linear`` is used.
    """
    torch = import_optional("torch")
    modules = dict(model.named_modules())
    if head is not None:
        from curakit.adapters import resolve_layer

        root, target = head, resolve_layer(model, head)
    elif "head" in modules:
        root, target = "head", modules["head"]
    else:
        root, target = "", model
    if isinstance(target, torch.nn.Linear):
        return root, target
    linears = [(n, m) for n, m in target.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        where = f"module {root!r}" if root else type(model).__name__
        raise StrategyError(
            f"{where} has no nn.Linear layer, so finetune_head has no head to replace. Pass head=<module name>."
        )
    name, lin = linears[-1]
    return (f"{root}.{name}" if root else name), lin


def _set_module(model: Any, qualname: str, new: Any) -> None:
    parent_name, _, attr = qualname.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


@STRATEGIES.register("finetune_head", params=(*TRAIN_PARAMS, "head", "num_classes", "replay"), check=_check_head,
                     description="freeze the backbone, train a new head (new classes allowed)")
def finetune_head(ctx: StrategyContext, *, head: str | None = None, num_classes: int | None = None,
                  replay: Any = None, **params: Any) -> tuple[Any, list, dict]:
    torch = import_optional("torch")
    model = ctx.model
    qual, old_head = find_head(model, head)
    pos = ctx.rows("new", "train", replay)
    val = ctx.rows("new", "val", replay)
    if not len(pos):
        raise DataError("No training rows for 'finetune_head': the training set has no new rows in its train split.")
    k = max(int(old_head.out_features), int(np.max(ctx.y)) + 1)
    if num_classes is not None:
        num_classes = check_interval(num_classes, "num_classes", "retrain", kind=int, low=1)
        if num_classes < int(np.max(ctx.y)) + 1:
            raise ParameterError(
                f"The 'num_classes' parameter of retrain must be at least {int(np.max(ctx.y)) + 1} (the largest "
                f"label + 1). Got {num_classes} instead."
            )
        k = num_classes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(ctx.seed, "head"))
        new_head = torch.nn.Linear(old_head.in_features, k, bias=old_head.bias is not None)
    _set_module(model, qual, new_head)
    if hasattr(model, "num_classes") and isinstance(model.num_classes, int):
        model.num_classes = k  # keeps the recorded init kwargs true to the architecture
    for p in model.parameters():
        p.requires_grad_(False)
    for p in new_head.parameters():
        p.requires_grad_(True)
    frozen = [m for m in model.modules() if m is not model and not any(q is m for q in new_head.modules())
              and len(list(m.children())) == 0]
    hist = _train_torch(ctx, model, pos, val, _config(ctx, params), desc="finetune_head",
                        parameters=list(new_head.parameters()), frozen_modules=frozen)
    for p in model.parameters():
        p.requires_grad_(True)
    return model, hist, {"n_train": int(len(pos)), "n_val": int(len(val)), "head": qual, "num_classes": k}


def _ensemble(ctx: StrategyContext, scope: str, *, weight_new: float, replay: Any, params: dict[str, Any],
              name: str) -> tuple[Any, list, dict]:
    weight_new = check_interval(weight_new, "weight_new", "retrain", low=0.0, high=1.0)
    fresh, hist, info = _scratch(ctx, scope, replay=replay, params=params, name=name)
    weights = [1.0 - weight_new, weight_new]
    if ctx.is_torch:
        ens = _ensemble_class()([ctx.model, fresh], weights)
        ens.eval()
    else:
        ens = EnsembleClassifier([ctx.model, fresh], weights=weights)
    info["weights"] = weights
    return ens, hist, info


@STRATEGIES.register("ensemble_new", params=(*TRAIN_PARAMS, "weight_new", "replay"), check=_check_ensemble,
                     description="average the incumbent with a fresh model trained on new rows")
def ensemble_new(ctx: StrategyContext, *, weight_new: float = 0.5, replay: Any = None,
                 **params: Any) -> tuple[Any, list, dict]:
    return _ensemble(ctx, "new", weight_new=weight_new, replay=replay, params=params, name="ensemble_new")


@STRATEGIES.register("ensemble_all", params=(*TRAIN_PARAMS, "weight_new"), check=_check_ensemble,
                     description="average the incumbent with a fresh model trained on all rows")
def ensemble_all(ctx: StrategyContext, *, weight_new: float = 0.5, **params: Any) -> tuple[Any, list, dict]:
    return _ensemble(ctx, "all", weight_new=weight_new, replay=None, params=params, name="ensemble_all")


# -- ensembles ------------------------------------------------------------------------------------
_ENSEMBLE_CLASS: list[type] = []


def _ensemble_class() -> type:
    """``TorchEnsemble`` (created on first use so that importing curate does not import torch)."""
    if _ENSEMBLE_CLASS:
        return _ENSEMBLE_CLASS[0]
    torch = import_optional("torch")

    class TorchEnsemble(torch.nn.Module):
        """Weighted average of member probabilities. ``forward`` returns the log of the average,
        so ``softmax(forward(x))`` is exactly the averaged probability."""

        def __init__(self, members: list[Any], weights: list[float] | None = None) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(members)
            w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
            if w.shape != (len(members),) or (w < 0).any() or w.sum() <= 0:
                raise ParameterError(
                    f"TorchEnsemble needs one non-negative weight per member with a positive sum. Got shape {w.shape}."
                )
            self.register_buffer("weights", torch.as_tensor(w / w.sum(), dtype=torch.float32))

        def forward(self, x):
            probs = sum(self.weights[i] * torch.softmax(m(x), dim=1) for i, m in enumerate(self.members))
            return torch.log(probs.clamp_min(1e-12))

    TorchEnsemble.__module__ = __name__
    TorchEnsemble.__qualname__ = "TorchEnsemble"
    _ENSEMBLE_CLASS.append(TorchEnsemble)
    return TorchEnsemble


def __getattr__(name: str) -> Any:  # PEP 562: curate._strategies.TorchEnsemble, built lazily
    if name == "TorchEnsemble":
        return _ensemble_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sk_base():
    from sklearn.base import BaseEstimator, ClassifierMixin

    return BaseEstimator, ClassifierMixin


_BaseEstimator, _ClassifierMixin = _sk_base()


class EnsembleClassifier(_ClassifierMixin, _BaseEstimator):
    """Weighted average of fitted classifiers' ``predict_proba`` over the union of their classes.

    Built fitted by ``ensemble_*``; ``fit`` refits every member on the same rows.
    """

    def __init__(self, estimators: list[Any], weights: list[float] | None = None) -> None:
        self.estimators = estimators
        self.weights = weights

    @property
    def classes_(self) -> np.ndarray:
        return np.unique(np.concatenate([np.asarray(e.classes_) for e in self.estimators]))

    def _w(self) -> np.ndarray:
        w = np.ones(len(self.estimators)) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if w.shape != (len(self.estimators),) or (w < 0).any() or w.sum() <= 0:
            raise ParameterError(
                "The 'weights' parameter of EnsembleClassifier must hold one non-negative float per estimator "
                f"with a positive sum. Got shape {w.shape} instead."
            )
        return w / w.sum()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EnsembleClassifier:
        from sklearn.base import clone

        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.estimators = [clone(e).fit(X, y, **kw) for e in self.estimators]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        classes = self.classes_
        out = np.zeros((len(X), len(classes)))
        for w, est in zip(self._w(), self.estimators):
            cols = np.searchsorted(classes, np.asarray(est.classes_))
            out[:, cols] += w * np.asarray(est.predict_proba(X), dtype=np.float64)
        return out

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]

    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(e, "classes_") for e in self.estimators)
