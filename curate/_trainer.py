"""A compact trainer for torch ``nn.Module`` classifiers and adapters for scikit-learn estimators.

Torch: mini-batch training on the CPU with a seeded generator (shuffles) and a seeded global
RNG inside :func:`torch.random.fork_rng` (dropout, re-initialisation), per-row sample weights,
weight decay, early stopping on a validation split (the best epoch's weights are restored) and
a per-epoch trace of loss and accuracy. Images reach the model as float32 NCHW in [0, 1]
(:func:`curakit.adapters.images_to_tensor`) unless ``transform=`` is given; tabular rows as
float32 matrices.

scikit-learn: refit (with ``sample_weight`` when the weights are not uniform), continue with
``warm_start=True`` (ensembles grow by ``extra_estimators`` trees) or ``partial_fit`` epochs.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curakit.adapters import is_torch_model, model_input, predict_proba, take_rows
from curakit.exceptions import DataError, ParameterError, StrategyError
from curakit.optional import import_optional
from curakit.progress import progress
from curakit.seeds import check_random_state, torch_generator
from curakit.validation import check_interval

__all__ = [
    "TrainConfig",
    "can_continue",
    "fit_torch",
    "reset_parameters",
    "sk_continue",
    "sk_fit",
]

logger = logging.getLogger(__name__)


def _check_number(owner: str, name: str, value: Any, *, kind: type, low: float, high: float = math.inf,
                  low_open: bool = False) -> Any:
    """:func:`curakit.validation.check_interval` with a closed upper bound (kept for curate._gate)."""
    return check_interval(value, name, owner, kind=kind, low=low, high=high, closed="right" if low_open else "both")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How the torch trainer runs (the strategies pass their own ``lr`` etc. here).

    epochs : maximum passes over the training rows.
    lr : Adam learning rate.
    batch_size : rows per step (batches are split evenly, so none has a single row).
    weight_decay : Adam weight decay (L2 on all trained parameters).
    patience : stop after this many epochs without a lower validation loss (None: never).
    progress : draw a progress bar (None: automatic, see :mod:`curakit.progress`).
    """

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    patience: int | None = 3
    progress: bool | None = None

    def __post_init__(self) -> None:
        owner = "retrain"
        check_interval(self.epochs, "epochs", owner, kind=int, low=1)
        check_interval(self.lr, "lr", owner, low=0.0, closed="right")
        check_interval(self.batch_size, "batch_size", owner, kind=int, low=1)
        check_interval(self.weight_decay, "weight_decay", owner, low=0.0)
        if self.patience is not None:
            check_interval(self.patience, "patience", owner, kind=int, low=1)


# -- torch ----------------------------------------------------------------------------------
def reset_parameters(model: Any, seed: int) -> Any:
    """Re-initialise ``model`` in place: ``reset_parameters()`` on every submodule that has it,
    under a seeded global torch RNG (so the same seed gives the same weights). Returns it."""
    torch = import_optional("torch")
    n_reset = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for module in model.modules():
            fn = getattr(module, "reset_parameters", None)
            if callable(fn):
                fn()
                n_reset += 1
            # BatchNorm running statistics belong to the old data too.
            reset_stats = getattr(module, "reset_running_stats", None)
            if callable(reset_stats):
                reset_stats()
    if n_reset == 0:
        raise StrategyError(
            f"{type(model).__name__} has no submodule with reset_parameters(), so it cannot be re-initialised "
            "for a 'scratch' strategy. Give its layers reset_parameters() or use a 'continue' strategy."
        )
    return model


def fit_torch(
    model: Any,
    X: Any,
    y: np.ndarray,
    *,
    config: TrainConfig,
    seed: int,
    sample_weight: np.ndarray | None = None,
    X_val: Any = None,
    y_val: np.ndarray | None = None,
    transform: Callable | None = None,
    parameters: Sequence[Any] | None = None,
    frozen_modules: Sequence[Any] = (),
    penalty: Callable[[Any], Any] | None = None,
    desc: str = "train",
) -> list[dict[str, Any]]:
    """Train ``model`` in place; return the per-epoch trace.

    parameters : the parameters to optimise (default: every parameter that requires grad).
    frozen_modules : modules kept in eval mode while training (a frozen backbone's BatchNorm).
    penalty : ``fn(model) -> scalar tensor`` added to every step's loss (L2 toward old
        weights, EWC).
    Returns one dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy`` (None without validation rows), ``seconds``. With validation rows and a
    ``patience``, training stops early and the weights of the epoch with the lowest validation
    loss are restored (``best`` marks it).
    """
    torch = import_optional("torch")
    y = np.asarray(y)
    n = len(y)
    w = _check_rows_and_weights(n, sample_weight)
    yt = torch.as_tensor(y.astype(np.int64))
    wt = torch.as_tensor(w, dtype=torch.float32)
    params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise StrategyError("The model has no trainable parameters for this strategy.")
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    yv = np.asarray(y_val) if has_val else None

    history: list[dict[str, Any]] = []
    n_batches = max(1, math.ceil(n / config.batch_size))  # near-equal batches: no lone last row
    gen = torch_generator(seed)
    best_loss, best_state, bad_epochs = math.inf, None, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        for epoch in progress(range(config.epochs), desc=desc, total=config.epochs, enabled=config.progress,
                              unit="epoch"):
            t0 = time.perf_counter()
            model.train()
            for m in frozen_modules:
                m.eval()
            perm = torch.randperm(n, generator=gen).numpy()
            tot_loss, tot_w, correct = _train_epoch(model, X, yt, wt, np.array_split(perm, n_batches), opt,
                                                    transform, penalty)
            rec: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": tot_loss / max(tot_w, 1e-12),
                "train_accuracy": correct / n,
                "val_loss": None,
                "val_accuracy": None,
            }
            if has_val:
                rec["val_loss"], rec["val_accuracy"] = _val_scores(model, X_val, yv, transform)
            rec["seconds"] = time.perf_counter() - t0
            history.append(rec)
            logger.debug("%s epoch %d: %s", desc, epoch + 1, rec)
            if has_val and config.patience is not None:
                if rec["val_loss"] < best_loss - 1e-9:
                    best_loss, bad_epochs = rec["val_loss"], 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                    if bad_epochs >= config.patience:
                        logger.info("%s: early stop after epoch %d (no lower validation loss for %d epochs)",
                                    desc, epoch + 1, bad_epochs)
                        break
    _restore_best(model, best_state, history)
    model.eval()
    return history


def _restore_best(model: Any, best_state: dict[str, Any] | None, history: list[dict[str, Any]]) -> None:
    """Early stopping: the weights of the epoch with the lowest validation loss, marked ``best``."""
    if best_state is not None:
        model.load_state_dict(best_state)
        best_epoch = min(range(len(history)), key=lambda i: history[i]["val_loss"])
        history[best_epoch]["best"] = True


def _check_rows_and_weights(n: int, sample_weight: np.ndarray | None) -> np.ndarray:
    if n == 0:
        raise DataError("No training rows for this strategy: the selected rows of the training set are empty.")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataError(
            f"Sample weights must be {n} finite non-negative numbers with a positive sum. Got shape {w.shape}."
        )
    return w


def _train_epoch(model: Any, X: Any, yt: Any, wt: Any, batches: list[np.ndarray], opt: Any,
                 transform: Callable | None, penalty: Callable[[Any], Any] | None) -> tuple[float, float, float]:
    """One pass over ``batches``: (weighted loss sum, weight sum, correct rows)."""
    torch = import_optional("torch")
    F = torch.nn.functional
    tot_loss = tot_w = correct = 0.0
    for idx in batches:
        xb = model_input(take_rows(X, idx), transform)
        logits = model(xb)
        wb = wt[idx]
        per_row = F.cross_entropy(logits, yt[idx], reduction="none")
        loss = (per_row * wb).sum() / wb.sum().clamp_min(1e-12)
        if penalty is not None:
            loss = loss + penalty(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            tot_loss += float((per_row * wb).sum())
            tot_w += float(wb.sum())
            correct += float((logits.argmax(1) == yt[idx]).sum())
    return tot_loss, tot_w, correct


def _val_scores(model: Any, X_val: Any, yv: np.ndarray, transform: Callable | None) -> tuple[float, float]:
    """(log loss, accuracy) on the validation rows."""
    proba = predict_proba(model, X_val, transform=transform)
    p_true = proba[np.arange(len(yv)), yv.astype(np.int64)]
    return float(-np.log(np.clip(p_true, 1e-12, 1.0)).mean()), float((proba.argmax(1) == yv).mean())


# -- scikit-learn -----------------------------------------------------------------------------
def _accepts_sample_weight(method: Callable) -> bool:
    try:
        return "sample_weight" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False


def _weights_kw(est: Any, method_name: str, w: np.ndarray | None) -> dict[str, Any]:
    if w is None or np.allclose(w, w[0] if len(w) else 1.0):
        return {}
    if not _accepts_sample_weight(getattr(est, method_name)):
        raise ParameterError(
            f"{type(est).__name__}.{method_name} does not accept sample_weight, but the training set has "
            "non-uniform row weights. Build the training set without weights or use an estimator that takes them."
        )
    return {"sample_weight": np.asarray(w, dtype=np.float64)}


def _accuracy(est: Any, X: Any, y: np.ndarray | None) -> float | None:
    if X is None or y is None or len(y) == 0:
        return None
    return float((np.asarray(est.predict(X)) == np.asarray(y)).mean())


def sk_fit(est: Any, X: Any, y: np.ndarray, *, sample_weight: np.ndarray | None = None,
           X_val: Any = None, y_val: np.ndarray | None = None) -> list[dict[str, Any]]:
    """``est.fit`` (with weights when they are not uniform); a one-entry trace."""
    t0 = time.perf_counter()
    est.fit(X, y, **_weights_kw(est, "fit", sample_weight))
    return [{"epoch": 1, "train_accuracy": _accuracy(est, X, y), "val_accuracy": _accuracy(est, X_val, y_val),
             "seconds": time.perf_counter() - t0}]


def can_continue(est: Any) -> str | None:
    """How an estimator can continue training: ``"warm_start"``, ``"partial_fit"`` or None."""
    if getattr(est, "warm_start", False) is True:
        return "warm_start"
    if callable(getattr(est, "partial_fit", None)):
        return "partial_fit"
    return None


def sk_continue(
    est: Any,
    X: Any,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    epochs: int = 5,
    extra_estimators: int | None = None,
    seed: int = 0,
    X_val: Any = None,
    y_val: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Continue training a fitted estimator on (X, y) in place; return the trace.

    ``warm_start=True``: one more ``fit`` starting from the current solution; estimators with
    ``n_estimators`` grow by ``extra_estimators`` (default: half the current count) trees
    trained on these rows. Otherwise ``partial_fit`` for ``epochs`` seeded shuffled passes.
    """
    how = can_continue(est)
    classes = getattr(est, "classes_", None)
    y = np.asarray(y)
    if classes is not None:
        unseen = np.setdiff1d(np.unique(y), np.asarray(classes))
        if unseen.size:
            raise StrategyError(
                f"The training rows have {unseen.size} label value(s) that the fitted {type(est).__name__} "
                "does not know, so its training cannot be continued. Use scratch_new, scratch_all, "
                "ensemble_new or ensemble_all."
            )
    history: list[dict[str, Any]] = []
    if how == "warm_start":
        if classes is not None and np.unique(y).size != np.asarray(classes).size:
            raise StrategyError(
                f"The training rows hold {np.unique(y).size} of the {np.asarray(classes).size} classes the "
                f"{type(est).__name__} knows, and a warm_start fit re-learns its classes from the rows, so it cannot "
                "continue. Add old rows of every class (replay=, or continue_all), or use a scratch or ensemble strategy."
            )
        t0 = time.perf_counter()
        if hasattr(est, "n_estimators") and hasattr(est, "estimators_"):
            n_now = len(est.estimators_)
            add = extra_estimators if extra_estimators is not None else max(1, n_now // 2)
            est.set_params(n_estimators=n_now + int(add))
        est.fit(X, y, **_weights_kw(est, "fit", sample_weight))
        history.append({"epoch": 1, "train_accuracy": _accuracy(est, X, y),
                        "val_accuracy": _accuracy(est, X_val, y_val), "seconds": time.perf_counter() - t0})
        return history
    if how == "partial_fit":
        rng = check_random_state(seed)
        kw_all = _weights_kw(est, "partial_fit", sample_weight)
        for epoch in range(int(epochs)):
            t0 = time.perf_counter()
            perm = rng.permutation(len(y))
            kw = {"sample_weight": kw_all["sample_weight"][perm]} if kw_all else {}
            if classes is not None:
                kw["classes"] = np.asarray(classes)
            est.partial_fit(take_rows(X, perm), y[perm], **kw)
            history.append({"epoch": epoch + 1, "train_accuracy": _accuracy(est, X, y),
                            "val_accuracy": _accuracy(est, X_val, y_val), "seconds": time.perf_counter() - t0})
        return history
    raise StrategyError(f"{type(est).__name__} supports neither warm_start nor partial_fit.")


def is_sklearn_estimator(model: Any) -> bool:
    return not is_torch_model(model) and callable(getattr(model, "fit", None)) and callable(
        getattr(model, "predict", None)
    )
