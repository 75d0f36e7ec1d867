"""Report size and time: a 20,000-row tabular diagnosis, built and rendered (issue 14).

Data: scikit-learn's 1,797 real digit scans (64 pixel features, 0-16) and copies of them moved
by one or two pixels (12 positions), 20,000 rows shuffled; the incumbent is a logistic regression
trained on unmoved scans only, so the moved rows are where it errs. Measured (median of
``--repeats`` runs, one thread):

* ``build``: ``diagnose.find_slices`` (rules, confusion, coverage with the training rows);
* ``render``: ``diagnosis_html`` with the feature-distribution pictures of the 4 worst slices;
* ``raw``: the same slice table written by ``pandas.DataFrame.to_html`` (no figures, no layout):
  the peer the layout's cost is a ratio against;
* the HTML size in bytes and the number of embedded images.

Run: ``python benchmarks/bench_report.py [--repeats 3]``; writes benchmarks/results/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd

N_ROWS = 20_000


def shifted_digits(n_rows: int = N_ROWS, seed: int = 0):
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs, y = d.images, d.target
    moves = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)] + [(0, -2), (0, 2), (2, 0)]
    out, labels, moved = [], [], []
    for dy, dx in moves:
        out.append(np.roll(np.roll(imgs, dy, axis=1), dx, axis=2).reshape(len(y), 64))
        labels.append(y)
        moved.append(np.full(len(y), (dy, dx) != (0, 0)))
    X, y, moved = np.vstack(out), np.concatenate(labels), np.concatenate(moved)
    order = np.random.default_rng(seed).permutation(len(y))[:n_rows]
    cols = [f"px{i}" for i in range(64)]
    return pd.DataFrame(X[order], columns=cols), y[order], moved[order], pd.DataFrame(imgs.reshape(len(d.target), 64), columns=cols), d.target


def run_once() -> dict:
    from sklearn.linear_model import LogisticRegression

    import diagnose
    from diagnose._report import diagnosis_html

    X, y, _, train_X, train_y = shifted_digits()
    model = LogisticRegression(max_iter=300).fit(train_X, train_y)
    pred = model.predict(X)
    t0 = time.perf_counter()
    d = diagnose.find_slices(y, pred, features=X, train_features=train_X, methods=["rules", "confusion", "coverage"])
    t1 = time.perf_counter()
    html = diagnosis_html(d, features=X, train_features=train_X)
    t2 = time.perf_counter()
    raw = d.to_frame().to_html()
    t3 = time.perf_counter()
    return {"build_s": t1 - t0, "render_s": t2 - t1, "raw_s": t3 - t2, "html_bytes": len(html.encode("utf-8")),
            "raw_bytes": len(raw.encode("utf-8")), "images": html.count("<img"), "slices": len(d.slices),
            "baseline_error_rate": d.baseline_error_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "report.json"))
    args = ap.parse_args()
    runs = [run_once() for _ in range(args.repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {
        "rows": N_ROWS,
        "repeats": args.repeats,
        "median": med,
        "ratios": {"render_vs_build": med["render_s"] / med["build_s"], "render_vs_raw_table": med["render_s"] / med["raw_s"],
                   "size_vs_raw_table": med["html_bytes"] / med["raw_bytes"]},
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS")},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"median": med, "ratios": result["ratios"]}, indent=2))


if __name__ == "__main__":
    main()
