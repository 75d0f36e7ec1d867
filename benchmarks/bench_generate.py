"""Generation (conditional VAE) vs offline augmentation vs SMOTE at the same fill size, on thin slices.

Images: ``curate.datasets.load_digits_drift`` (real 16x16 digit scans; "heavy slanted strokes" are
a thin slice of the old training data). Tables: scikit-learn's breast_cancer, where the thin
region is the malignant tumours with a small mean radius, cut to 12 training rows. Each fill adds
``FACTOR`` x the slice size; a logistic regression is retrained on real + fill and scored on the
held-out slice rows and on all held-out rows. Reported per method, mean over seeds: slice
accuracy gain over no fill, overall accuracy, the two-sample AUC (a cross-validated discriminator
between the fill and the real slice members: 0.5 = indistinguishable), share refused by
generate's checks, and fit+sample time.

Run: ``.venv/bin/python benchmarks/bench_generate.py [--seeds 3]``; writes
benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import albumentations as A
import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.preprocessing import StandardScaler

import augment
from curate.datasets import load_digits_drift

FACTOR = 4


def two_sample_auc(real, fake, seed):
    x = np.vstack([real, fake])
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(LogisticRegression(max_iter=2000), StandardScaler().fit_transform(x), y, cv=cv,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def flat(images):
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def fit_score(X, y, Xt, yt, slice_t):
    pred = LogisticRegression(max_iter=3000, C=0.5).fit(X, y).predict(Xt)
    return float((pred[slice_t] == yt[slice_t]).mean()), float((pred == yt).mean())


def run_images(seed):
    d = load_digits_drift(random_state=seed)
    images, y, heavy = d.old["images"], d.old["labels"], d.old["heavy"]
    ti = np.concatenate([d.old_test["images"], d.new_test["images"]])
    tl = np.concatenate([d.old_test["labels"], d.new_test["labels"]])
    th = np.concatenate([d.old_test["heavy"], d.new_test["heavy"]])
    X, Xt, n = flat(images), flat(ti), FACTOR * int(heavy.sum())
    out = {"none": {"scores": fit_score(X, y, Xt, tl, th)}}
    fills = {}
    t = time.perf_counter()
    counts = np.bincount(y[heavy], minlength=10)
    k = int(max(1, min(5, counts[counts > 0].min() - 1)))
    try:
        X2, y2, _ = augment.oversample(X, y, method="smote", select=heavy, n=n // int((counts > 0).sum()),
                                       k_neighbors=k, random_state=seed)
        fills["smote"] = (np.asarray(X2)[len(X):], np.asarray(y2)[len(X):], time.perf_counter() - t, 0.0)
    except augment.CurakitError as exc:  # a class with one slice row
        print("  smote skipped:", exc)
    pipe = A.Compose([A.Affine(rotate=(-10, 10), shear=(-12, 12), scale=(0.9, 1.1), p=1.0)])
    t = time.perf_counter()
    aug = augment.offline(images, y, pipe, select=heavy, n=n, random_state=seed)
    fills["offline"] = (flat(aug.images), aug.labels, time.perf_counter() - t, 0.0)
    t = time.perf_counter()
    gen = augment.generate(images, y, select=heavy, n=n, random_state=seed)
    fills["vae"] = (flat(gen.images), gen.labels, time.perf_counter() - t, gen.manifest.attrs["quality"]["share_refused"])
    for name, (Xf, yf, secs, refused) in fills.items():
        out[name] = {"scores": fit_score(np.vstack([X, Xf]), np.r_[y, yf], Xt, tl, th), "seconds": secs,
                     "share_refused": refused, "auc": two_sample_auc(X[heavy], Xf, seed)}
    return out


def run_table(seed):
    b = load_breast_cancer(as_frame=True)
    X, y = b.data, b.target.to_numpy()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    Xtr, Xte = Xtr.reset_index(drop=True), Xte.reset_index(drop=True)
    cut = X["mean radius"].quantile(0.5)
    region_tr = (ytr == 0) & (Xtr["mean radius"] < cut)
    rng = np.random.default_rng(seed)
    drop = rng.permutation(np.flatnonzero(region_tr))[12:]  # the thin region: 12 training rows
    keep = np.setdiff1d(np.arange(len(Xtr)), drop)
    Xtr, ytr = Xtr.iloc[keep].reset_index(drop=True), ytr[keep]
    region = (ytr == 0) & (Xtr["mean radius"] < cut)
    region_te = (yte == 0) & (Xte["mean radius"] < cut)
    sc = StandardScaler().fit(Xtr)
    S, St, n = sc.transform(Xtr), sc.transform(Xte), FACTOR * int(region.sum())
    out = {"none": {"scores": fit_score(S, ytr, St, yte, region_te)}}
    fills = {}
    t = time.perf_counter()
    X2, y2, _ = augment.oversample(Xtr, ytr, method="smote", select=region, n=n, random_state=seed)
    fills["smote"] = (np.asarray(X2)[len(Xtr):], np.asarray(y2)[len(Xtr):], time.perf_counter() - t, 0.0)
    t = time.perf_counter()
    G, yg, prov = augment.generate(Xtr, ytr, select=region, n=n, random_state=seed)
    fills["vae"] = (G.to_numpy(), yg, time.perf_counter() - t, prov.attrs["quality"]["share_refused"])
    for name, (Xf, yf, secs, refused) in fills.items():
        Sf = sc.transform(pd.DataFrame(Xf, columns=Xtr.columns))
        out[name] = {"scores": fit_score(np.vstack([S, Sf]), np.r_[ytr, yf], St, yte, region_te), "seconds": secs,
                     "share_refused": refused, "auc": two_sample_auc(S[region], Sf, seed)}
    return out


def summarise(runs):
    table = {}
    for m in dict.fromkeys(k for r in runs for k in r):
        ran = [r for r in runs if m in r]
        base = np.array([r["none"]["scores"] for r in ran])
        s = np.array([r[m]["scores"] for r in ran])
        row = {"slice_acc": float(s[:, 0].mean()), "slice_gain": float((s[:, 0] - base[:, 0]).mean()),
               "overall_acc": float(s[:, 1].mean()), "overall_gain": float((s[:, 1] - base[:, 1]).mean())}
        row["seeds_run"] = len(ran)
        for k in ("auc", "share_refused", "seconds"):
            if k in ran[0][m]:
                row[k] = float(np.mean([r[m][k] for r in ran]))
        table[m] = row
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = {}
    for name, fn in (("table_breast_cancer_thin_region", run_table), ("images_digits_heavy_slant", run_images)):
        runs = []
        for seed in range(args.seeds):
            runs.append(fn(seed))
            print(name, seed, json.dumps({m: r["scores"] for m, r in runs[-1].items()}), flush=True)
        result[name] = summarise(runs)
        print(json.dumps(result[name], indent=1), flush=True)
    result["seeds"] = args.seeds
    path = Path(__file__).parent / "results" / "generate.json"
    path.write_text(json.dumps(result, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
