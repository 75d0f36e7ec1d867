"""SHAP on many rows of a tree model: diagnose.explain vs calling shap.TreeExplainer directly.

Generated data (make_classification, 20 features), a HistGradientBoostingClassifier and a
RandomForestClassifier; we time explaining all rows (goal: 100k rows under 30 s) with
diagnose.explain (which also computes importance, the sensitive check and a slice summary)
and with shap.TreeExplainer(model).shap_values(X) on the same model and rows.

    .venv/bin/python benchmarks/bench_shap.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import shap
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

import diagnose
from curakit.io import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 10_000 if args.quick else 100_000
    big_n = 2_000 if args.quick else 10_000  # rows for the default-size GBM (TreeSHAP cost grows with leaves)
    X, y = make_classification(n_samples=n, n_features=20, n_informative=8, random_state=0)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    models = {
        "hist_gbm(50 iters, depth 4)": HistGradientBoostingClassifier(max_iter=50, max_depth=4, random_state=0),
        "random_forest(20 trees, depth 6)": RandomForestClassifier(20, max_depth=6, random_state=0, n_jobs=1),
        "hist_gbm(100 iters, 31 leaves)": HistGradientBoostingClassifier(max_iter=100, random_state=0),
    }
    rows = []
    shap.TreeExplainer(HistGradientBoostingClassifier(max_iter=5).fit(X[:2000], y[:2000]))  # warm imports
    for name, model in models.items():
        model.fit(X, y)
        rows_n = big_n if "31 leaves" in name else n
        Xn = X.iloc[:rows_n]
        slice_mask = (Xn["x0"] > 1).to_numpy()
        t = time.perf_counter()
        direct = shap.TreeExplainer(model).shap_values(Xn, check_additivity=False)
        t_direct = time.perf_counter() - t
        t = time.perf_counter()
        rep = diagnose.explain(model, Xn, sensitive=["x3"], slices={"x0>1": slice_mask})
        t_ours = time.perf_counter() - t
        d = np.asarray(direct)
        if d.ndim == 3:
            d = d[np.arange(rows_n), :, model.predict_proba(Xn).argmax(1)]
        else:
            d = np.where(model.predict_proba(Xn).argmax(1)[:, None] == 1, d, -d)
        same = bool(np.allclose(rep.values, d, atol=1e-8))
        rows.append(dict(model=name, rows=rows_n, shap_direct_s=t_direct, explain_s=t_ours, ratio=t_ours / t_direct,
                         identical_values=same, under_30s=t_ours < 30, ms_per_row=1000 * t_ours / rows_n))
    print(f"{'model':34} {'rows':>7} {'shap direct s':>13} {'explain s':>9} {'ratio':>6} {'same values':>11} {'ms/row':>7}")
    for r in rows:
        print(f"{r['model']:34} {r['rows']:7d} {r['shap_direct_s']:13.2f} {r['explain_s']:9.2f} {r['ratio']:6.2f} {str(r['identical_values']):>11} {r['ms_per_row']:7.3f}")
    out = Path(__file__).parent / "results" / "shap.json"
    atomic_write_json(out, {"rows": rows, "quick": args.quick})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
