"""``curate.Gate``: promote a candidate only if it is better on new data and not worse on old.

The gate compares candidate and champion predictions on the *same* eval rows with a paired
bootstrap (rows resampled with replacement, the same resample for both models):

- new: the gain ``metric(candidate) - metric(champion)`` must be positive and its one-sided
  lower confidence bound at least ``min_gain_new``;
- old: the drop ``metric(champion) - metric(candidate)`` must have a one-sided upper confidence
  bound of at most ``max_drop_old``;
- regressions nobody named (``features=``, or computed by ``Registry.promote_if_better(eval_sets=)``
  through :func:`regression_features`): no region (k-means clusters of the features / the
  champion's embeddings, and each true class), tested on its rows of all the searched eval sets
  together, may drop significantly more than ``max_slice_drop``: Tango's score test on the paired
  flips, Benjamini-Hochberg over the regions (see :mod:`curate._regressions` for why);
- named slices (``slices=``: a diagnosis' slices, the ``slices=`` given to ``retrain``): the same
  score test on each, per eval set, with Benjamini-Hochberg over the named slices.

Every check reports the negative flip rate (the share of rows the champion got right and the
candidate gets wrong) next to its score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from curakit.seeds import check_random_state

from ._evaluation import EvalPredictions, resolve_metric
from ._trainer import _check_number

__all__ = ["Gate", "GateDecision", "regression_features"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class GateDecision:
    """The gate's verdict: ``passed``, one readable reason per check, and the numbers."""

    passed: bool
    reasons: tuple[str, ...]
    checks: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    regressions: tuple[Any, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        regs = [{**s.to_dict(), "eval_set": s.evidence["eval_set"], "indices": [int(i) for i in s.indices]}
                for s in self.regressions]
        return {"schema_version": self.schema_version, "passed": self.passed, "reasons": list(self.reasons),
                "checks": self.checks, "gate": self.gate, "regressions": regs}


@dataclass(frozen=True, slots=True, kw_only=True)
class Gate:
    """Promotion rule, judged by a paired bootstrap.

    min_gain_new : required gain on the new eval set (the lower confidence bound must reach it).
    max_drop_old : tolerated drop on the old eval set (the upper confidence bound must stay within).
    confidence : one-sided confidence level of both bounds, in (0.5, 1).
    n_bootstrap : bootstrap resamples.
    metric : ``"accuracy"``, a scikit-learn scorer name or ``fn(y_true, y_pred)`` (higher is better).
    old, new : the eval-set names the checks read.
    max_slice_drop : regression search (when ``evaluate`` gets ``features=``): the gate fails when
        a region (a cluster or a true class, its rows of all searched eval sets pooled) drops by
        significantly more than this (score test, BH-FDR at
        ``1 - confidence``); the named slices (``evaluate(slices=...)``: a diagnosis' slices, the
        ``slices=`` given to ``retrain``) are checked the same way. None turns both off. See
        :mod:`curate._regressions`.
    class_clusters : the regression search also tests this many k-means clusters inside each true
        class (a sub-class hidden inside a coarse label, a minority of every cluster of all the
        rows); 0 turns them off. Same BH family. On the digits development scenarios (a fine digit
        hidden in a coarse label) 8 raised the refusal of its harm with no harmless candidate
        wrongly refused; see the README's Measured table for the fresh Fashion-MNIST run.
    flip_search : also test split-half flip regions (:mod:`curate._flip_search`: a tree on half the
        rows finds where the candidate's negative flips concentrate, the other half tests it; same BH
        family). Off by default: on fresh Fashion-MNIST seeds it raised the refusal of a rare hidden
        sub-class's harm from 3 to 5 in 10 but wrongly refused 4 in 40 harmless candidates (1 in 40
        without it); see the README's Measured table.
    layer : torch models: the layer of the champion whose activations the regression search
        clusters (a name from ``model.named_modules()``, its output, as ``diagnose.embed(layer=)``);
        ``None`` (default): the input of the last ``nn.Linear``, the features the head sees. For a
        CNN that projects its convolutional features before the head (``SmallCNN``: ``backbone.8``,
        the flattened features before the projection) the earlier layer may separate a sub-class the
        head's features merge; see the README's Measured table. Tables use their feature columns.
    vs : ``None`` (default) or ``"naive"``: also require the candidate to beat the ``naive`` baseline
        (the same family retrained on plain old + new data, ``table.results["naive"]``) on ``new``:
        gain over naive > 0 with its lower confidence bound >= 0. ``evaluate`` then needs ``naive=``.
    """

    min_gain_new: float = 0.0
    max_drop_old: float = 0.01
    confidence: float = 0.95
    n_bootstrap: int = 1000
    metric: str | Callable = "accuracy"
    random_state: int = 0
    old: str = "old"
    new: str = "new"
    vs: str | None = None
    max_slice_drop: float | None = 0.05
    class_clusters: int = 8
    flip_search: bool = False
    layer: str | None = None

    def __post_init__(self) -> None:
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer):
            raise ParameterError("The 'layer' parameter of Gate must be None or a layer name from "
                                 f"model.named_modules(). Got {self.layer!r} instead.")
        _check_number("Gate", "class_clusters", self.class_clusters, kind=int, low=0, high=64)
        if not isinstance(self.flip_search, bool):
            raise ParameterError(f"The 'flip_search' parameter of Gate must be True or False. Got {self.flip_search!r} instead.")
        if self.max_slice_drop is not None:
            _check_number("Gate", "max_slice_drop", self.max_slice_drop, kind=float, low=0.0, high=1.0)
        if self.vs not in (None, "naive"):
            raise ParameterError(f"The 'vs' parameter of Gate must be None or 'naive'. Got {self.vs!r} instead.")
        _check_number("Gate", "min_gain_new", self.min_gain_new, kind=float, low=-1.0, high=1.0)
        _check_number("Gate", "max_drop_old", self.max_drop_old, kind=float, low=0.0)
        c = self.confidence
        if not isinstance(c, (int, float)) or isinstance(c, bool) or not 0.5 < c < 1.0:
            raise ParameterError(f"The 'confidence' parameter of Gate must be a float in the range (0.5, 1.0). Got {c!r} instead.")
        _check_number("Gate", "n_bootstrap", self.n_bootstrap, kind=int, low=10)
        resolve_metric(self.metric)

    def to_dict(self) -> dict[str, Any]:
        metric = self.metric if isinstance(self.metric, str) else resolve_metric(self.metric).name
        return {"min_gain_new": self.min_gain_new, "max_drop_old": self.max_drop_old, "confidence": self.confidence,
                "n_bootstrap": self.n_bootstrap, "metric": metric, "random_state": self.random_state,
                "old": self.old, "new": self.new, "vs": self.vs,
                "max_slice_drop": self.max_slice_drop, "class_clusters": self.class_clusters,
                "flip_search": self.flip_search, "layer": self.layer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        return cls(**dict(data))

    def _paired(self, cand: EvalPredictions, champ: EvalPredictions, name: str, seed_key: int) -> dict[str, Any]:
        if len(cand.y_true) != len(champ.y_true) or not np.array_equal(cand.y_true, champ.y_true):
            raise DataError(
                f"Gate: candidate and champion predictions on eval set {name!r} are not on the same rows "
                f"({len(cand.y_true)} vs {len(champ.y_true)} labels). Score both on the same eval set."
            )
        n = len(cand.y_true)
        if n == 0:
            raise DataError(f"Gate: eval set {name!r} is empty; the gate needs rows to judge on.")
        metric = resolve_metric(self.metric)
        observed = cand.score(metric) - champ.score(metric)
        rng = check_random_state(np.random.SeedSequence([self.random_state, seed_key]).generate_state(1)[0])
        if metric.per_row:
            diff = (cand.y_pred == cand.y_true).astype(np.float64) - (champ.y_pred == champ.y_true).astype(np.float64)
            boot = np.empty(self.n_bootstrap)
            for start in range(0, self.n_bootstrap, 200):  # bounded memory
                stop = min(start + 200, self.n_bootstrap)
                boot[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(1)
        else:
            boot = np.empty(self.n_bootstrap)
            for b in range(self.n_bootstrap):
                rows = rng.integers(0, n, size=n)
                boot[b] = cand.score(metric, rows) - champ.score(metric, rows)
        alpha = 1.0 - self.confidence
        # negative flips: rows the champion got right and the candidate gets wrong
        flips = (champ.y_pred == champ.y_true) & (cand.y_pred != cand.y_true)
        return {"observed": float(observed), "lower": float(np.quantile(boot, alpha)),
                "upper": float(np.quantile(boot, 1.0 - alpha)), "n": int(n),
                "negative_flip_rate": float(flips.mean())}

    def evaluate(self, candidate: Mapping[str, EvalPredictions], champion: Mapping[str, EvalPredictions],
                 naive: Mapping[str, EvalPredictions] | None = None,
                 features: Mapping[str, Any] | None = None, slices: Mapping[str, Any] | None = None,
                 ) -> GateDecision:
        """Judge ``candidate`` against ``champion`` (``EvalPredictions`` per eval set), against
        ``naive`` too when ``vs="naive"``, and search regressions in every eval set of ``features``
        (``{eval set: (n, d) features or embeddings of its rows}``) unless ``max_slice_drop=None``.

        ``slices`` are named slices, each checked for a paired drop above ``max_slice_drop``:
        ``{slice id: {eval set: bool mask}}`` (``RetrainResult.slice_masks``), or ``{eval set:
        diagnosis or list of diagnose.Slice}`` whose ``indices`` are rows of that eval set (a
        diagnosis of that eval set's predictions)."""
        if self.vs == "naive" and (naive is None or self.new not in naive):
            raise ParameterError(
                "Gate(vs='naive') needs the naive baseline's predictions on eval set "
                f"{self.new!r}: pass naive=table.results['naive'] (from compare_strategies)."
            )
        for name in (self.new, self.old):
            if name not in candidate or name not in champion:
                raise DataError(
                    f"Gate needs predictions on eval set {name!r} for both models; got {sorted(candidate)} and "
                    f"{sorted(champion)}. Retrain with eval_sets={{'old': ..., 'new': ...}}."
                )
        metric = resolve_metric(self.metric).name
        pct = f"{self.confidence:.0%}"
        new = self._paired(candidate[self.new], champion[self.new], self.new, 1)
        new["required"] = self.min_gain_new
        new["passed"] = bool(new["observed"] > 0 and new["lower"] >= self.min_gain_new)
        old = self._paired(candidate[self.old], champion[self.old], self.old, 2)
        drop = {"observed": 0.0 - old["observed"] + 0.0, "upper": 0.0 - old["lower"] + 0.0,
                "lower": 0.0 - old["upper"] + 0.0, "n": old["n"], "negative_flip_rate": old["negative_flip_rate"],
                "allowed": self.max_drop_old}
        drop["passed"] = bool(drop["upper"] <= self.max_drop_old)
        reasons = (
            f"{self.new}: {metric} gain {new['observed']:+.4f} ({pct} lower bound {new['lower']:+.4f}, "
            f"required >= {self.min_gain_new:+.4f} and > 0; negative flips {new['negative_flip_rate']:.2%}): "
            f"{'pass' if new['passed'] else 'fail'}",
            f"{self.old}: {metric} drop {drop['observed']:+.4f} ({pct} upper bound {drop['upper']:+.4f}, "
            f"allowed <= {self.max_drop_old:.4f}; negative flips {drop['negative_flip_rate']:.2%}): "
            f"{'pass' if drop['passed'] else 'fail'}",
        )
        checks = {"new_gain": new, "old_drop": drop}
        if self.vs == "naive":
            vs = self._paired(candidate[self.new], naive[self.new], self.new, 3)
            vs["passed"] = bool(vs["observed"] > 0 and vs["lower"] >= 0.0)
            checks["vs_naive"] = vs
            reasons = (*reasons, f"{self.new}: {metric} gain over naive {vs['observed']:+.4f} ({pct} lower bound "
                                 f"{vs['lower']:+.4f}, required >= 0 and > 0): {'pass' if vs['passed'] else 'fail'}")
        searched = self._regressions(candidate, champion, features)
        regs = None
        if searched is not None:
            regs, regions = searched
            n_bad = sum(not r["passed"] for r in regions)
            checks["regressions"] = {"passed": not regs, "n": len(regs), "allowed": self.max_slice_drop,
                                     "searched": sorted(features), "test": "score", "pooled": True,
                                     "regions_tested": len(regions), "regions_failed": n_bad, "regions": regions}
            reasons = (*reasons, f"regression search on {', '.join(sorted(features))} (pooled): {n_bad} of "
                                 f"{len(regions)} region(s) drop significantly more than {self.max_slice_drop:.4f} "
                                 f"({len(regs)} slice(s)): {'fail' if regs else 'pass'}")
        named = self._named(candidate, champion, slices)
        if named is not None:
            records, failing = named
            checks["named_slices"] = {"passed": not failing, "n": len(records), "failed": len(failing),
                                      "allowed": self.max_slice_drop, "slices": records}
            reasons = (*reasons, *[f"{s.evidence['eval_set']}: named slice {s.evidence['slice']!r} accuracy drop "
                                   f"{s.evidence['drop']:+.4f} ({pct} lower bound {s.evidence['lower']:+.4f}, q "
                                   f"{s.q_value:.3g}, allowed <= {self.max_slice_drop:.4f}): fail" for s in failing])
            if not failing:
                reasons = (*reasons, f"named slices: {len(records)} checked, none drops significantly more than "
                                     f"{self.max_slice_drop:.4f}: pass")
            regs = [*(regs or []), *failing]
        passed = all(c["passed"] for c in checks.values())
        return GateDecision(passed=passed, reasons=reasons, checks=checks, gate=self.to_dict(),
                            regressions=tuple(regs or ()))

    def _named(self, candidate: Mapping[str, EvalPredictions], champion: Mapping[str, EvalPredictions],
               slices: Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], list[Any]] | None:
        if not slices or self.max_slice_drop is None:
            return None
        from ._regressions import check_named_slices

        per_set = _named_masks(slices, {k: len(v.y_true) for k, v in candidate.items()})
        records: list[dict[str, Any]] = []
        failing: list[Any] = []
        for k, name in enumerate(sorted(per_set)):
            if name not in champion:
                raise DataError(f"Gate: named slices given for eval set {name!r}, which has no champion predictions "
                                f"(sets: {sorted(champion)}). Name an eval set both models were scored on.")
            self._paired(candidate[name], champion[name], name, 30 + k)  # same rows, else a one-line error
            rec, fail = check_named_slices(candidate[name], champion[name], per_set[name], name,
                                           max_drop=self.max_slice_drop, alpha=1.0 - self.confidence)
            records += rec
            failing += fail
        return records, sorted(failing, key=lambda s: -s.severity)

    def _regressions(self, candidate: Mapping[str, EvalPredictions], champion: Mapping[str, EvalPredictions],
                     features: Mapping[str, Any] | None) -> tuple[list[Any], list[dict[str, Any]]] | None:
        if features is None or self.max_slice_drop is None:
            return None
        from ._regressions import find_regressions

        for k, name in enumerate(sorted(features)):
            if name not in candidate or name not in champion:
                raise DataError(f"Gate: features given for eval set {name!r}, which has no predictions for both "
                                f"models (sets: {sorted(candidate)}). Name an eval set the models were scored on.")
            self._paired(candidate[name], champion[name], name, 10 + k)  # same rows, else a one-line error
        return find_regressions(candidate, champion, features, max_drop=self.max_slice_drop,
                                alpha=1.0 - self.confidence, seed=self.random_state,
                                class_clusters=self.class_clusters, flip_search=self.flip_search)


def _named_masks(slices: Mapping[str, Any], sizes: Mapping[str, int]) -> dict[str, dict[str, np.ndarray]]:
    """``{eval set: {slice id: bool mask}}`` from either form ``Gate.evaluate(slices=)`` takes."""
    if not isinstance(slices, Mapping):
        raise ParameterError("The 'slices' parameter of Gate.evaluate must be {slice id: {eval set: mask}} or "
                             f"{{eval set: diagnosis or list of Slice}}. Got {type(slices).__name__} instead.")
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in slices.items():
        if isinstance(value, Mapping):  # {slice id: {eval set: mask}}
            for name, mask in value.items():
                _known_set(name, sizes, f"slices[{key!r}]")
                out.setdefault(name, {})[str(key)] = np.asarray(mask)
            continue
        _known_set(key, sizes, "slices")
        items = getattr(value, "slices", value)  # a Diagnosis or a list of Slice
        try:
            items = list(items)
        except TypeError:
            items = [None]
        for s in items:
            if not hasattr(s, "indices") or not hasattr(s, "id"):
                raise ParameterError(f"slices[{key!r}] must be a diagnosis or a list of diagnose.Slice. "
                                     f"Got an item of type {type(s).__name__} instead.")
            idx = np.asarray(s.indices, dtype=np.int64)
            n_found = getattr(s, "n_analysed", sizes[key])
            if n_found != sizes[key] or (len(idx) and (idx.min() < 0 or idx.max() >= sizes[key])):
                raise DataError(f"Gate: slice {s.id!r} was found on {n_found} rows, but eval set {key!r} has "
                                f"{sizes[key]}. Pass the slices of a diagnosis of that eval set's predictions.")
            mask = np.zeros(sizes[key], dtype=bool)
            mask[idx] = True
            out.setdefault(key, {})[str(s.id)] = mask
    return out


def _known_set(name: Any, sizes: Mapping[str, int], where: str) -> None:
    if name not in sizes:
        raise DataError(f"Gate: {where} names eval set {name!r}, which has no predictions (sets: {sorted(sizes)}). "
                        "Name an eval set the models were scored on.")


def regression_features(model: Any, eval_sets: Mapping[str, Any], *, columns: Sequence[str] | None = None,
                        preprocessor: Any = None, transform: Any = None, layer: str | None = None,
                        ) -> dict[str, np.ndarray]:
    """Features for the gate's regression search, one row per eval row, for every eval set.

    torch models: ``diagnose.embed(model, images, layer=layer)`` (by default the input of the
    model's last ``nn.Linear``: pass the champion, whose embedding space the regressions are
    searched in; ``Gate.layer``); eval sets are
    ``(images, labels)`` or ``{"images": ..., "labels": ...}``. Tables: the model's input
    ``columns`` of each eval DataFrame, through ``preprocessor`` when there is one."""
    from curakit.adapters import is_torch_model

    out: dict[str, np.ndarray] = {}
    for name, value in eval_sets.items():
        if is_torch_model(model):
            images = value.get("images") if isinstance(value, Mapping) else value[0] if isinstance(value, tuple) else None
            if images is None:
                raise DataError(f"Gate: eval set {name!r} holds no images to embed for the regression search. "
                                "Pass (images, labels) or {'images': ..., 'labels': ...}, or pass features=.")
            from diagnose import embed

            out[name] = np.asarray(embed(model, images, layer=layer, transform=transform), dtype=np.float64)
            continue
        if not hasattr(value, "columns"):
            raise DataError(f"Gate: eval set {name!r} is not a table, so its features cannot be read for the "
                            "regression search. Pass a DataFrame with the model's feature columns, or features=.")
        cols = list(columns) if columns else [c for c in value.columns if np.issubdtype(value[c].dtype, np.number)]
        missing = [c for c in cols if c not in value.columns]
        if missing:
            raise DataError(f"Gate: eval set {name!r} lacks the model's feature columns {missing[:5]}. "
                            "Pass the eval sets the result was scored on, or features=.")
        X = preprocessor.transform(value[cols]) if preprocessor is not None else value[cols]
        try:
            out[name] = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"Gate: the feature columns of eval set {name!r} are not all numeric. Pass a fitted "
                            "preprocessor, or features= (embeddings or numeric columns).") from None
    return out
