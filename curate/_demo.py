"""``curakit demo``: the whole loop, end to end, on the bundled digits drift scenario.

1. train the incumbent SmallCNN on the old data;
2. diagnose it on the new labelled batch: confusion and embedding-cluster slices
   (UMAP + HDBSCAN on the incumbent's penultimate features);
3. fill the worst slices with offline albumentations augmentation (per-image lineage);
4. build the new training set: old + new + fills, with a manifest;
5. retrain with ``continue_all`` and ``scratch_all``;
6. compare incumbent and candidates on the old holdout, the new holdout and each slice;
7. promote through the registry only if better on new and not worse than a tolerance on old;
8. write training set, manifest, models (registry), metrics JSON and an HTML report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.io import atomic_dir, atomic_write_json, atomic_write_text
from curakit.records import json_ready

logger = logging.getLogger(__name__)

__all__ = ["DemoResult", "run_demo", "DEMO_PIPELINE", "SELECTION_SPLIT"]

#: the demo's default ``selection_split`` (decided by the before/after run in the module docstring)
SELECTION_SPLIT: float | None = None

#: The fill pipeline: small geometric and stroke-width changes that keep the digit readable.
DEMO_PIPELINE: dict[str, Any] = {
    "__version__": "2.0.8",
    "transform": {
        "__class_fullname__": "Compose",
        "p": 1.0,
        "transforms": [
            {
                "__class_fullname__": "Affine",
                "p": 1.0,
                "rotate": [-12, 12],
                "shear": {"x": [-10, 10], "y": [0, 0]},
                "scale": [0.9, 1.1],
                "translate_percent": {"x": [-0.06, 0.06], "y": [-0.06, 0.06]},
            },
            {"__class_fullname__": "Morphological", "p": 0.5, "scale": [2, 3], "operation": "dilation"},
            {"__class_fullname__": "RandomBrightnessContrast", "p": 0.5, "brightness_limit": 0.15, "contrast_limit": 0.15},
        ],
    },
}


@dataclass
class DemoResult:
    out_dir: Path
    table: pd.DataFrame
    promoted: bool
    decision: Any
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def slice_names(self) -> dict[str, str]:
        """Slice id -> readable description of the slices the demo filled."""
        return {str(s["id"]): str(s.get("description", s["id"])) for s in self.metrics.get("slices", [])}

    def to_frame(self) -> pd.DataFrame:
        """The comparison table as the report shows it (slice columns named by their descriptions)."""
        from ._compare_report import readable_columns

        return readable_columns(self.table, self.slice_names)

    def to_json(self) -> str:
        """What the report shows, as JSON: the metrics record plus the readable table's rows."""
        import json

        from ._compare import json_rows

        return json.dumps({**json_ready(self.metrics), "table": json_rows(self.to_frame())}, sort_keys=True)

    def summary(self) -> str:
        from ._demo_report import format_table, pick_note

        lines = [format_table(self.table, self.slice_names), ""]
        verdict = "PROMOTED" if self.promoted else "NOT promoted"
        lines.append(f"Best candidate {self.metrics['candidate']!r}: {verdict} by the gate.")
        lines.extend(f"  - {reason}" for reason in getattr(self.decision, "reasons", ()))
        lines.append(f"  - {pick_note(self.metrics.get('selection_split'))}")
        lines.extend(_naive_lines(self.table, self.metrics["candidate"]))
        lines.extend(estimate_lines(self.metrics.get("fill_value")))
        lines.append(f"Outputs in {self.out_dir}/ (report.html, metrics.json, training_set/, registry/).")
        lines.append(f"Total time {self.timings.get('total', 0.0):.1f} s.")
        return "\n".join(lines)


def _naive_lines(table: pd.DataFrame, candidate: str) -> list[str]:
    """What the curation added: the candidate against ``naive`` (the same family retrained on plain
    old + new data), with the 95% paired-bootstrap interval."""
    from ._compare import vs_naive

    d = vs_naive(table, candidate)
    return [f"  - vs naive (old + new retrain) on {s}: {d[f'vs_naive:{s}']:+.3f} "
            f"(95% interval {d[f'vs_naive:{s}:low']:+.3f} to {d[f'vs_naive:{s}:high']:+.3f})"
            for s in ("new", "old") if d[f"vs_naive:{s}"] is not None]


def _estimate(incumbent: Any, scen: Any, filled: Any, weak: list[Any], random_state: int, *,
              max_forgetting: float = 0.02, skip_if_harmful: bool = False) -> dict[str, Any]:
    """``curate.estimate_fill_value`` of the fill on all new rows and each filled slice; its prior
    warnings are logged and recorded (not only a Python warning). With ``skip_if_harmful`` a fill
    estimated clearly harmful (:meth:`FillValue.harmful` at ``max_forgetting``, the demo's tolerance)
    is listed in ``skipped`` and the demo builds without it (the recipe key ``fill.skip_if_harmful``)."""
    import warnings

    import curate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", curate.FillPriorWarning)
        fv = curate.estimate_fill_value(incumbent, scen.source("old"), scen.source("new"), {"augmented": filled},
                                        slices={s.id: s for s in weak}, parents="new", missing_parents="ignore",
                                        random_state=random_state)
    for note in fv.warnings():
        logger.warning("demo: %s", note)
    frame = fv.to_frame()
    keep = frame[frame["slice"].isin(["all", *[s.id for s in weak]])]
    per = fv.per_fill(max_forgetting)
    skipped = [str(f) for f, bad in zip(per["fill"], per["harmful"]) if bad and skip_if_harmful]
    for name in skipped:
        logger.warning("demo: fill %s skipped: estimated clearly harmful (gain on new %+.3f, forgetting on old %+.3f)",
                       name, fv.gain(name), fv.forgetting(name))
    return {"per_fill": per.to_dict("records"), "rows": keep.to_dict("records"), "warnings": fv.warnings(),
            "params": fv.params, "skip_if_harmful": bool(skip_if_harmful), "max_forgetting": float(max_forgetting),
            "skipped": skipped}


def _measured(table: pd.DataFrame, candidate: str, weak: list[Any]) -> dict[str, Any]:
    """What the full retrain measured for the fill: the candidate against ``naive`` (same family, no fill),
    on the new holdout and on each filled slice of it."""
    from ._compare import vs_naive

    row = table[table["strategy"] == candidate]
    naive = table[table["strategy"] == "naive"]
    out: dict[str, Any] = {"strategy": candidate, **vs_naive(table, candidate)}
    for s in weak:
        col = f"slice:{s.id}:new"
        ok = len(row) and len(naive) and col in table.columns
        out[f"slice:{s.id}"] = float(row.iloc[0][col] - naive.iloc[0][col]) if ok else None
    return out


def estimate_lines(record: Any) -> list[str]:
    """The summary's lines: the fill's estimated gain / forgetting next to what the retrain measured."""
    if not record or not record.get("per_fill"):
        return []
    f, m = record["per_fill"][0], record.get("measured") or {}
    lines = [f"Fill estimate before the retrain (head on the incumbent's embedding): gain on new {f['gain']:+.3f} "
             f"[{f['gain_low']:+.3f}, {f['gain_high']:+.3f}], forgetting on old {f['forgetting']:+.3f} "
             f"[{f['forgetting_low']:+.3f}, {f['forgetting_high']:+.3f}]"]
    if record.get("skipped"):
        lines.append(f"  - SKIPPED (skip_if_harmful): {', '.join(record['skipped'])} estimated clearly harmful; "
                     "the training set holds no fill")
    if m.get("vs_naive:new") is not None:
        lines.append(f"  - measured by the retrain ({m['strategy']} vs naive): new {m['vs_naive:new']:+.3f}, "
                     f"old {m['vs_naive:old']:+.3f}")
    lines.extend(f"  - warning: {w}" for w in record.get("warnings", ()))
    return lines


def _timed(timings: dict[str, float], key: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = fn()
    timings[key] = time.perf_counter() - start
    logger.info("demo step %s took %.1f s", key, timings[key])
    return out


def _train_incumbent(images: np.ndarray, labels: np.ndarray, *, epochs: int, seed: int, progress: bool | None):
    """The model in production: a SmallCNN trained on the old data only."""
    import torch

    import curate
    from curate.models import SmallCNN

    with torch.random.fork_rng(devices=[]):  # the initial weights come from the seed, not the process
        torch.manual_seed(seed)
        model = SmallCNN(num_classes=10, in_channels=images.shape[-1])
    curate.fit(model, images, labels, epochs=epochs, lr=3e-3, patience=4, random_state=seed, progress=progress)
    return model


def run_demo(
    out_dir: str | Path = "curakit-out",
    *,
    random_state: int = 0,
    quick: bool = False,
    epochs: int | None = None,
    n_fill: int | None = None,
    tolerance: float = 0.02,
    skip_if_harmful: bool = False,
    selection_split: float | None = SELECTION_SPLIT,
    progress: bool | None = None,
) -> DemoResult:
    """Run the whole loop on the digits drift scenario and write every output into ``out_dir``.

    quick : a reduced scenario (fewer scans, fewer epochs) for tests and smoke runs.
    tolerance : the most the promoted model may lose on the old holdout (accuracy, as a fraction),
        judged by the gate's paired bootstrap at 95% one-sided confidence. With the ~300-row old
        holdout that bound is about +-1.3 points wide, so 0.02 is the tightest margin the data
        can support; 0.01 would reject candidates that are in fact no worse.
    skip_if_harmful : leave the fill out of the training set when its estimate is clearly harmful
        (as the recipe key ``fill.skip_if_harmful``; default False: the estimate is reported only).
    selection_split : the share of each holdout the candidate is picked on (as the recipe key
        ``retrain.selection_split``); the table, the report and the gate score the other part, so the
        promoted model is not judged on the rows it was picked on. None: pick on the scored rows.
    """
    import os

    if "OMP_NUM_THREADS" not in os.environ:
        # the demo's CNN is tiny: one thread is faster than two fighting over a busy machine
        import torch

        torch.set_num_threads(1)
    final = Path(out_dir)
    with atomic_dir(final) as out:  # a crash leaves an earlier run's folder intact
        result = _run(out, final, random_state=random_state, quick=quick, epochs=epochs, n_fill=n_fill,
                      tolerance=tolerance, progress=progress, skip_if_harmful=skip_if_harmful,
                      selection_split=selection_split)
    return result


def _run(out: Path, final: Path, *, random_state: int, quick: bool, epochs: int | None, n_fill: int | None,
         tolerance: float, progress: bool | None, skip_if_harmful: bool, selection_split: float | None) -> DemoResult:
    import curate
    from curakit.seeds import child_seed
    from curate.datasets import load_digits_drift

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    epochs = epochs if epochs is not None else (6 if quick else 15)
    n_fill = n_fill if n_fill is not None else (60 if quick else 150)

    scen = _timed(timings, "scenario", lambda: load_digits_drift(random_state=random_state,
                                                                 n_samples=700 if quick else None))
    logger.info("scenario:\n%s", scen.summary())

    # 1. the incumbent
    incumbent = _timed(timings, "train_incumbent", lambda: _train_incumbent(
        scen.old["images"], scen.old["labels"], epochs=epochs, seed=child_seed(random_state, "incumbent"),
        progress=progress))

    # 2. diagnose on the new labelled batch
    diagnosis = _timed(timings, "diagnose", lambda: _diagnose(incumbent, scen, random_state))
    weak = [s for s in diagnosis.slices if s.method == "clusters"][:3] or diagnosis.slices[:3]
    logger.info("diagnosis: %d slices; filling %s", len(diagnosis.slices), [s.id for s in weak])

    # 3. fill the worst slices (a generated image that duplicates a holdout image is refused)
    eval_sets = {"old": scen.source("old_test"), "new": scen.source("new_test")}
    filled = _timed(timings, "augment", lambda: _fill(scen, weak, n_fill, out, random_state, eval_sets, progress))

    # 3b. the fill's estimated value before the full retrain (head on the incumbent's frozen embedding)
    fill_value = _timed(timings, "estimate", lambda: _estimate(incumbent, scen, filled, weak, random_state,
                                                               max_forgetting=tolerance,
                                                               skip_if_harmful=skip_if_harmful))

    # 4. build the new training set (without the fill when it was estimated harmful and skip_if_harmful)
    ts = _timed(timings, "build", lambda: _build(scen, None if fill_value["skipped"] else filled, eval_sets,
                                                 random_state))

    # 5-6. retrain and compare (do_nothing = the incumbent)
    comparison = _timed(timings, "retrain", lambda: curate.compare_strategies(
        incumbent, ts, strategies=["do_nothing", "continue_all", "scratch_all"], eval_sets=eval_sets,
        slices=weak, random_state=random_state, epochs=epochs, lr=3e-3, selection_split=selection_split,
    ))

    # 7. gate and registry
    registry = curate.Registry(out / "registry")
    gate = curate.Gate(min_gain_new=0.0, max_drop_old=tolerance)
    best_name, decision = _timed(timings, "promote", lambda: _promote(registry, incumbent, comparison, gate,
                                                                      eval_sets))

    # 8. outputs
    table = _timed(timings, "write", lambda: _write(out, ts, diagnosis, comparison))
    timings["total"] = time.perf_counter() - t0
    metrics = {
        "candidate": best_name,
        "promoted": bool(decision.promoted),
        "decision": decision.to_dict(),
        "strategies": {name: res.metrics for name, res in comparison.results.items()},
        "slices": [s.to_dict() | {"indices": None} for s in weak],
        "fill_value": fill_value | {"measured": _measured(comparison.frame, best_name, weak)},
        "selection_split": selection_split,
        "scenario": scen.params,
        "timings_s": timings,
        "random_state": random_state,
    }
    atomic_write_json(out / "metrics.json", metrics)
    result = DemoResult(out_dir=final, table=table, promoted=bool(decision.promoted), decision=decision,
                        metrics=metrics, timings=timings)
    from ._demo_report import write_demo_report

    write_demo_report(out / "report.html", scen=scen, diagnosis=diagnosis, weak=weak, filled=filled, ts=ts,
                      comparison=comparison, decision=decision, registry=registry, result=result,
                      incumbent=incumbent)
    return result


def _diagnose(incumbent: Any, scen: Any, random_state: int) -> Any:
    import diagnose
    from curakit.adapters import predict_proba

    new_emb = diagnose.embed(incumbent, scen.new["images"])
    old_emb = diagnose.embed(incumbent, scen.old["images"])
    proba = predict_proba(incumbent, scen.new["images"])
    return diagnose.find_slices(
        scen.new["labels"], proba.argmax(1), proba=proba, embeddings=new_emb, train_embeddings=old_emb,
        methods=["confusion", "clusters"], random_state=random_state,
    )


def _fill(scen: Any, weak: list[Any], n_fill: int, out: Path, random_state: int, eval_sets: dict[str, Any],
          progress: bool | None) -> Any:
    import augment

    return augment.offline(
        scen.new["images"], scen.new["labels"], DEMO_PIPELINE, select=weak, n=n_fill,
        out_dir=out / "augmented", random_state=random_state, eval_sets=eval_sets, progress=progress,
    )


def _build(scen: Any, filled: Any, eval_sets: dict[str, Any], random_state: int) -> Any:
    import curate

    builder = curate.TrainingSetBuilder(scen.source("old"), scen.source("new"), target="labels")
    if filled is not None:
        builder = builder.add(filled, parents="new")
    return (
        builder
        .exclude(eval_sets)
        .split(validation=0.15)  # early stopping; a parent and its fills stay on one side
        .build(random_state=random_state)
    )


def _promote(registry: Any, incumbent: Any, comparison: Any, gate: Any, eval_sets: dict[str, Any]) -> tuple[str, Any]:
    # the incumbent is the champion the candidates must beat
    registry.register(incumbent, metrics=comparison.results["do_nothing"].metrics, metric="accuracy",
                      strategy="incumbent", champion=True, note="incumbent trained on the old data")
    # the baselines (do_nothing, naive) are in the table, never the candidate; with a selection split the
    # pick is made on the selection part (select_new) and judged by the gate on the scoring part
    by = "select_new" if comparison.selection else "new"
    candidates = comparison.frame[~comparison.frame["strategy"].isin(["do_nothing", "naive"])]
    best_name = str(candidates.sort_values([by], ascending=[False], kind="mergesort").iloc[0]["strategy"])
    return best_name, registry.promote_if_better(comparison.results[best_name], gate=gate,
                                                 eval_sets=comparison.scoring_sets(eval_sets),
                                                 slices=comparison.scoring_slices(best_name))


def _write(out: Path, ts: Any, diagnosis: Any, comparison: Any) -> pd.DataFrame:
    ts.save(out / "training_set")
    diagnosis.save(out / "diagnosis.json")
    table = comparison.frame
    atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    return table
