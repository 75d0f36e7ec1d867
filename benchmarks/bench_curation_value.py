"""What the curation adds: curated candidate vs ``naive`` vs ``do_nothing`` (issue 11, benchmark 2).

    .venv/bin/python benchmarks/bench_curation_value.py [--quick] [--seeds 3]

Each case runs curakit's whole loop as a recipe (``curate.run_recipe``: diagnose the incumbent on
the new rows, fill the weak slices, build old + new + fills with mix / replay, compare strategies)
and reads three rows of its comparison table:

* **curated**: the best curated strategy on the new holdout among those forgetting at most the
  recipe's ``max_forgetting`` on the old holdout (when none qualifies: the one that forgets least,
  flagged ``forced``). Picked on the new holdout like the recipe picks: an optimistic selection.
* **naive**: the same strategy family on plain old + new rows (no fills, mix, replay or weights).
* **do_nothing**: the incumbent.

Scores: accuracy on ``old``, ``new`` and every diagnosed slice (its rows in each holdout), with
paired 95% bootstrap intervals of curated - naive and curated - do_nothing per seed, and the mean
over seeds. Cases:

* ``breast_cancer_drift`` and ``digits_drift`` (the bundled scenarios, curate.datasets);
* ``digits_shift`` (sklearn digits as 64 pixel columns; the new half's scans are shifted one pixel
  right: the pen moved);
* ``wine_lab`` (sklearn wine; the new half comes from a "lab" whose colour-intensity reading is
  1.5x and whose alcohol reads +0.6: two recalibrated instruments).

Writes benchmarks/results/curation_value.json. Real data only; figures differ across CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CURAKIT_PROGRESS", "0")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import curate  # noqa: E402
from curate._naive import paired_difference  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BASELINES = ("do_nothing", "naive")


def _example(name: str) -> dict:
    rec = yaml.safe_load((ROOT / "curate" / "recipes" / f"{name}.yaml").read_text())
    rec.pop("registry", None)
    rec.pop("output", None)
    return rec


def _table_recipe(name: str, folder: Path, frames: dict[str, pd.DataFrame], target: str) -> dict:
    """The bundled tabular recipe with the data section pointing at our own Parquet files."""
    rec = _example("breast_cancer_drift")
    rec["name"] = name
    for part, frame in frames.items():
        frame.to_parquet(folder / f"{name}_{part}.parquet")
    rec["data"] = {"old": f"{name}_old.parquet", "new": f"{name}_new.parquet", "target": target,
                   "eval_fraction": 0.3}
    rec["_folder"] = str(folder)  # relative data paths: the recipe is run from a YAML file there
    return rec


def digits_shift(seed: int) -> tuple[dict[str, pd.DataFrame], str]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.copy()
    order = np.random.default_rng(seed).permutation(len(images))
    old, new = order[: len(order) // 2], order[len(order) // 2:]
    shifted = np.zeros_like(images[new])
    shifted[:, :, 1:] = images[new][:, :, :-1]
    images[new] = shifted
    frame = pd.DataFrame(images.reshape(len(images), 64) / 16.0, columns=[f"px{i}" for i in range(64)])
    frame["digit"] = d.target
    return {"old": frame.iloc[old].reset_index(drop=True), "new": frame.iloc[new].reset_index(drop=True)}, "digit"


def wine_lab(seed: int) -> tuple[dict[str, pd.DataFrame], str]:
    from sklearn.datasets import load_wine

    d = load_wine(as_frame=True)
    frame = d.frame.rename(columns=lambda c: c.replace("/", "_"))
    frame["cultivar"] = "c" + frame.pop("target").astype(str)
    order = np.random.default_rng(seed).permutation(len(frame))
    old = frame.iloc[order[: len(order) // 2]].reset_index(drop=True)
    new = frame.iloc[order[len(order) // 2:]].reset_index(drop=True).copy()
    new["color_intensity"] *= 1.5
    new["alcohol"] += 0.6
    return {"old": old, "new": new}, "cultivar"


def recipes(seed: int, folder: Path, quick: bool) -> dict[str, dict]:
    out = {}
    bc = _example("breast_cancer_drift")
    out["breast_cancer_drift"] = bc
    dg = _example("digits_drift")
    dg["data"]["scenario_params"]["n_samples"] = 500 if quick else 900
    dg["model"]["train"]["epochs"] = 3 if quick else 5
    dg["retrain"]["params"]["epochs"] = 3 if quick else 5
    dg["diagnose"]["methods"] = ["confusion"]  # no UMAP: its one-off JIT would dominate the run time
    out["digits_drift"] = dg
    for name, make in (("digits_shift", digits_shift), ("wine_lab", wine_lab)):
        frames, target = make(seed)
        out[name] = _table_recipe(name, folder, frames, target)
    out["wine_lab"]["build"]["rehearse"] = {"n": 12}  # 178 rows in all: a smaller replay buffer and fill
    out["wine_lab"]["fill"]["n"] = 15
    for rec in out.values():
        rec["random_state"] = seed
    return out


def _candidate(table, max_forgetting) -> tuple[str, bool]:
    frame = table.frame[~table.frame["strategy"].isin(BASELINES)].dropna(subset=["new"])
    ok = frame if max_forgetting is None else frame[frame["forgetting"].fillna(0.0) <= max_forgetting]
    if ok.empty:  # none keeps the old holdout: the one that forgets least
        return str(frame.sort_values(["forgetting"], kind="mergesort").iloc[0]["strategy"]), True
    return str(ok.sort_values(["new"], ascending=[False], kind="mergesort").iloc[0]["strategy"]), False


def _subset(preds, mask):
    from dataclasses import replace

    return replace(preds, y_true=preds.y_true[mask], y_pred=preds.y_pred[mask],
                   proba=None if preds.proba is None else preds.proba[mask])


def _scores(table, cand: str) -> dict[str, dict]:
    """Per region (old, new, slice:<id>@<set>): n, accuracies, paired differences."""
    res = table.results
    regions = {name: (name, None) for name in res[cand].predictions}
    for sid, per_set in (res[cand].slice_masks or {}).items():
        for set_name, mask in per_set.items():
            regions[f"slice:{sid}@{set_name}"] = (set_name, np.asarray(mask, dtype=bool))
    out = {}
    for k, (region, (set_name, mask)) in enumerate(sorted(regions.items())):
        preds = {name: res[name].predictions[set_name] for name in (cand, *BASELINES) if name in res}
        if mask is not None:
            if not mask.any():
                continue
            preds = {name: _subset(p, mask) for name, p in preds.items()}
        row = {"n": int(len(preds[cand].y_true))}
        row.update({f"acc_{'curated' if n == cand else n}": float((p.y_pred == p.y_true).mean())
                    for n, p in preds.items()})
        for base in BASELINES:
            if base in preds:
                row[f"vs_{base}"] = paired_difference(preds[cand], preds[base], n_bootstrap=1000, seed=k)
        out[region] = row
    return out


def run_case(name: str, rec: dict) -> dict:
    t0 = time.perf_counter()
    folder = rec.pop("_folder", None)
    if folder is not None:
        path = Path(folder) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(rec, sort_keys=False))
        run = curate.run_recipe(path)
    else:
        run = curate.run_recipe(rec)
    table = run.comparison
    cand, forced = _candidate(table, rec.get("retrain", {}).get("max_forgetting"))
    return {"curated": cand, "forced": forced, "recipe_chose": run.chosen, "scores": _scores(table, cand),
            "slices": [s.get("description", s.get("id")) for s in run.slices], "seconds": time.perf_counter() - t0}


def summarise(per_seed: list[dict]) -> dict:
    """Mean over seeds of the old / new accuracies and differences; seeds whose interval excludes 0."""
    out = {}
    for region in ("old", "new"):
        rows = [s["scores"][region] for s in per_seed if region in s["scores"]]
        entry = {k: float(np.mean([r[k] for r in rows])) for k in ("acc_curated", "acc_naive", "acc_do_nothing")}
        for base in BASELINES:
            diffs = [r[f"vs_{base}"] for r in rows if r.get(f"vs_{base}")]
            entry[f"vs_{base}"] = float(np.mean([d["observed"] for d in diffs]))
            entry[f"vs_{base}_seeds_better"] = sum(d["low"] > 0 for d in diffs)
            entry[f"vs_{base}_seeds_worse"] = sum(d["high"] < 0 for d in diffs)
        out[region] = entry
    slice_rows = [r for s in per_seed for reg, r in s["scores"].items() if reg.startswith("slice:")]
    for base in BASELINES:
        diffs = [r[f"vs_{base}"] for r in slice_rows if r.get(f"vs_{base}")]
        out[f"slices_vs_{base}"] = {"n_slice_sets": len(diffs),
                                    "mean": float(np.mean([d["observed"] for d in diffs])) if diffs else None,
                                    "better": sum(d["low"] > 0 for d in diffs),
                                    "worse": sum(d["high"] < 0 for d in diffs)}
    out["curated"] = [s["curated"] for s in per_seed]
    out["forced"] = sum(s["forced"] for s in per_seed)
    out["seconds"] = float(sum(s["seconds"] for s in per_seed))
    return out


# -- part 2: the cheap fill estimate (curate.estimate_fill_value) against full retrains --------------------
def _fill_case(X: pd.DataFrame, y: np.ndarray, thin, wrong, seed: int) -> dict:
    """Old rows hold only 4 of class ``thin``; four fills; the estimate vs a full retrain per fill."""
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from curate._fill_value import estimate_fill_value

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    th, rest = idx[y[idx] == thin], idx[y[idx] != thin]
    n_th = len(th)
    k = int(0.6 * len(rest))
    parts = {"old": np.concatenate([rest[: k // 2], th[:4]]),
             "new": np.concatenate([rest[k // 2: k], th[4: 4 + n_th // 5]]),
             "pool": th[4 + n_th // 5: 4 + 3 * n_th // 5], "test": np.concatenate([rest[k:], th[4 + 3 * n_th // 5:]])}
    new_thin = np.flatnonzero(y[parts["new"]] == thin)

    def frame(ix, label=None):
        f = X.iloc[ix].reset_index(drop=True)
        f["y"] = y[ix] if label is None else label
        return f

    other = rest[k // 2: k][: len(parts["pool"])]  # real rows of the other classes (off target)
    fills = {"real_thin": frame(parts["pool"]), "mislabelled": frame(parts["pool"], wrong),
             "duplicates": frame(np.repeat(parts["new"][new_thin], 3)), "off_target": frame(other)}
    parents = {"duplicates": np.repeat(new_thin, 3)}
    models = {"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
              "forest": RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)}
    old, new, test = frame(parts["old"]), frame(parts["new"]), frame(parts["test"])
    cols = [c for c in old.columns if c != "y"]
    thin_test = test["y"].to_numpy() == thin
    out = {}
    for mname, model in models.items():
        incumbent = clone(model).fit(old[cols], old["y"])
        t0 = time.perf_counter()
        est = estimate_fill_value(incumbent, old, new, fills, target="y", parents=parents, random_state=seed)
        est_s = time.perf_counter() - t0

        def full(extra, model=model):
            tr = pd.concat([old, new, *([extra] if extra is not None else [])], ignore_index=True)
            ok = clone(model).fit(tr[cols], tr["y"]).predict(test[cols]) == test["y"].to_numpy()
            return ok.mean(), ok[thin_test].mean()

        t0 = time.perf_counter()
        base = full(None)
        rows = {}
        for name, f in fills.items():
            acc = full(f)
            rows[name] = {"estimate_all": est.gain(name), "estimate_thin": est.gain(name, f"class={thin}"),
                          "retrain_all": acc[0] - base[0], "retrain_thin": acc[1] - base[1],
                          "prior_warnings": len(est.priors[name]["warnings"])}
        out[mname] = {"fills": rows, "estimate_s": est_s, "retrain_s": time.perf_counter() - t0}
    return out


def _fill_case_images(seed: int) -> dict:
    """The same four fills on digits 8x8 images with a SmallCNN: the estimate on its embedding against a
    full retrain (continue_all: the incumbent trained on for 4 epochs on old + new (+ fill))."""
    import copy

    import torch
    from sklearn.datasets import load_digits

    from curakit.adapters import predict_proba
    from curate._fill_value import estimate_fill_value
    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN

    torch.set_num_threads(1)
    d = load_digits()
    images, y = np.round(d.images / 16.0 * 255.0).astype(np.uint8)[..., None], d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    th, rest = idx[y[idx] == 3], idx[y[idx] != 3]
    k, n_th = int(0.6 * len(rest)), len(th)
    old, new = np.concatenate([rest[: k // 2], th[:4]]), np.concatenate([rest[k // 2: k], th[4: 4 + n_th // 5]])
    pool, test = th[4 + n_th // 5: 4 + 3 * n_th // 5], np.concatenate([rest[k:], th[4 + 3 * n_th // 5:]])
    new_thin = np.flatnonzero(y[new] == 3)
    fills = {"real_thin": (images[pool], y[pool]), "mislabelled": (images[pool], np.full(len(pool), 8)),
             "duplicates": (images[np.repeat(new[new_thin], 3)], y[np.repeat(new[new_thin], 3)]),
             "off_target": (images[rest[k // 2: k][: len(pool)]], y[rest[k // 2: k][: len(pool)]])}
    cfg = TrainConfig(epochs=4, lr=1e-2, batch_size=64)
    incumbent = reset_parameters(SmallCNN(num_classes=10, in_channels=1, width=8), seed)
    fit_torch(incumbent, images[old], y[old], config=cfg, seed=seed)
    t0 = time.perf_counter()
    est = estimate_fill_value(incumbent, (images[old], y[old]), (images[new], y[new]), fills,
                              parents={"duplicates": np.repeat(new_thin, 3)}, random_state=seed)
    est_s = time.perf_counter() - t0
    thin_test = y[test] == 3

    def full(extra):
        xs = [images[old], images[new]] + ([extra[0]] if extra else [])
        ys = [y[old], y[new]] + ([extra[1]] if extra else [])
        model = copy.deepcopy(incumbent)
        fit_torch(model, np.concatenate(xs), np.concatenate(ys), config=cfg, seed=seed)
        ok = predict_proba(model, images[test]).argmax(1) == y[test]
        return ok.mean(), ok[thin_test].mean()

    t0 = time.perf_counter()
    base = full(None)
    rows = {}
    for name, f in fills.items():
        acc = full(f)
        rows[name] = {"estimate_all": est.gain(name), "estimate_thin": est.gain(name, "class=3"),
                      "retrain_all": acc[0] - base[0], "retrain_thin": acc[1] - base[1],
                      "prior_warnings": len(est.priors[name]["warnings"])}
    return {"smallcnn": {"fills": rows, "estimate_s": est_s, "retrain_s": time.perf_counter() - t0}}


def _agree(a: float, b: float, tol: float = 0.01) -> bool | None:
    """Sign agreement; None when the full retrain's effect is within +-tol (no clear sign)."""
    return None if abs(b) <= tol else bool(np.sign(a) == np.sign(b))


def fill_value_part(seeds: int) -> dict:
    from scipy.stats import spearmanr
    from sklearn.datasets import load_breast_cancer, load_digits

    digits, cancer = load_digits(as_frame=True), load_breast_cancer(as_frame=True)
    cases = {"digits (thin: 3, wrong label 8)": (digits.data, digits.target.to_numpy(), 3, 8),
             "breast_cancer (thin: malignant)": (cancer.data, cancer.target.to_numpy(), 0, 1)}
    cases["digits images (thin: 3, wrong label 8)"] = None
    out = {}
    for cname, case in cases.items():
        runs = [_fill_case(*case, seed) if case else _fill_case_images(seed) for seed in range(seeds)]
        summary = {}
        for mname in runs[0]:
            rows = [r for run in runs for r in run[mname]["fills"].values()]
            entry = {}
            for region in ("all", "thin"):
                agree = [_agree(r[f"estimate_{region}"], r[f"retrain_{region}"]) for r in rows]
                clear = [a for a in agree if a is not None]
                rho = spearmanr([r[f"estimate_{region}"] for r in rows], [r[f"retrain_{region}"] for r in rows])
                entry[region] = {"sign_agreement": float(np.mean(clear)) if clear else None, "clear_cases": len(clear),
                                 "spearman": float(rho.statistic)}
            entry["estimate_s"] = float(np.mean([run[mname]["estimate_s"] for run in runs]))
            entry["retrain_s"] = float(np.mean([run[mname]["retrain_s"] for run in runs]))
            summary[mname] = entry
        out[cname] = {"per_seed": runs, "summary": summary}
        for mname, e in summary.items():
            print(f"fill value {cname} / {mname}: sign agreement all {e['all']['sign_agreement']} "
                  f"({e['all']['clear_cases']}), thin {e['thin']['sign_agreement']} ({e['thin']['clear_cases']}); "
                  f"spearman all {e['all']['spearman']:.2f} thin {e['thin']['spearman']:.2f}; "
                  f"estimate {e['estimate_s']:.2f} s vs 5 retrains {e['retrain_s']:.2f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*failed to converge.*")
    t0 = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for name, rec in recipes(seed, Path(tmp), args.quick).items():
                if args.only and name not in args.only:
                    continue
                results.setdefault(name, {"per_seed": []})["per_seed"].append(run_case(name, rec) | {"seed": seed})
                print(f"{name} seed {seed}: {results[name]['per_seed'][-1]['curated']} "
                      f"({results[name]['per_seed'][-1]['seconds']:.1f} s)", flush=True)
    for entry in results.values():
        entry["summary"] = summarise(entry["per_seed"])
    fill_value = fill_value_part(args.seeds) if not args.only or "fill_value" in args.only else None
    report = {"seeds": args.seeds, "quick": args.quick, "wall_s": time.perf_counter() - t0, "cases": results,
              "fill_value": fill_value}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "curation_value.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=float))
    for name, entry in results.items():
        s = entry["summary"]
        print(f"{name:<20} new: curated {s['new']['acc_curated']:.3f} naive {s['new']['acc_naive']:.3f} "
              f"do_nothing {s['new']['acc_do_nothing']:.3f} | vs naive new {s['new']['vs_naive']:+.3f} "
              f"old {s['old']['vs_naive']:+.3f} | slices vs naive {s['slices_vs_naive']}")
    print(f"wall {report['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
