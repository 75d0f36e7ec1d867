"""``curate.Registry``: a local model registry folder with every version, a champion, history.

Layout::

    path/
      registry.json        the one source of truth: versions, champion, champion stack, history
      .lock                fcntl.flock'ed by every write (two processes can promote at once)
      versions/v1/         one folder per version, written atomically before registry.json
        model.json         format, sha256 of the weights file, how to rebuild the model
        model.pt           torch: the state dict (loaded with weights_only=True)
        model.skops        scikit-learn: the estimator in skops format (no pickle)
        preprocess.json    the training set's fitted preprocessing, when there is one
        version.json       the version record (metrics, recipe, training-set hash, ...)

A write is one read-modify-write of ``registry.json`` under the lock: the version folder is
built in a temporary sibling and swapped in (``curakit.io.atomic_dir``), then
``registry.json`` is replaced atomically, last. A process killed at any point before that
last step registered nothing: the registry reads as it was, and the next write (under the
lock, so no other write is in progress) sweeps every folder under ``versions/`` that
``registry.json`` does not list (half-written temporaries and complete-but-unregistered
versions alike).

Loading a registry you did not write can run code. What curakit does about it: every load
checks ``model.json`` against the sha256 that ``registry.json`` records for it, and the weights
file against both records, before anything is read; torch models are a state dict plus an
architecture spec whose class must come from an allowed module (:mod:`curakit.trust`:
curakit, sklearn, torch.nn, torchvision.models, imblearn, plus ``trusted=`` / ``--trust``);
scikit-learn estimators are stored with skops (``curakit[secure]``) and read only if every type
in the file comes from an allowed module. Pickles (versions written before, or without skops)
are read only with ``allow_pickle=True`` (``--allow-pickle``), with a warning. The hashes catch
corruption and a swapped file, not a forger who rewrites ``registry.json`` too; the allow-list
and skops are what stop such a registry from running code, and trusting a module means its
import runs. Load registries from others only if you trust them and the modules they name.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from curakit.adapters import is_torch_model
from curakit.exceptions import ParameterError, RegistryError, UnknownNameError
from curakit.io import atomic_dir, atomic_write_json
from curakit.optional import import_optional
from curakit.records import check_schema_version, json_ready

from ._artifacts import _JSON_SCALARS, load_model_artifact, save_model_artifact
from ._gate import Gate, GateDecision
from ._retrain import RetrainResult

__all__ = ["ModelVersion", "Promotion", "Registry", "load_model_artifact", "save_model_artifact"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# -- records ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersion:
    """One registered model version."""

    version: str
    created: str
    strategy: str | None = None
    metric: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] | None = None
    recipe_hash: str | None = None
    training_set: str | None = None
    model_format: str = ""
    model_hash: str = ""
    incumbent_hash: str | None = None
    sha256: str = ""
    meta_sha256: str = ""
    gate: dict[str, Any] | None = None
    note: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return json_ready({f: getattr(self, f) for f in self.__dataclass_fields__})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        return cls(**dict(data))

    def score(self, eval_set: str = "new") -> float | None:
        """The score on ``eval_set``: ``metrics[eval_set][metric]``, or the one score there when the
        version was registered with metrics but no metric name, or a plain number."""
        value = self.metrics.get(eval_set)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, Mapping):
            return None
        if self.metric:
            return value.get(self.metric)
        scores = [v for k, v in value.items() if k != "n" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        return float(scores[0]) if len(scores) == 1 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Promotion:
    """What ``promote_if_better`` decided, and why.

    promoted : True when the candidate is champion now (the CLI exits 0 on it, non-zero otherwise).
    version : the candidate's version (None when nothing was registered: a ``do_nothing`` result).
    registered : whether this call added a version (False for ``do_nothing`` and for a result
        that is already in the registry: promoting twice is idempotent).
    reasons : one readable line per check of the gate (or why there was no gate).
    """

    version: str | None
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    reasons: tuple[str, ...]
    decision: dict[str, Any] | None = None
    registered: bool = True
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return json_ready({f: getattr(self, f) for f in self.__dataclass_fields__})

    def __str__(self) -> str:
        if self.version is None:
            return "nothing registered" + "".join(f"\n  - {r}" for r in self.reasons)
        head = f"{self.version}: {'promoted to champion' if self.promoted else 'kept as a candidate'}"
        return head + "".join(f"\n  - {r}" for r in self.reasons)


def recipe_payload(recipe: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(recipe dict, sha256 of its canonical JSON) from a Recipe, a dict or None."""
    if recipe is None:
        return None, None
    data = recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe)
    canon = json.dumps(json_ready(data), sort_keys=True, separators=(",", ":"))
    return json_ready(data), hashlib.sha256(canon.encode()).hexdigest()


def check_metrics(metrics: Any, where: str = "The 'metrics' parameter of Registry.register") -> None:
    """A one-line ParameterError unless ``metrics`` is None or ``{eval set: {metric: number} or number}``."""
    if metrics is None:
        return
    example = "{'new': {'accuracy': 0.9}}"
    if not isinstance(metrics, Mapping):
        raise ParameterError(f"{where} must be {{eval set: {{metric: value}}}}, for example {example}. "
                             f"Got a {type(metrics).__name__} instead.")
    for key, value in metrics.items():
        if isinstance(value, Mapping) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            continue
        raise ParameterError(f"{where}: the scores of eval set {str(key)!r} must be {{metric: value}} or a number, "
                             f"for example {example}. Got a {type(value).__name__} instead.")


# -- the registry --------------------------------------------------------------------------------
class Registry:
    """A model registry in a local folder (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RegistryError(f"{str(self.path)!r} is a file, not a registry folder. Pass a folder path.")
        self.path.mkdir(parents=True, exist_ok=True)

    # -- state ------------------------------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.path / "registry.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        if not self._state_path.exists():
            return {"schema_version": SCHEMA_VERSION, "champion": None, "champions": [], "versions": [],
                    "history": [], "next": 1}
        try:
            state = json.loads(self._state_path.read_text())
        except json.JSONDecodeError:
            raise RegistryError(
                f"{str(self._state_path)!r} is not valid JSON. It is only ever replaced atomically, so it was edited "
                "by hand or by another tool; restore it from a backup."
            ) from None
        check_schema_version(state, "Registry", SCHEMA_VERSION, fix="Open it with the curakit version that wrote it.",
                             required=True, error=RegistryError)
        return state

    def _write(self, state: dict[str, Any]) -> None:
        atomic_write_json(self._state_path, state)

    # -- reading ----------------------------------------------------------------------------
    @property
    def champion(self) -> str | None:
        """The champion's version id (None while the registry is empty)."""
        return self._read()["champion"]

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        return [ModelVersion.from_dict(v) for v in self._read()["versions"]]

    def version(self, version: str | None = None) -> ModelVersion:
        """One version's record (the champion by default)."""
        state = self._read()
        return ModelVersion.from_dict(self._find(state, version))

    def history(self) -> list[dict[str, Any]]:
        """Every event (register, promote, reject, rollback), oldest first."""
        return list(self._read()["history"])

    def to_frame(self) -> pd.DataFrame:
        """One row per version: scores, strategy, champion flag."""
        state = self._read()
        rows = []
        for v in state["versions"]:
            mv = ModelVersion.from_dict(v)
            rows.append({"version": mv.version, "champion": mv.version == state["champion"], "created": mv.created,
                         "strategy": mv.strategy, "metric": mv.metric, "old": mv.score("old"),
                         "new": mv.score("new"), "training_set": (mv.training_set or "")[:12], "note": mv.note})
        return pd.DataFrame(rows, columns=["version", "champion", "created", "strategy", "metric", "old", "new",
                                           "training_set", "note"])

    def _find(self, state: Mapping[str, Any], version: str | None) -> dict[str, Any]:
        if version is None:
            version = state["champion"]
            if version is None:
                raise RegistryError(
                    f"The registry {str(self.path)!r} has no champion yet. Register a model first "
                    "(reg.register(model) or reg.promote_if_better(result))."
                )
        for v in state["versions"]:
            if v["version"] == version:
                return v
        known = [v["version"] for v in state["versions"]]
        from curakit.plugins import did_you_mean

        raise RegistryError(
            f"No version {version!r} in the registry.{did_you_mean(str(version), known)} "
            f"Versions: {', '.join(known) or '(none)'}."
        )

    def load(self, version: str | None = None, *, factory: Callable[[], Any] | None = None,
             with_preprocessor: bool = False, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        """The model of ``version`` (the champion by default); ``(model, preprocessor)`` when
        ``with_preprocessor``. Torch models whose class cannot be rebuilt need ``factory=``.

        Loading a registry someone else wrote can run code (see the module docstring): the
        version's files are checked against ``registry.json``'s hashes first; a torch spec may name
        classes of curakit, ``torch.nn``, ``torchvision.models`` and the modules in ``trusted``
        (or ``$CURAKIT_TRUST``) only; ``allow_pickle=True`` is needed for a pickled estimator."""
        rec = self.version(version)
        if not (rec.version[:1] == "v" and rec.version[1:].isdigit()):
            raise RegistryError(f"registry.json names a version {rec.version!r} that is not a version folder name "
                                "(v1, v2, ...): it was edited. Restore registry.json from a backup.")
        if not rec.sha256:
            raise RegistryError(
                f"registry.json records no sha256 for {rec.version}, so its files cannot be checked: it was edited. "
                "Restore registry.json from a backup."
            )
        model, pre = load_model_artifact(self.path / "versions" / rec.version, factory=factory,
                                         expected_sha256=rec.sha256, expected_meta_sha256=rec.meta_sha256 or None,
                                         trusted=trusted, allow_pickle=allow_pickle)
        return (model, pre) if with_preprocessor else model

    def _sweep(self, state: Mapping[str, Any]) -> None:
        """Remove what a killed write left under ``versions/``: every entry ``registry.json`` does
        not list, and a temporary ``registry.json`` that was never renamed into place. Called under
        the lock, so no other write is in progress."""
        for stale in self.path.glob(f".{self._state_path.name}.*"):
            stale.unlink(missing_ok=True)
        root = self.path / "versions"
        if not root.is_dir():
            return
        listed = {v["version"] for v in state["versions"]}
        for entry in root.iterdir():
            if entry.name in listed:
                continue
            logger.info("registry %s: removing %s, left by an unfinished write", self.path, entry.name)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    # -- writing ----------------------------------------------------------------------------
    def _add_version(self, state: dict[str, Any], model: Any, *, metrics: Mapping[str, Any] | None,
                     metric: str | None, strategy: str | None, params: Mapping[str, Any] | None, recipe: Any,
                     training_set: Any, incumbent_hash: str | None, preprocessor: Any,
                     init_kwargs: Mapping[str, Any] | None, gate: Mapping[str, Any] | None, note: str,
                     log: bool = True) -> ModelVersion:
        number = int(state.get("next", 1))
        version = f"v{number}"
        self._sweep(state)
        recipe_dict, recipe_hash = recipe_payload(recipe)
        if training_set is not None and not isinstance(training_set, str):
            training_set = training_set.fingerprint()
        folder = self.path / "versions" / version
        with atomic_dir(folder) as tmp:
            art = save_model_artifact(model, tmp, preprocessor=preprocessor, init_kwargs=init_kwargs)
            mv = ModelVersion(
                version=version, created=_now(), strategy=strategy, metric=metric,
                metrics=json_ready(dict(metrics or {})), params=json_ready(dict(params or {})), recipe=recipe_dict,
                recipe_hash=recipe_hash, training_set=training_set, model_format=art["format"],
                model_hash=art["model_hash"], incumbent_hash=incumbent_hash, sha256=art["sha256"],
                gate=None if gate is None else json_ready(dict(gate)), note=note,
                meta_sha256=hashlib.sha256((tmp / "model.json").read_bytes()).hexdigest(),
            )
            (tmp / "version.json").write_text(json.dumps(mv.to_dict(), indent=2, sort_keys=True))
        state["versions"].append(mv.to_dict())
        state["next"] = number + 1
        if log:
            state["history"].append({"time": mv.created, "event": "register", "version": version})
        return mv

    def register(self, model: Any, *, metrics: Mapping[str, Any] | None = None, metric: str | None = None,
                 strategy: str | None = None, params: Mapping[str, Any] | None = None, recipe: Any = None,
                 training_set: Any = None, preprocessor: Any = None, init_kwargs: Mapping[str, Any] | None = None,
                 champion: bool | None = None, note: str = "") -> ModelVersion:
        """Store ``model`` as a new version (e.g. the incumbent). It becomes champion when
        ``champion=True``, or by default when the registry has no champion yet."""
        if not is_torch_model(model) and not callable(getattr(model, "predict", None)):
            raise ParameterError(
                "The 'model' parameter of Registry.register must be a torch nn.Module or a scikit-learn estimator. "
                f"Got {type(model).__name__} instead."
            )
        check_metrics(metrics)
        with self._locked():
            state = self._read()
            mv = self._add_version(state, model, metrics=metrics, metric=metric, strategy=strategy, params=params,
                                   recipe=recipe, training_set=training_set, incumbent_hash=None,
                                   preprocessor=preprocessor, init_kwargs=init_kwargs, gate=None, note=note)
            if champion or (champion is None and state["champion"] is None):
                self._set_champion(state, mv.version, "register")
            self._write(state)
        logger.info("registry %s: registered %s", self.path, mv.version)
        return mv

    def _set_champion(self, state: dict[str, Any], version: str, why: str, reasons: list[str] | None = None) -> None:
        """Make ``version`` champion; one history entry per event (a register that also makes the
        version champion updates its own ``register`` entry instead of adding a second one)."""
        before = state["champion"]
        state["champion"] = version
        state["champions"].append(version)
        entry = {"time": _now(), "event": why, "version": version, "champion_before": before,
                 "champion_after": version, "reasons": reasons or []}
        last = state["history"][-1] if state["history"] else None
        if last is not None and last.get("event") == why and last.get("version") == version:
            last.update({k: v for k, v in entry.items() if k != "time" and (k != "reasons" or v)})
        else:
            state["history"].append(entry)

    def promote_if_better(self, result: RetrainResult, gate: Gate | None = None, *, recipe: Any = None,
                          init_kwargs: Mapping[str, Any] | None = None, note: str = "",
                          naive: RetrainResult | None = None, features: Mapping[str, Any] | None = None,
                          eval_sets: Mapping[str, Any] | None = None, slices: Mapping[str, Any] | None = None,
                          trusted: Sequence[str] = ()) -> Promotion:
        """Register ``result.model`` and make it champion only if ``gate`` passes.

        The champion's predictions are the result's ``baseline_predictions`` (the model it was
        retrained from); if the champion is no longer that model (another process promoted in
        between, or the result was retrained from an unregistered model), the version is
        registered but not promoted. The first version of an empty registry becomes champion.

        A ``do_nothing`` result (the incumbent unchanged) registers nothing. A result already in
        the registry (same candidate and incumbent model, same training set) is not registered
        again: the call reports that version's standing. History gets one entry per call that
        registers (``promote`` or ``reject``, carrying the new version). ``naive=`` is
        ``table.results["naive"]``, needed by ``Gate(vs="naive")``. ``features=`` (``{eval set:
        (n, d) features or embeddings of its rows}``, e.g. ``diagnose.embed(champion, images)``)
        turns on the gate's regression search; the regressions are in ``Promotion.decision``.
        Without ``features=``, ``eval_sets=`` (the eval sets the result was scored on) has them
        computed: ``diagnose.embed`` of the champion (loaded with ``trusted=``) for torch models,
        the model's feature columns for tables (:func:`curate._gate.regression_features`). Named
        slices are checked too: ``slices=`` (see ``Gate.evaluate``), by default the result's own
        (``result.slice_masks``, the ``slices=`` given to ``retrain``).
        A bad input raises before anything is written: the registry is left as it was.
        """
        if not isinstance(result, RetrainResult) or result.model is None:
            raise ParameterError(
                "The 'result' parameter of Registry.promote_if_better must be a RetrainResult with its model "
                f"(from curate.retrain or RetrainResult.load). Got {type(result).__name__} instead."
            )
        if gate is None:
            try:
                gate = Gate(metric=result.metric)
            except UnknownNameError:
                raise ParameterError(
                    f"The result was scored with the custom metric {result.metric!r}; pass "
                    "gate=curate.Gate(metric=<that callable>) so the gate can score the bootstrap samples."
                ) from None
        with self._locked():
            state = self._read()
            before = state["champion"]
            unchanged = _unchanged(state, result)
            if unchanged is not None:
                logger.info("registry %s: %s", self.path, unchanged)
                return unchanged
            reasons, passed, decision = self._judge(state, result, gate, naive, features, eval_sets, slices, trusted)
            mv = self._add_version(state, result.model, metrics=result.metrics, metric=result.metric,
                                   strategy=result.strategy, params=result.params, recipe=recipe,
                                   training_set=result.training_set, incumbent_hash=result.incumbent_hash,
                                   preprocessor=result.preprocessor, init_kwargs=init_kwargs,
                                   gate=None if decision is None else decision.to_dict(), note=note, log=False)
            if passed:
                self._set_champion(state, mv.version, "promote", reasons)
            else:
                state["history"].append({"time": _now(), "event": "reject", "version": mv.version,
                                         "champion_before": before, "champion_after": before, "reasons": reasons})
            self._write(state)
        promo = Promotion(version=mv.version, promoted=passed, champion_before=before,
                          champion_after=mv.version if passed else before, reasons=tuple(reasons),
                          decision=None if decision is None else decision.to_dict())
        logger.info("registry %s: %s", self.path, promo)
        return promo

    def _judge(self, state: Mapping[str, Any], result: RetrainResult, gate: Gate, naive: RetrainResult | None,
               features: Mapping[str, Any] | None, eval_sets: Mapping[str, Any] | None,
               slices: Mapping[str, Any] | None, trusted: Sequence[str]) -> tuple[list[str], bool, GateDecision | None]:
        """(reasons, passed, gate decision or None) of promoting ``result`` over the champion."""
        before = state["champion"]
        if before is None:
            return ["No champion yet: the first version becomes champion."], True, None
        if self._find(state, before)["model_hash"] != result.incumbent_hash:
            return [f"The champion {before} is not the model this result was retrained from (it changed since, "
                    "or the incumbent was never registered), so the gate cannot compare them on the same rows. "
                    "Retrain from reg.load() and promote again."], False, None
        if features is None and eval_sets is not None and gate.max_slice_drop is not None:
            features = self._gate_features(before, result, eval_sets, trusted, layer=gate.layer)
        decision = gate.evaluate(result.predictions, result.baseline_predictions,
                                 None if naive is None else naive.predictions, features,
                                 result.slice_masks if slices is None else slices)
        return list(decision.reasons), decision.passed, decision

    def _gate_features(self, champion: str, result: RetrainResult, eval_sets: Mapping[str, Any],
                       trusted: Sequence[str], layer: str | None = None) -> dict[str, Any]:
        from ._gate import regression_features

        if is_torch_model(result.model):  # the champion's embedding space (Gate.layer)
            return regression_features(self.load(champion, trusted=trusted), eval_sets, layer=layer)
        return regression_features(result.model, eval_sets, columns=result.features, preprocessor=result.preprocessor)

    def rollback(self, to: str | None = None) -> ModelVersion:
        """Make the previous champion (or version ``to``) the champion again; returns it."""
        with self._locked():
            state = self._read()
            current = state["champion"]
            if to is None:
                stack = list(state["champions"])
                while stack and stack[-1] == current:
                    stack.pop()
                if not stack:
                    raise RegistryError(
                        f"No earlier champion to roll back to: {current or 'no version'} is the only champion the "
                        "registry has had. Pass to=<version> to pick a version, or register another model first."
                    )
                target = stack[-1]
                state["champions"] = stack
            else:
                target = self._find(state, to)["version"]
                if target == current:
                    raise RegistryError(f"{target} is already the champion; nothing to roll back.")
                state["champions"].append(target)
            state["champion"] = target
            state["history"].append({"time": _now(), "event": "rollback", "version": target,
                                     "champion_before": current, "champion_after": target, "reasons": []})
            self._write(state)
            rec = self._find(state, target)
        logger.info("registry %s: rolled back %s -> %s", self.path, current, target)
        return ModelVersion.from_dict(rec)

    def export_mlflow(self, version: str | None = None, *, name: str = "curakit-model",
                      tracking_uri: str | None = None, factory: Callable[[], Any] | None = None,
                      input_example: Any = None, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        """Log ``version`` (the champion by default) to MLflow and register it as model ``name``.

        Needs mlflow (``pip install mlflow``); returns mlflow's ModelVersion. One MLflow run
        (``curakit-<version>``) holds: params ``curakit_version``, ``strategy``, ``training_set``,
        ``recipe_hash``, ``model_format`` and the version's training params as ``param.<key>``;
        metrics ``<eval_set>_<metric>`` for every numeric score of each eval set (``old_accuracy``,
        ``new_accuracy``, ...); tags ``curakit.model_hash`` and ``curakit.sha256``; the version's
        ``version.json`` / ``preprocess.json`` as artifacts under ``curakit/``; and the model,
        logged with ``mlflow.pytorch`` or ``mlflow.sklearn`` under ``model``. The MLflow model
        takes already-preprocessed inputs (the registry's ``preprocess.json`` is not applied).

        ``input_example`` (e.g. a small float32 NCHW tensor or feature frame) is passed to
        ``log_model`` (it records a signature). Torch models are logged as a pickle of the module
        (its class must be importable where it is loaded) unless ``input_example`` is given and
        mlflow supports the traced ``pt2`` format, which it then uses. ``tracking_uri`` is set
        for this call only. Nothing is left behind on failure: a run that failed is deleted.
        """
        mlflow = import_optional("mlflow")
        rec = self.version(version)
        model = self.load(rec.version, factory=factory, trusted=trusted, allow_pickle=allow_pickle)
        torch_model = is_torch_model(model)
        flavour = import_optional("mlflow.pytorch" if torch_model else "mlflow.sklearn")
        accepted = inspect.signature(flavour.log_model).parameters
        kwargs: dict[str, Any] = {}
        # mlflow >= 3 names the logged model with name= (artifact_path= is deprecated there).
        kwargs["name" if "name" in accepted else "artifact_path"] = "model"
        if input_example is not None:
            kwargs["input_example"] = input_example
        if torch_model and input_example is None and "serialization_format" in accepted:
            kwargs["serialization_format"] = "pickle"  # mlflow's default "pt2" needs an input_example
        if not torch_model and "serialization_format" in accepted:
            import_optional("skops.io")  # mlflow's safe default format for scikit-learn models
        params = {"curakit_version": rec.version, "strategy": rec.strategy or "",
                  "training_set": rec.training_set or "", "recipe_hash": rec.recipe_hash or "",
                  "model_format": rec.model_format}
        for key, value in sorted(rec.params.items()):
            params[f"param.{key}"] = value if isinstance(value, _JSON_SCALARS) else json.dumps(json_ready(value))
        metrics = {f"{eval_set}_{key}": float(value)
                   for eval_set, scores in sorted(rec.metrics.items()) if eval_set != "slices" and isinstance(scores, Mapping)
                   for key, value in sorted(scores.items())
                   if isinstance(value, int | float) and not isinstance(value, bool)}
        folder = self.path / "versions" / rec.version
        if tracking_uri is not None:
            was_set = mlflow.is_tracking_uri_set() if hasattr(mlflow, "is_tracking_uri_set") else True
            previous_uri = mlflow.get_tracking_uri() if was_set else None
            mlflow.set_tracking_uri(tracking_uri)
        run_id = None
        try:
            with mlflow.start_run(run_name=f"curakit-{rec.version}", nested=mlflow.active_run() is not None) as run:
                run_id = run.info.run_id
                mlflow.log_params(params)
                if metrics:
                    mlflow.log_metrics(metrics)
                mlflow.set_tags({"curakit.model_hash": rec.model_hash, "curakit.sha256": rec.sha256})
                for extra in ("version.json", "preprocess.json"):
                    if (folder / extra).is_file():
                        mlflow.log_artifact(str(folder / extra), artifact_path="curakit")
                info = flavour.log_model(model, **kwargs)
                mv = mlflow.register_model(info.model_uri, name)
        except BaseException:
            if run_id is not None:
                with contextlib.suppress(Exception):
                    mlflow.tracking.MlflowClient().delete_run(run_id)
            raise
        finally:
            if tracking_uri is not None:
                mlflow.set_tracking_uri(previous_uri)  # None: back to "not set" (mlflow's default)
        logger.info("registry %s: exported %s to MLflow as %s version %s (run %s)", self.path, rec.version,
                    name, mv.version, run_id)
        return mv

    def __repr__(self) -> str:
        state = self._read()
        return f"Registry({str(self.path)!r}, versions={len(state['versions'])}, champion={state['champion']!r})"


def _unchanged(state: Mapping[str, Any], result: RetrainResult) -> Promotion | None:
    """The Promotion of a call that registers nothing: a ``do_nothing`` result, or one already
    registered (None when the result is new)."""
    champion = state["champion"]
    if result.strategy == "do_nothing" or (result.candidate_hash is not None
                                            and result.candidate_hash == result.incumbent_hash):
        return Promotion(version=None, promoted=False, champion_before=champion, champion_after=champion,
                         registered=False, reasons=(
                             "The result is do_nothing (the incumbent unchanged): nothing to promote, nothing "
                             "registered. Promote the result of a strategy that changes the model.",))
    for v in state["versions"]:
        if (v.get("model_hash") == result.candidate_hash and v.get("incumbent_hash") == result.incumbent_hash
                and v.get("training_set") == result.training_set):
            is_champ = v["version"] == champion
            return Promotion(version=v["version"], promoted=is_champ, champion_before=champion,
                             champion_after=champion, registered=False, decision=v.get("gate"), reasons=(
                                 f"This result is already registered as {v['version']} "
                                 f"({'the champion' if is_champ else 'not the champion'}); nothing changed.",))
    return None
