"""Retraining strategies side by side on real time-ordered data.

    .venv/bin/python benchmarks/bench_strategies.py [--quick]

Scenarios (old data -> new data, each with its own holdout):
- seattle-weather (vega_datasets, bundled CSV): old = 2012-2013, new = 2014 (train) and 2015
  (holdout). The labelling drifts strongly by year (2012: mostly "rain"; 2014-15: "fog"/"sun").
- phishing (river, bundled): the stream's first half is old, the second half new (time order kept;
  holdouts are the last 30% of each half).
- digits shifted (scikit-learn digits, SmallCNN in torch): new images are shifted one pixel right.

For every strategy: the old and new holdout accuracy, forgetting (drop on old against
do_nothing), training seconds and the ratio of that time to scratch_all ("all data"); plus
curate's overhead: retrain(scratch_all) wall time against a raw clone().fit on the same rows.
Needs ``pip install vega_datasets river`` (the `bench` extra). Writes benchmarks/results/strategies.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CURAKIT_PROGRESS", "0")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import curate  # noqa: E402
from curate._strategies import supported_strategies  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def weather():
    from vega_datasets import local_data

    df = local_data.seattle_weather()
    doy = df["date"].dt.dayofyear.to_numpy()
    df["doy_sin"], df["doy_cos"] = np.sin(2 * np.pi * doy / 365.25), np.cos(2 * np.pi * doy / 365.25)
    year = df["date"].dt.year
    old = df[year <= 2013].reset_index(drop=True)
    rng = np.random.default_rng(0)
    hold = rng.random(len(old)) < 0.25
    return {
        "name": "seattle-weather",
        "target": "weather",
        "time": "date",
        "features": ["precipitation", "temp_max", "temp_min", "wind", "doy_sin", "doy_cos"],
        "old": old[~hold].reset_index(drop=True),
        "new": df[year == 2014].reset_index(drop=True),
        "eval_old": old[hold].reset_index(drop=True),
        "eval_new": df[year == 2015].reset_index(drop=True),
    }


def phishing():
    from river import datasets

    rows = [dict(x, label=int(y)) for x, y in datasets.Phishing()]
    df = pd.DataFrame(rows)
    features = [c for c in df.columns if c != "label"]
    half = len(df) // 2
    old, new = df.iloc[:half].reset_index(drop=True), df.iloc[half:].reset_index(drop=True)
    cut_o, cut_n = int(len(old) * 0.7), int(len(new) * 0.7)
    return {
        "name": "phishing (river)",
        "target": "label",
        "time": None,
        "features": features,
        "old": old.iloc[:cut_o].reset_index(drop=True),
        "new": new.iloc[:cut_n].reset_index(drop=True),
        "eval_old": old.iloc[cut_o:].reset_index(drop=True),
        "eval_new": new.iloc[cut_n:].reset_index(drop=True),
    }


def tabular_runs(data, models, strategies_for, quick):
    out = []
    b = curate.TrainingSetBuilder(data["old"], data["new"], target=data["target"], time=data["time"],
                                  features=data["features"])
    ts = b.split(0.1).build(random_state=0)
    evals = {"old": data["eval_old"], "new": data["eval_new"]}
    X_all, y_all = ts.frame[ts.features], ts.y
    for label, factory in models:
        model = factory().fit(data["old"][data["features"]], data["old"][data["target"]])
        names = strategies_for(model)
        table = curate.compare_strategies(model, ts, strategies=names, eval_sets=evals, random_state=0,
                                          errors="record")
        # curate's overhead: a raw clone().fit on the same train rows vs retrain(scratch_all)
        from sklearn.base import clone

        train = ts.mask(split="train")
        t0 = time.perf_counter()
        clone(model).fit(X_all[train], y_all[train])
        raw = time.perf_counter() - t0
        t0 = time.perf_counter()
        curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals)
        wrapped = time.perf_counter() - t0
        out.append({"dataset": data["name"], "model": label, "rows": {"old": len(data["old"]), "new": len(data["new"]),
                    "eval_old": len(data["eval_old"]), "eval_new": len(data["eval_new"])},
                    "frame": table.frame, "raw_fit_s": raw, "retrain_scratch_all_s": wrapped})
    return out


def digits_runs(quick):
    import torch
    from sklearn.datasets import load_digits

    from augment._lineage import LineageRow, lineage_frame
    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN

    torch.set_num_threads(1)
    d = load_digits()
    images = np.round(d.images / 16.0 * 255.0).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    old, new = order[:900], order[900:]
    shifted = images.copy()
    shifted[new, :, 1:] = images[new, :, :-1]
    shifted[new, :, 0] = 0
    o_tr, o_te, n_tr, n_te = old[:650], old[650:], new[:400], new[400:]
    train = np.concatenate([o_tr, n_tr])
    origins = ["old"] * len(o_tr) + ["new"] * len(n_tr)
    man = lineage_frame([LineageRow(row_id=f"{o}:{i}", origin=o) for i, o in enumerate(origins)])
    man["split"] = np.where(np.random.default_rng(1).random(len(train)) < 0.15, "val", "train")
    man["weight"] = 1.0
    ts = curate.TrainingSet(kind="images", target="digit", frame=pd.DataFrame({"digit": labels[train]}),
                            manifest=man, images=shifted[train])
    evals = {"old": (shifted[o_te], labels[o_te]), "new": (shifted[n_te], labels[n_te])}
    variants = {n: {} for n in curate.STRATEGIES.names()}
    variants["continue_new+ewc"] = {"strategy": "continue_new", "ewc": 1e4}
    variants["continue_new+replay"] = {"strategy": "continue_new", "replay": 0.3}
    variants["continue_new+l2_old"] = {"strategy": "continue_new", "l2_old": 10.0}
    seeds = [0] if quick else [0, 1, 2]
    epochs = 3 if quick else 8
    rows = []
    for seed in seeds:
        model = reset_parameters(SmallCNN(num_classes=10, width=16), seed)
        fit_torch(model, images[o_tr], labels[o_tr], config=TrainConfig(epochs=epochs, lr=1e-2), seed=seed)
        for name, kw in variants.items():
            kw = dict(kw)
            strategy = kw.pop("strategy", name)
            if strategy != "do_nothing":
                kw.update(epochs=epochs, lr=1e-2, patience=3)
            r = curate.retrain(model, ts, strategy=strategy, eval_sets=evals, random_state=seed, **kw)
            rows.append({"seed": seed, "strategy": name, "old": r.metrics["old"]["accuracy"],
                         "new": r.metrics["new"]["accuracy"], "train_time": r.train_time,
                         "n_train": r.info.get("n_train", 0)})
    frame = pd.DataFrame(rows).groupby("strategy", sort=False).agg(
        old=("old", "mean"), old_sd=("old", "std"), new=("new", "mean"), new_sd=("new", "std"),
        train_time=("train_time", "mean"), n_train=("n_train", "first")).reset_index()
    base_old = frame.loc[frame["strategy"] == "do_nothing", "old"].item()
    base_new = frame.loc[frame["strategy"] == "do_nothing", "new"].item()
    frame.insert(5, "forgetting", base_old - frame["old"])
    frame.insert(6, "gain_new", frame["new"] - base_new)
    return [{"dataset": f"digits shifted ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}, {epochs} epochs)",
             "model": "SmallCNN(width=16)", "rows": {"old": len(o_tr), "new": len(n_tr), "eval_old": len(o_te),
             "eval_new": len(n_te)}, "frame": frame, "raw_fit_s": None, "retrain_scratch_all_s": None}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer epochs")
    args = parser.parse_args()
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    def lr():
        return LogisticRegression(max_iter=3000, warm_start=True)

    def rf():
        return RandomForestClassifier(n_estimators=60 if args.quick else 200, warm_start=True, random_state=0,
                                      min_samples_leaf=2)

    models = [("LogisticRegression(warm_start)", lr), ("RandomForest(warm_start)", rf)]
    runs = []
    runs += tabular_runs(weather(), models, supported_strategies, args.quick)
    runs += tabular_runs(phishing(), models, supported_strategies, args.quick)
    runs += digits_runs(args.quick)

    pd.set_option("display.width", 160)
    out = []
    for run in runs:
        frame = run["frame"].copy()
        scratch = frame.loc[frame["strategy"] == "scratch_all", "train_time"]
        frame["time_vs_scratch_all"] = frame["train_time"] / (scratch.item() if len(scratch) else np.nan)
        print(f"\n== {run['dataset']} / {run['model']}  rows {run['rows']}")
        cols = [c for c in ("strategy", "old", "old_sd", "new", "new_sd", "forgetting", "gain_new", "train_time",
                            "time_vs_scratch_all", "n_train") if c in frame.columns]
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if "error" in frame.columns:
            for _, row in frame.dropna(subset=["error"]).iterrows():
                print(f"  {row['strategy']} could not run: {row['error']}")
        if run["raw_fit_s"] is not None:
            print(f"overhead: retrain(scratch_all) {run['retrain_scratch_all_s']:.3f}s (incl. scoring both models) vs "
                  f"raw clone().fit {run['raw_fit_s']:.3f}s -> ratio {run['retrain_scratch_all_s'] / run['raw_fit_s']:.2f}")
        out.append({k: v for k, v in run.items() if k != "frame"} | {"table": json.loads(frame.to_json(orient="records"))})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "strategies.json").write_text(json.dumps({"quick": args.quick, "runs": out}, indent=2))
    print(f"\nwritten {RESULTS / 'strategies.json'}")


if __name__ == "__main__":
    main()
