"""``curate.retrain``: run one strategy on a training set and score the result.

The incoming model is never touched: the strategy works on a deep copy. Scores are computed on
every eval set (``{"old": ..., "new": ...}``) and every slice, for the retrained model and for
the incumbent (``baseline_predictions``), so a gate can bootstrap candidate against champion
on the same rows.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.adapters import is_torch_model, num_outputs, predict_proba, take_rows
from curakit.exceptions import DataError, NotFittedError, ParameterError, StrategyError, UnknownNameError
from curakit.io import atomic_dir
from curakit.plugins import did_you_mean
from curakit.records import check_keys, check_schema_version, json_ready, load_json, parse_json
from curakit.seeds import child_seed
from curakit.validation import check_columns, check_labels, model_input_channels
from diagnose import Slice

from ._artifacts import load_model_artifact, save_model_artifact
from ._evaluation import EvalPredictions, Metric, model_hash, resolve_metric
from ._strategies import STRATEGIES, TRAIN_PARAMS, StrategyContext, supported_strategies
from ._trainer import TrainConfig, is_sklearn_estimator

__all__ = [
    "EvalPredictions",
    "Metric",
    "RetrainResult",
    "model_hash",
    "resolve_metric",
    "retrain",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


# -- predictions ------------------------------------------------------------------------------
def _predict(model: Any, X: Any, transform: Callable | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(y_pred, proba or None, classes) from a torch module or a fitted estimator."""
    if is_torch_model(model):
        proba = predict_proba(model, X, transform=transform)
        classes = np.arange(proba.shape[1])
        return classes[proba.argmax(1)] if len(proba) else np.zeros(0, dtype=np.int64), proba, classes
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        classes = np.asarray(model.classes_)
        return classes[proba.argmax(1)], proba, classes
    return np.asarray(model.predict(X)), None, np.asarray(getattr(model, "classes_", []))


# -- inputs -----------------------------------------------------------------------------------
def _feature_columns(model: Any, ts: Any) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and ts.preprocessor is None and not is_torch_model(model):
        return [str(c) for c in names]
    return list(ts.features)


def model_inputs(ts: Any, frame: pd.DataFrame, columns: list[str]) -> Any:
    """Tabular rows as the model sees them: the feature columns, through ``ts.preprocessor``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The rows lack {len(missing)} feature column(s) the model uses (first: {missing[0]!r}). "
            "Pass the same columns as the training set."
        )
    X = frame[columns]
    if ts.preprocessor is not None:
        X = ts.preprocessor.transform(X)
    return X


@dataclass(frozen=True, slots=True, kw_only=True)
class _EvalSet:
    X: Any  # model inputs
    y: np.ndarray
    features: pd.DataFrame | None  # raw features (rule slices)
    images: np.ndarray | None


def _eval_set(name: str, value: Any, ts: Any, columns: list[str]) -> _EvalSet:
    if isinstance(value, pd.DataFrame):
        if ts.kind != "tabular":
            raise DataError(
                f"Eval set {name!r} is a DataFrame but the training set holds images. "
                "Pass (images, labels) or {'images': ..., 'labels': ...}."
            )
        if ts.target not in value.columns:
            raise DataError(
                f"Eval set {name!r} lacks the target column {ts.target!r}. Pass a DataFrame with the target column."
            )
        check_columns(value, f"Eval set {name!r}", "retrain")
        y = check_labels(value[ts.target].to_numpy(), f"Eval set {name!r} column {ts.target!r}", "retrain")
        return _EvalSet(X=model_inputs(ts, value, columns), y=y, features=value, images=None)
    if isinstance(value, Mapping):
        if "images" not in value or "labels" not in value:
            raise DataError(
                f"Eval set {name!r} is a mapping without 'images' and 'labels' keys. "
                "Pass {'images': ..., 'labels': ...}."
            )
        value = (value["images"], value["labels"])
    if isinstance(value, tuple) and len(value) == 2:
        if ts.kind != "images":
            raise DataError(
                f"Eval set {name!r} holds images but the training set is tabular. Pass a DataFrame with the "
                f"target column {ts.target!r}."
            )
        images, labels = np.asarray(value[0]), np.asarray(value[1])
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.dtype != np.uint8:
            raise DataError(
                f"Eval set {name!r}: images must be uint8 shaped (n, H, W, C). "
                f"Got shape {images.shape} and dtype {images.dtype} instead."
            )
        if len(images) != len(labels):
            raise DataError(
                f"Eval set {name!r}: {len(images)} images but {len(labels)} labels. Pass one label per image."
            )
        labels = check_labels(labels, f"Eval set {name!r} labels", "retrain")
        return _EvalSet(X=images, y=labels, features=None, images=images)
    raise DataError(
        f"Eval set {name!r} must be a DataFrame with the target column, an (images, labels) tuple or "
        f"{{'images': ..., 'labels': ...}}. Got {type(value).__name__} instead."
    )


def _check_eval_sets(eval_sets: Any) -> dict[str, Any]:
    if eval_sets is None or (isinstance(eval_sets, Mapping) and not eval_sets):
        raise ParameterError(
            "retrain needs eval_sets={'old': ..., 'new': ...}: held-out rows of the old and of the new data "
            "(never rows of the training set) to score the strategies on."
        )
    if not isinstance(eval_sets, Mapping):
        raise ParameterError(
            "The 'eval_sets' parameter of retrain must be a dict {name: rows}, e.g. {'old': ..., 'new': ...}. "
            f"Got {type(eval_sets).__name__} instead."
        )
    return dict(eval_sets)


# -- slices -----------------------------------------------------------------------------------
def _embed(model: Any, images: np.ndarray, transform: Callable | None) -> np.ndarray:
    """Penultimate features of the incumbent (``diagnose.embed``, layer=None: the input of the
    model's last nn.Linear), as centroid slices were found."""
    from diagnose import embed

    return np.asarray(embed(model, images, layer=None, transform=transform), dtype=np.float64)


def _slice_masks(slices: Any, evals: dict[str, _EvalSet], incumbent: Any, baseline: dict[str, EvalPredictions],
                 transform: Callable | None, slice_embedder: Callable | None) -> dict[str, dict[str, np.ndarray]]:
    if slices is None:
        return {}
    if isinstance(slices, Mapping):
        out: dict[str, dict[str, np.ndarray]] = {}
        for sid, per_set in slices.items():
            if not isinstance(per_set, Mapping):
                raise ParameterError(
                    f"slices[{sid!r}] must map eval-set names to boolean masks. Got {type(per_set).__name__} instead."
                )
            out[str(sid)] = {}
            for name, mask in per_set.items():
                if name not in evals:
                    raise ParameterError(
                        f"slices[{sid!r}] names eval set {name!r}, which is not in eval_sets ({sorted(evals)})."
                    )
                mask = np.asarray(mask, dtype=bool)
                if mask.shape != (len(evals[name].y),):
                    raise DataError(
                        f"slices[{sid!r}][{name!r}] has shape {mask.shape} but eval set {name!r} has "
                        f"{len(evals[name].y)} rows. Pass one bool per row."
                    )
                out[str(sid)][name] = mask
        return out
    out = {}
    embeddings: dict[str, np.ndarray] = {}
    for s in slices:
        if not isinstance(s, Slice):
            raise ParameterError(
                "The 'slices' parameter of retrain must be a list of diagnose.Slice or a dict "
                f"{{slice: {{eval_set: mask}}}}. Got an item of type {type(s).__name__} instead."
            )
        kind = s.definition.get("kind")
        out[s.id] = {}
        for name, ev in evals.items():
            if kind == "centroid":
                if name not in embeddings:
                    if ev.images is None:
                        raise DataError(
                            f"Slice {s.id!r} is a centroid slice, which needs images to embed; eval set {name!r} "
                            "is tabular."
                        )
                    embeddings[name] = (slice_embedder(ev.images) if slice_embedder is not None
                                        else _embed(incumbent, ev.images, transform))
                mask = s.contains(embeddings=embeddings[name])
            else:
                mask = s.contains(features=ev.features, labels=ev.y, predictions=baseline[name].y_pred)
            out[s.id][name] = np.asarray(mask, dtype=bool)
    return out


# -- the result -------------------------------------------------------------------------------

#: the optional keys of a RetrainResult record (RetrainResult.to_dict; "strategy" is required)
_RESULT_KEYS = ("params", "metric", "metrics", "baseline_metrics", "history", "train_time", "info", "random_state",
                "training_set", "incumbent_hash", "candidate_hash", "features", "eval_sets")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrainResult:
    """What one strategy produced, and how it scored.

    model : the retrained model (None after :meth:`from_dict`).
    strategy, params : the strategy and its parameters (JSON-able).
    metrics : ``{"old": {metric: x, "n": n}, "new": {...}, "slices": {id: {"old": {...}, ...}}}``.
    baseline_metrics : the same for the incumbent (what ``do_nothing`` scores).
    history : the per-epoch trace of the training.
    train_time : seconds spent in the strategy.
    predictions, baseline_predictions : :class:`EvalPredictions` per eval set, of the result and
        of the incumbent, for the gate's paired bootstrap.
    training_set : ``ts.fingerprint()``; incumbent_hash / candidate_hash: :func:`model_hash`.
    preprocessor : ``ts.preprocessor`` (tabular): the model's inputs go through it.
    """

    model: Any = None
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    metric: str = "accuracy"
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    train_time: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, EvalPredictions] = field(default_factory=dict)
    baseline_predictions: dict[str, EvalPredictions] = field(default_factory=dict)
    slice_masks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    random_state: int | None = 0
    training_set: str | None = None
    incumbent_hash: str | None = None
    candidate_hash: str | None = None
    preprocessor: Any = None
    features: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def score(self, eval_set: str = "new") -> float | None:
        """The metric on one eval set."""
        return self.metrics.get(eval_set, {}).get(self.metric)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the retrained model on raw rows (tabular: through the preprocessor)."""
        if self.model is None:
            raise NotFittedError("This RetrainResult was loaded without its model. Load it with RetrainResult.load.")
        if self.features and hasattr(X, "columns"):
            X = X[self.features]
        if self.preprocessor is not None:
            X = self.preprocessor.transform(X)
        return _predict(self.model, X, None)[0]

    def to_dict(self) -> dict[str, Any]:
        return json_ready({
            "schema_version": self.schema_version,
            "strategy": self.strategy,
            "params": self.params,
            "metric": self.metric,
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "history": self.history,
            "train_time": self.train_time,
            "info": self.info,
            "random_state": self.random_state,
            "training_set": self.training_set,
            "incumbent_hash": self.incumbent_hash,
            "candidate_hash": self.candidate_hash,
            "features": list(self.features),
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetrainResult:
        fix = "Re-create it with curate.retrain (or curakit retrain) of this version."
        check_schema_version(data, "RetrainResult", SCHEMA_VERSION, fix=fix)
        check_keys(data, "RetrainResult", ("strategy",), _RESULT_KEYS, fix=fix)
        d = dict(data)
        d.pop("schema_version", None)
        d.pop("eval_sets", None)  # result.json lists them; the predictions carry them
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> RetrainResult:
        return cls.from_dict(parse_json(text, "RetrainResult"))

    def save(self, path: str | Path) -> Path:
        """Write a result folder atomically: result.json, predictions.npz, model/ (see Registry)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for name, p in self.predictions.items():
            arrays.update(p.arrays(f"cand/{name}/"))
        for name, p in self.baseline_predictions.items():
            arrays.update(p.arrays(f"base/{name}/"))
        for sid, per_set in self.slice_masks.items():
            for name, mask in per_set.items():
                arrays[f"slice/{sid}/{name}"] = np.asarray(mask, dtype=bool)
        with atomic_dir(path) as tmp:
            meta = self.to_dict()
            meta["eval_sets"] = sorted(self.predictions)
            (tmp / "result.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            with open(tmp / "predictions.npz", "wb") as fh:
                np.savez(fh, **arrays)
            if self.model is not None:
                save_model_artifact(self.model, tmp / "model", preprocessor=self.preprocessor)
        return path

    @classmethod
    def load(cls, path: str | Path, *, factory: Callable | None = None, trusted: Any = (),
             allow_pickle: bool = False) -> RetrainResult:
        """A result saved by :meth:`save`. ``trusted`` names modules a torch model's class may come
        from (besides curakit's allow-list); ``allow_pickle`` reads a pickled estimator (runs code)."""
        path = Path(path)
        if not (path / "result.json").is_file():
            raise DataError(
                f"{str(path)!r} is not a saved retrain result (no result.json). Pass a folder written by "
                "RetrainResult.save or `curakit retrain`."
            )
        meta = load_json(path / "result.json", "Retrain result")
        names = meta.pop("eval_sets", []) if isinstance(meta, dict) else []
        with np.load(path / "predictions.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        preds = {n: EvalPredictions.from_arrays(arrays, f"cand/{n}/") for n in names}
        base = {n: EvalPredictions.from_arrays(arrays, f"base/{n}/") for n in names if f"base/{n}/y_true" in arrays}
        masks: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            if key.startswith("slice/"):
                _, rest = key.split("/", 1)
                sid, name = rest.rsplit("/", 1)
                masks.setdefault(sid, {})[name] = value
        model, pre = (None, None)
        if (path / "model").is_dir():
            model, pre = load_model_artifact(path / "model", factory=factory, trusted=trusted, allow_pickle=allow_pickle)
        result = cls.from_dict(meta)
        return _replace(result, model=model, preprocessor=pre, predictions=preds, baseline_predictions=base,
                        slice_masks=masks)

    def __repr__(self) -> str:
        scores = ", ".join(f"{k}={v.get(self.metric):.4f}" for k, v in self.metrics.items()
                           if k != "slices" and isinstance(v, dict) and v.get(self.metric) is not None)
        return f"RetrainResult(strategy={self.strategy!r}, {scores}, train_time={self.train_time:.2f}s)"


def _replace(obj: Any, **kw: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **kw)


def _score_block(preds: dict[str, EvalPredictions], masks: dict[str, dict[str, np.ndarray]],
                 metric: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in preds.items():
        out[name] = {metric.name: p.score(metric), "n": int(len(p.y_true))}
    out["slices"] = {
        sid: {name: {metric.name: preds[name].score(metric, np.flatnonzero(m)), "n": int(m.sum())}
              for name, m in per_set.items()}
        for sid, per_set in masks.items()
    }
    return out


# -- retrain ----------------------------------------------------------------------------------
def check_strategy(model: Any, strategy: str) -> Callable:
    """The strategy function, or a one-line error (unknown name, or one the model cannot run)."""
    if strategy not in STRATEGIES:
        names = STRATEGIES.names()
        raise UnknownNameError(
            f"Unknown strategy {strategy!r}.{did_you_mean(str(strategy), names)} Known strategies: {', '.join(names)}."
        )
    reason = STRATEGIES.meta(strategy)["check"](model, strategy)
    if reason is not None:
        fits = supported_strategies(model)
        raise StrategyError(f"{reason} Strategies that fit: {', '.join(fits)}.")
    return STRATEGIES.get(strategy)


def _check_params(strategy: str, params: dict[str, Any]) -> None:
    allowed = STRATEGIES.meta(strategy)["params"]
    for key in params:
        if key not in allowed:
            hint = did_you_mean(key, list(allowed))
            known = f" It takes: {', '.join(allowed)}." if allowed else " It takes no parameters."
            raise ParameterError(f"Strategy {strategy!r} has no parameter {key!r}.{hint}{known}")


def _check_model(model: Any) -> str:
    if is_torch_model(model):
        return "torch"
    if is_sklearn_estimator(model):
        from sklearn.exceptions import NotFittedError as SkNotFitted
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except SkNotFitted:
            raise NotFittedError(
                f"The incoming {type(model).__name__} is not fitted. retrain starts from a trained model (the "
                "incumbent); fit it on the old data first."
            ) from None
        return "sklearn"
    raise ParameterError(
        "The 'model' parameter of retrain must be a torch nn.Module or a fitted scikit-learn estimator. "
        f"Got {type(model).__name__} instead."
    )


def _known_labels(model: Any, y: np.ndarray) -> np.ndarray | None:
    if is_torch_model(model):
        return None
    return np.union1d(np.unique(y), np.asarray(getattr(model, "classes_", [])))


def retrain(
    model: Any,
    ts: Any,
    *,
    strategy: str = "continue_all",
    eval_sets: Mapping[str, Any] | None = None,
    slices: Any = None,
    metric: str | Callable = "accuracy",
    random_state: int | None = 0,
    transform: Callable | None = None,
    slice_embedder: Callable | None = None,
    **strategy_params: Any,
) -> RetrainResult:
    """Retrain ``model`` on training set ``ts`` with ``strategy`` and score it on ``eval_sets``.

    Parameters
    ----------
    model : torch ``nn.Module`` or fitted scikit-learn estimator (never modified).
    ts : a :class:`curate.TrainingSet` (``split == "val"`` rows drive early stopping).
    strategy : a name in ``curate.STRATEGIES`` (see :mod:`curate._strategies`).
    eval_sets : ``{"old": ..., "new": ...}``: a DataFrame with the target column, an
        ``(images, labels)`` tuple or ``{"images": ..., "labels": ...}`` each.
    slices : diagnose ``Slice`` objects (re-applied to each eval set: rules on the features,
        centroids on embeddings of the *incumbent*) or ``{slice: {eval_set: bool mask}}``.
    metric : ``"accuracy"``, a scikit-learn scorer name or ``fn(y_true, y_pred)``.
    random_state : one seed for everything random (shuffles, initialisation, replay picks).
    transform : torch only: callable from a uint8 image batch to the model's input.
    slice_embedder : ``fn(images) -> embeddings`` for centroid slices (default: the incumbent's
        penultimate features).
    **strategy_params : the strategy's parameters: ``epochs``, ``lr``, ``batch_size``,
        ``weight_decay``, ``patience``, ``lr_scale``, ``replay``, ``l2_old``, ``ewc``, ``head``, ...
    """
    kind = _check_model(model)
    fn = check_strategy(model, strategy)
    _check_params(strategy, strategy_params)
    _check_torch_only(kind, model, strategy_params)
    eval_sets = _check_eval_sets(eval_sets)
    metric_obj = resolve_metric(metric)
    _check_images_need_torch(kind, model, ts)
    seed = _retrain_seed(random_state)

    columns, X_all, y_all = _training_inputs(kind, model, ts)
    evals = {name: _eval_set(name, value, ts, columns) for name, value in eval_sets.items()}
    _check_eval_inputs(model, evals, transform, X_all)
    _check_labels_seen(model, y_all, evals)

    incumbent = copy.deepcopy(model)
    params_cfg = {k: v for k, v in strategy_params.items() if k in TRAIN_PARAMS}
    config = TrainConfig(**params_cfg) if kind == "torch" else TrainConfig()
    ctx = StrategyContext(model=copy.deepcopy(model), ts=ts, X=X_all, y=np.asarray(y_all), seed=seed,
                          transform=transform, config=config)
    logger.info("retrain: strategy %s on %d rows", strategy, len(ts))
    t0 = time.perf_counter()
    new_model, history, info = fn(ctx, **strategy_params)
    train_time = time.perf_counter() - t0

    baseline, predictions = _predictions(incumbent, new_model, evals, transform)
    masks = _slice_masks(slices, evals, incumbent, baseline, transform, slice_embedder)
    counts = pd.Series(ts.origins).value_counts().to_dict()
    info = {**info, "rows_by_origin": {str(k): int(v) for k, v in counts.items()}}
    return RetrainResult(
        model=new_model,
        strategy=strategy,
        params=_params_record(kind, config, strategy_params),
        metric=metric_obj.name,
        metrics=_score_block(predictions, masks, metric_obj),
        baseline_metrics=_score_block(baseline, masks, metric_obj),
        history=history,
        train_time=train_time,
        info=info,
        predictions=predictions,
        baseline_predictions=baseline,
        slice_masks=masks,
        random_state=random_state if not isinstance(random_state, np.random.Generator) else None,
        training_set=ts.fingerprint(),
        incumbent_hash=model_hash(model),
        candidate_hash=model_hash(new_model),
        preprocessor=ts.preprocessor,
        features=columns,
    )


def _check_images_need_torch(kind: str, model: Any, ts: Any) -> None:
    """``ts`` is a training set, and an image one only with a torch model."""
    if not all(hasattr(ts, a) for a in ("kind", "target", "manifest")):
        raise ParameterError(
            "The 'ts' parameter of retrain must be a curate.TrainingSet (from TrainingSetBuilder(...).build() or "
            f"curate.TrainingSet.load(folder)). Got {type(ts).__name__} instead."
        )
    if kind == "sklearn" and ts.kind == "images":
        raise ParameterError(
            f"An image training set needs a torch nn.Module; got {type(model).__name__}. "
            "Use a torch model, or a tabular training set of features."
        )


def _retrain_seed(random_state: Any) -> int:
    if isinstance(random_state, np.random.Generator):
        return child_seed(random_state)
    return child_seed(random_state, "retrain")


def _training_inputs(kind: str, model: Any, ts: Any) -> tuple[list[str], Any, np.ndarray]:
    """(feature columns, model inputs, labels) of the training rows."""
    columns = _feature_columns(model, ts) if ts.kind == "tabular" else []
    X_all = ts.images if ts.kind == "images" else model_inputs(ts, ts.frame, columns)
    y_all = ts.y
    if kind == "torch":
        if not np.issubdtype(np.asarray(y_all).dtype, np.integer) or (len(y_all) and np.min(y_all) < 0):
            raise DataError(
                f"A torch model needs integer class indices >= 0 as labels. Got dtype {np.asarray(y_all).dtype}. "
                "Encode the labels as 0..k-1."
            )
    return columns, X_all, y_all


def _params_record(kind: str, config: TrainConfig, strategy_params: Mapping[str, Any]) -> dict[str, Any]:
    params = {"strategy_params": json_ready({k: v for k, v in strategy_params.items() if _isjson_ready(v)})}
    if kind == "torch":
        params["config"] = {k: getattr(config, k) for k in ("epochs", "lr", "batch_size", "weight_decay", "patience")}
    return params


def _check_torch_only(kind: str, model: Any, strategy_params: Mapping[str, Any]) -> None:
    if kind != "sklearn":
        return
    torch_only = [k for k in ("lr", "batch_size", "weight_decay", "patience", "lr_scale", "head", "num_classes")
                  if k in strategy_params]
    if torch_only:
        raise ParameterError(
            f"The parameter {torch_only[0]!r} of retrain applies to torch models; {type(model).__name__} trains "
            "with its own settings. Set them on the estimator (e.g. set_params) instead."
        )


def _check_labels_seen(model: Any, y_all: np.ndarray, evals: Mapping[str, _EvalSet]) -> None:
    """Every eval label must be known to the training set or to the model."""
    known = _known_labels(model, y_all)
    for name, ev in evals.items():
        if known is not None:
            unseen = np.setdiff1d(np.unique(ev.y), known)
        else:
            top = max(int(np.max(y_all)) if len(y_all) else -1, _n_outputs(model, ev) - 1)
            unseen = np.unique(ev.y)[np.unique(ev.y) > top]
        if len(unseen):
            raise DataError(
                f"Eval set {name!r} has {len(unseen)} label value(s) that neither the training set nor the model "
                "has seen, so no strategy could predict them. Drop those rows or add such rows to the training set."
            )


def _allows_nan(model: Any) -> bool:
    tags = getattr(model, "__sklearn_tags__", None)
    try:
        return bool(tags().input_tags.allow_nan) if tags is not None else True
    except Exception:  # noqa: BLE001 - an estimator without scikit-learn's tags: let it decide
        return True


def _check_eval_inputs(model: Any, evals: Mapping[str, _EvalSet], transform: Callable | None, X_all: Any) -> None:
    """Before any training: eval images fit the torch model's first layer; eval rows hold no NaN
    where the estimator cannot take it (names the columns, never the values); a torch model runs
    on the training rows and on each eval set (:func:`_check_model_runs`)."""
    channels = model_input_channels(model) if is_torch_model(model) and transform is None else None
    for name, ev in evals.items():
        if ev.images is not None and channels is not None and ev.images.shape[-1] != channels:
            raise DataError(
                f"Eval set {name!r} holds {ev.images.shape[-1]}-channel images (shape {ev.images.shape[1:]}) but "
                f"the model's first layer takes {channels}. Convert the images (grayscale or RGB) to match the model."
            )
        if ev.features is None or is_torch_model(model) or _allows_nan(model):
            continue
        X = ev.X.to_numpy() if hasattr(ev.X, "to_numpy") else np.asarray(ev.X)
        if X.dtype.kind not in "fc" or np.isfinite(X).all():
            continue
        frame = ev.X if hasattr(ev.X, "columns") else ev.features
        bad = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not
               np.isfinite(frame[c].to_numpy(dtype=np.float64, na_value=np.nan)).all()]
        raise DataError(
            f"Eval set {name!r} holds {int((~np.isfinite(X)).sum())} NaN or inf value(s) (column(s) "
            f"{', '.join(map(repr, map(str, bad[:5])))}) and {type(model).__name__} cannot score them. "
            "Impute or drop those rows first (or add an imputer to the model pipeline)."
        )
    _check_model_runs(model, X_all, evals, transform)


def _check_model_runs(model: Any, X_all: Any, evals: Mapping[str, _EvalSet], transform: Callable | None) -> None:
    """Before any training: a torch model runs one forward pass on the first training row and the first row
    of each eval set (``curakit.adapters.predict_proba``: the check ``diagnose`` runs too), so inputs of
    another size or channel count are a one-line DataError, not torch's shape error from mid-training."""
    if not is_torch_model(model):
        return
    sets = {"the training set": X_all, **{f"eval set {name!r}": ev.X for name, ev in evals.items()}}
    for where, X in sets.items():
        if X is None or len(X) == 0:
            continue
        try:
            predict_proba(model, take_rows(X, np.arange(1)), transform=transform)
        except DataError as exc:
            raise DataError(f"retrain, {where}: {exc}") from None


def _predictions(incumbent: Any, new_model: Any, evals: Mapping[str, _EvalSet], transform: Callable | None
                 ) -> tuple[dict[str, EvalPredictions], dict[str, EvalPredictions]]:
    """(incumbent's, retrained model's) predictions on each eval set."""
    baseline = {}
    predictions = {}
    for name, ev in evals.items():
        yp, proba, classes = _predict(incumbent, ev.X, transform)
        baseline[name] = EvalPredictions(y_true=ev.y, y_pred=yp, proba=proba, classes=classes)
        yp, proba, classes = _predict(new_model, ev.X, transform)
        predictions[name] = EvalPredictions(y_true=ev.y, y_pred=yp, proba=proba, classes=classes)
    return baseline, predictions


def _n_outputs(model: Any, ev: _EvalSet) -> int:
    if len(ev.y) == 0:
        return 0
    return num_outputs(model, ev.X[:1])


def _isjson_ready(value: Any) -> bool:
    try:
        json.dumps(json_ready(value))
    except (TypeError, ValueError):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))
