"""Quality of the 'rules' diagnoser: does a planted weak sub-population come out on top?

Real data: scikit-learn's breast-cancer set (569 rows, 30 features). For each seed we plant a
rare region (two random features, thresholds chosen so the region holds 4-9% of rows), flip
80% of its labels, and score 5-fold out-of-fold predictions of a model (a scaled logistic
regression, which cannot carve out a small region, and a random forest, which partly can).
We report where the best-matching found slice lands in the ranking (rank of the first slice
with Jaccard >= 0.6 with the planted region) and the best Jaccard within the top 3.

    .venv/bin/python benchmarks/bench_rules_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from curakit.io import atomic_write_json
from diagnose._diagnosers import AnalysisInput
from diagnose._rules import rule_slices


def planted_cases(X, y0, n_cases, flip_p=0.8, seed_offset=0):
    seed = seed_offset
    while True:
        seed += 1
        rng = np.random.default_rng(seed)
        a_col, b_col = rng.choice(X.columns, 2, replace=False)
        a = (X[a_col] > X[a_col].quantile(rng.uniform(0.5, 0.8))).to_numpy()
        thr = np.quantile(X[b_col].to_numpy()[a], min(0.99, 0.06 * len(X) / a.sum()))
        planted = a & (X[b_col].to_numpy() <= thr)
        if not 0.04 <= planted.mean() <= 0.09:
            continue
        y = y0.copy()
        flip = planted & (rng.random(len(y)) < flip_p)
        y[flip] = 1 - y[flip]
        yield seed, f"{a_col} > q and {b_col} <= t", planted, y
        n_cases -= 1
        if n_cases == 0:
            return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed-offset", type=int, default=0, help="planting seeds start here (defaults were tuned on offset 0)")
    args = ap.parse_args()
    n_cases = 4 if args.quick else 10
    data = load_breast_cancer(as_frame=True)
    X, y0 = data.data, data.target.to_numpy()
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": RandomForestClassifier(100, random_state=0),
    }
    rows = []
    for mname, model in models.items():
        for seed, desc, planted, y in planted_cases(X, y0, n_cases, seed_offset=args.seed_offset):
            pred = cross_val_predict(model, X, y, cv=5)
            err = pred != y
            inp = AnalysisInput(y_true=y, y_pred=pred, errors=err, features=X)
            for search in ("lattice", "both"):
                t = time.perf_counter()
                slices = rule_slices(inp, search=search, min_support=10)
                secs = time.perf_counter() - t
                jac = [float((s.mask() & planted).sum() / (s.mask() | planted).sum()) for s in slices]
                rank = next((i + 1 for i, j in enumerate(jac) if j >= 0.6), None)
                best3 = max(jac[:3]) if jac else 0.0
                top = slices[0].description if slices else ""
                rows.append(
                    dict(model=mname, search=search, seed=seed, planted=desc, planted_rows=int(planted.sum()),
                         planted_error=float(err[planted].mean()), baseline_error=float(err.mean()),
                         rank=rank, best_jaccard_top3=best3, seconds=secs, top_slice=top)
                )
    print(f"{'model':8} {'search':8} {'cases':>5} {'hit@3':>6} {'median J@3':>10} {'mean J@3':>8} {'median rank':>11} {'s/run':>6}")
    summary = []
    for mname in models:
        for search in ("lattice", "both"):
            rs = [r for r in rows if r["model"] == mname and r["search"] == search]
            hits = np.mean([r["rank"] is not None and r["rank"] <= 3 for r in rs])
            j3 = [r["best_jaccard_top3"] for r in rs]
            ranks = [r["rank"] if r["rank"] is not None else 99 for r in rs]
            sec = np.mean([r["seconds"] for r in rs])
            summary.append(dict(model=mname, search=search, cases=len(rs), hit_at_3=float(hits),
                                median_jaccard_top3=float(np.median(j3)), mean_jaccard_top3=float(np.mean(j3)),
                                median_rank=float(np.median(ranks)), seconds_per_run=float(sec)))
            print(f"{mname:8} {search:8} {len(rs):5d} {hits:6.2f} {np.median(j3):10.2f} {np.mean(j3):8.2f} {np.median(ranks):11.1f} {sec:6.2f}")
    print("rank 99 = no slice with Jaccard >= 0.6 in the returned top 10")
    name = "rules_quality.json" if args.seed_offset == 0 else f"rules_quality_offset{args.seed_offset}.json"
    out = Path(__file__).parent / "results" / name
    atomic_write_json(out, {"summary": summary, "cases": rows, "quick": args.quick, "seed_offset": args.seed_offset})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
