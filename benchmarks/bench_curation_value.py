"""What the curation adds: curated candidate vs ``naive`` vs ``do_nothing`` (issue 11, benchmark 2).

    .venv/bin/python benchmarks/bench_curation_value.py [--quick] [--seeds 3]

Each case runs curakit's whole loop as a recipe (``curate.run_recipe``: diagnose the incumbent on
the new rows, fill the weak slices, build old + new + fills with mix / replay, compare strategies).
Every holdout is split in two halves (``curate._naive.selection_rows``, stratified, seeded: the split
``compare_strategies(selection_split=0.5)`` makes): the **selection half** is where picks are made,
the **scoring half** is where every reported score comes from, so no pick is judged on its own rows.
Roles (strategy names per seed in ``roles``):

* **curated_free**: the best curated strategy on the selection half of new, no forgetting rule;
* **recipe_flow** / **gate_flow**: what a user following one rule gets: the best curated strategy on
  the selection half among those forgetting at most the recipe's ``max_forgetting`` (resp. the gate's
  ``max_drop_old``) on the selection half of old, else ``do_nothing``;
* **naive_recipe_flow** / **naive_gate_flow**: the same rule for naive: ``naive`` when it keeps it,
  else ``do_nothing`` (the old comparison held only the curated side to the rule);
* **naive**: the same strategy family on the plain old + new rows of the training set; **do_nothing**.

Scores: accuracy on old, new and every diagnosed slice (its rows in each scoring half), with paired
95% bootstrap intervals per seed and the mean over seeds. Ablation (table cases): the recipe with one
step removed at a time (``ABLATIONS``: the fill, mix (+ its replay), the replay buffer). Cases:

* ``breast_cancer_drift`` and ``digits_drift`` (the bundled scenarios, curate.datasets);
* ``digits_shift`` (sklearn digits as 64 pixel columns; the new half's scans are shifted one pixel
  right: the pen moved);
* ``wine_lab`` (sklearn wine; the new half comes from a "lab" whose colour-intensity reading is
  1.5x and whose alcohol reads +0.6: two recalibrated instruments);
* ``cancer_sizes`` (sklearn breast_cancer; the new clinic sees mostly large nuclei: a selection shift),
  added after the comparison was changed (not looked at while changing it).

Part 2 (the cheap fill estimate against full retrains) runs with ``--fill-value`` (the old, interval-free
version); it is superseded by ``benchmarks/bench_fill_value.py`` (results/fill_value.json: intervals on both
sides, forgetting on old, the harmful flag, a fill relabelling an old class), which the figures now come from.

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
from curate._naive import paired_difference, selection_rows  # noqa: E402

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
    for name, make in (("digits_shift", digits_shift), ("wine_lab", wine_lab), ("cancer_sizes", cancer_sizes)):
        frames, target = make(seed)
        out[name] = _table_recipe(name, folder, frames, target)
    out["wine_lab"]["build"]["rehearse"] = {"n": 12}  # 178 rows in all: a smaller replay buffer and fill
    out["wine_lab"]["fill"]["n"] = 15
    for rec in out.values():
        rec["random_state"] = seed
    return out


def cancer_sizes(seed: int) -> tuple[dict[str, pd.DataFrame], str]:
    """sklearn breast_cancer: the old clinic sees mostly small nuclei, the new one mostly large (a
    selection shift, no change of the readings). Added after the comparison was changed."""
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    frame = d.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    rng = np.random.default_rng(seed)
    large = frame["mean_radius"].to_numpy() > np.median(frame["mean_radius"])
    to_new = rng.random(len(frame)) < np.where(large, 0.8, 0.2)
    keep = [c for c in frame.columns if c.startswith("mean_")] + ["diagnosis"]
    return {"old": frame.loc[~to_new, keep].reset_index(drop=True),
            "new": frame.loc[to_new, keep].reset_index(drop=True)}, "diagnosis"


#: the ablation: one recipe step removed at a time (table cases). Without mix every old row is in the
#: training set, so the replay buffer (drawn from the old rows mix left out) has nothing to draw: no_mix
#: removes both (= the build of the naive baseline plus the fills and the curated strategies).
ABLATIONS = {"full": (), "no_fill": (("fill", "enabled", False),),
             "no_mix": (("build", "mix", None), ("build", "rehearse", None)),
             "no_replay": (("build", "rehearse", None),)}


def _ablate(rec: dict, steps) -> dict:
    import copy

    rec = copy.deepcopy(rec)
    for section, key, value in steps:
        if value is None:
            rec.get(section, {}).pop(key, None)
        else:
            rec.setdefault(section, {})[key] = value
    return rec


def _subset(preds, rows):
    from dataclasses import replace

    return replace(preds, y_true=preds.y_true[rows], y_pred=preds.y_pred[rows],
                   proba=None if preds.proba is None else preds.proba[rows])


def _acc(preds) -> float:
    return float((preds.y_pred == preds.y_true).mean()) if len(preds.y_true) else float("nan")


def _split(table, seed: int) -> dict:
    """Each holdout's (selection, scoring) positions: curate._naive.selection_rows, as compare_strategies
    (selection_split=0.5) splits them."""
    base = table.results["do_nothing"].predictions
    return {name: selection_rows(p.y_true, 0.5, seed + 7919 * k) for k, (name, p) in enumerate(sorted(base.items()))}


def _picks(table, split: dict, rule) -> dict:
    """The fair rule on the selection part: the curated flow (best curated strategy within the rule, else
    do_nothing), the naive flow (naive within the same rule, else do_nothing), and the free curated pick."""
    res = table.results
    sel = {n: {s: _acc(_subset(p, split[s][0])) for s, p in r.predictions.items()} for n, r in res.items()}
    forget = {n: sel["do_nothing"]["old"] - v["old"] for n, v in sel.items()}
    curated = [n for n in res if n not in BASELINES]
    free = max(curated, key=lambda n: (sel[n]["new"], -curated.index(n))) if curated else "do_nothing"
    ok = [n for n in ["do_nothing", *curated] if rule is None or forget[n] <= rule + 1e-12]
    flow = max(ok, key=lambda n: (sel[n]["new"], n == "do_nothing"))
    naive_ok = "naive" in res and (rule is None or forget["naive"] <= rule + 1e-12)
    return {"curated_free": free, "curated_flow": flow, "naive_flow": "naive" if naive_ok else "do_nothing",
            "naive_keeps_rule": bool(naive_ok), "select_forgetting": {n: float(v) for n, v in forget.items()}}


def _scores(table, split: dict, who: dict[str, str]) -> dict[str, dict]:
    """On the scoring part: per region (old, new, slice:<id>@<set>) n, the accuracy of every role
    (role -> strategy) and the paired differences of PAIRS."""
    res = table.results
    regions = {name: (name, None) for name in res["do_nothing"].predictions}
    for sid, per_set in (res["do_nothing"].slice_masks or {}).items():
        for set_name, mask in per_set.items():
            regions[f"slice:{sid}@{set_name}"] = (set_name, np.asarray(mask, dtype=bool))
    out = {}
    for k, (region, (set_name, mask)) in enumerate(sorted(regions.items())):
        rows = split[set_name][1]
        if mask is not None:
            rows = rows[mask[rows]]
            if not len(rows):
                continue
        preds = {role: _subset(res[n].predictions[set_name], rows) for role, n in who.items() if n in res}
        row = {"n": int(len(rows)), **{f"acc_{role}": _acc(p) for role, p in preds.items()}}
        for label, (a, b) in PAIRS.items():
            if a in preds and b in preds:
                row[label] = paired_difference(preds[a], preds[b], n_bootstrap=1000, seed=k)
        out[region] = row
    return out


#: the paired differences reported (role - role); *_flow = what a user following one rule gets
PAIRS = {"curated_free-naive": ("curated_free", "naive"), "curated_free-do_nothing": ("curated_free", "do_nothing"),
         "recipe_flow-naive_recipe_flow": ("recipe_flow", "naive_recipe_flow"),
         "gate_flow-naive_gate_flow": ("gate_flow", "naive_gate_flow"),
         "gate_flow-do_nothing": ("gate_flow", "do_nothing")}


def run_case(name: str, rec: dict, seed: int) -> dict:
    t0 = time.perf_counter()
    folder = rec.pop("_folder", None)
    if folder is not None:
        path = Path(folder) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(rec, sort_keys=False))
        run = curate.run_recipe(path)
    else:
        run = curate.run_recipe(rec)
    table = run.comparison
    split = _split(table, seed)
    rules = {"recipe": rec.get("retrain", {}).get("max_forgetting"), "gate": rec.get("gate", {}).get("max_drop_old"),
             "free": None}
    picks = {mode: _picks(table, split, rule) for mode, rule in rules.items()}
    who = {"curated_free": picks["free"]["curated_free"], "naive": "naive", "do_nothing": "do_nothing",
           "recipe_flow": picks["recipe"]["curated_flow"], "naive_recipe_flow": picks["recipe"]["naive_flow"],
           "gate_flow": picks["gate"]["curated_flow"], "naive_gate_flow": picks["gate"]["naive_flow"]}
    per_strategy = {n: {s: _acc(_subset(p, split[s][1])) for s, p in r.predictions.items()}
                    for n, r in table.results.items()}
    keep = {n: {s: _subset(p, split[s][1]) for s, p in table.results[n].predictions.items()}
            for n in {who["curated_free"], "naive", "continue_all"} if n in table.results}
    return {"_scoring_preds": keep, "rules": rules, "picks": picks, "recipe_chose": run.chosen, "roles": who,
            "scores": _scores(table, split, who), "per_strategy_score_part": per_strategy,
            "n_train": {n: int(r.info.get("n_train", 0)) for n, r in table.results.items()},
            "slices": [s.get("description", s.get("id")) for s in run.slices], "seconds": time.perf_counter() - t0}


def _mean_diff(rows: list[dict], key: str) -> dict:
    diffs = [r[key] for r in rows if r.get(key)]
    return {"mean": float(np.mean([d["observed"] for d in diffs])) if diffs else None,
            "mean_low": float(np.mean([d["low"] for d in diffs])) if diffs else None,
            "mean_high": float(np.mean([d["high"] for d in diffs])) if diffs else None,
            "seeds_better": sum(d["low"] > 0 for d in diffs), "seeds_worse": sum(d["high"] < 0 for d in diffs),
            "per_seed": [[round(d["observed"], 4), round(d["low"], 4), round(d["high"], 4)] for d in diffs]}


def summarise(per_seed: list[dict]) -> dict:
    """Mean over seeds of the scoring-part accuracies and paired differences; seeds whose interval excludes 0."""
    out = {}
    keys = tuple(PAIRS)
    for region in ("old", "new"):
        rows = [s["scores"][region] for s in per_seed if region in s["scores"]]
        entry = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k.startswith("acc_")}
        entry.update({k: _mean_diff(rows, k) for k in keys})
        out[region] = entry
    slice_rows = [r for s in per_seed for reg, r in s["scores"].items() if reg.startswith("slice:")]
    for k in keys:
        d = _mean_diff(slice_rows, k)
        out[f"slices:{k}"] = {"n_slice_sets": len(d["per_seed"]), "mean": d["mean"], "better": d["seeds_better"],
                              "worse": d["seeds_worse"]}
    out["roles"] = [s["roles"] for s in per_seed]
    out["rules"] = per_seed[0]["rules"]
    out["naive_keeps_rule"] = {m: sum(s["picks"][m]["naive_keeps_rule"] for s in per_seed) for m in ("recipe", "gate")}
    names = per_seed[0]["per_strategy_score_part"]
    out["per_strategy"] = {n: {s: float(np.mean([p["per_strategy_score_part"][n][s] for p in per_seed]))
                               for s in ("old", "new")} for n in names}
    for role in ("curated_free", "continue_all"):
        for region in ("new", "old"):
            rows = [{"d": s["vs_plain_naive"][role][region]} for s in per_seed
                    if role in s.get("vs_plain_naive", {}) and s["vs_plain_naive"][role][region]]
            if rows:
                out.setdefault("vs_plain_naive", {}).setdefault(role, {})[region] = _mean_diff(rows, "d")
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


def _vs_plain_naive(variants: dict[str, dict]) -> None:
    """Paired: the full recipe's free pick and its continue_all against the naive row of ``no_mix`` (trained on
    every old + new row: the plain naive of the issue; the full recipe's naive only has the rows mix kept)."""
    full, plain = variants.get("full"), variants.get("no_mix")
    if not full or not plain:
        return
    a, b = full["per_seed"][-1], plain["per_seed"][-1]
    base = b["_scoring_preds"]["naive"]
    out = {}
    for role, name in (("curated_free", a["roles"]["curated_free"]), ("continue_all", "continue_all")):
        if name in a["_scoring_preds"]:
            out[role] = {s: paired_difference(a["_scoring_preds"][name][s], base[s], n_bootstrap=1000, seed=k)
                         for k, s in enumerate(("new", "old"))}
    a["vs_plain_naive"] = out


def _run_all(args, tmp: Path) -> dict[str, dict]:
    """Every case x seed x ablation (the CNN case: the full recipe only)."""
    results: dict[str, dict] = {}
    for seed in range(args.seeds):
        for name, rec in recipes(seed, tmp, args.quick).items():
            if args.only and name not in args.only:
                continue
            for variant, step in ABLATIONS.items():
                if variant != "full" and (name == "digits_drift" or args.no_ablation):
                    continue
                out = run_case(name, _ablate(rec, step), seed) | {"seed": seed}
                results.setdefault(name, {}).setdefault(variant, {"per_seed": []})["per_seed"].append(out)
                print(f"{name} {variant} seed {seed}: {out['roles']} ({out['seconds']:.1f} s)", flush=True)
            if name in results:
                _vs_plain_naive(results[name])
                for entry in results[name].values():
                    entry["per_seed"][-1].pop("_scoring_preds", None)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--fill-value", action="store_true", help="also re-run part 2 (else kept from the last run)")
    args = ap.parse_args()
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*failed to converge.*")
    t0, load0 = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = _run_all(args, Path(tmp))
    for variants in results.values():
        for entry in variants.values():
            entry["summary"] = summarise(entry["per_seed"])
    out_file = RESULTS / "curation_value.json"
    fill_value = fill_value_part(args.seeds) if args.fill_value else {"superseded_by": "fill_value.json"}
    report = {"seeds": args.seeds, "quick": args.quick, "wall_s": time.perf_counter() - t0, "cases": results,
              "loadavg_start": list(load0), "loadavg_end": list(os.getloadavg()), "selection_split": 0.5,
              "fill_value": fill_value, "fill_value_rerun": bool(args.fill_value)}
    RESULTS.mkdir(exist_ok=True)
    out_file.write_text(json.dumps(report, indent=2, sort_keys=True, default=float))
    for name, variants in results.items():
        for variant, entry in variants.items():
            s = entry["summary"]
            d = {k: (s["new"][k]["mean"], s["old"][k]["mean"]) for k in PAIRS}
            print(f"{name:<20} {variant:<10} new (scoring half): free {s['new']['acc_curated_free']:.3f} naive "
                  f"{s['new']['acc_naive']:.3f} do_nothing {s['new']['acc_do_nothing']:.3f} | new/old: "
                  + " ".join(f"{k} {a:+.3f}/{b:+.3f}" for k, (a, b) in d.items()))
    print(f"wall {report['wall_s']:.0f} s, load {load0} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
