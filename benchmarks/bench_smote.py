"""Slice-targeted SMOTE with lineage vs imbalanced-learn's SMOTE doing the same work.

Data: make_classification, N rows x 20 features (1,000,000 by default; --quick: 100,000), two
classes (98% / 2%). Two jobs, each timed for curakit (``augment.oversample``: resampling plus the
lineage of every output row) and for imbalanced-learn 0.14.2's ``SMOTE`` alone, which must make
exactly the same rows:

* slice: fill a thin slice (rows with feature 0 > 2, about 2%) with 100,000 new rows per class
  (--quick: 10,000); imbalanced-learn runs the same job (slice & class as their own label);
* class: class-level SMOTE (``sampling_strategy="auto"``: the minority class up to the majority,
  about 960,000 new rows at 1M: the lineage of ~2M rows).

Best of ``--repeat`` interleaved runs each (default 3). Run: ``.venv/bin/python benchmarks/bench_smote.py [--quick]``.
Writes benchmarks/results/smote.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from imblearn.over_sampling import SMOTE
from sklearn.datasets import make_classification

import augment


def paired(ours, peer, repeat):
    """Best of ``repeat`` runs of each, interleaved (ours, peer, ours, ...) so load drifts hit both."""
    t_ours, t_peer, out_ours, out_peer = [], [], None, None
    for _ in range(repeat):
        t = time.perf_counter()
        out_ours = ours()
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        out_peer = peer()
        t_peer.append(time.perf_counter() - t)
    return min(t_ours), out_ours, min(t_peer), out_peer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n_rows = 100_000 if args.quick else 1_000_000
    n_new = 10_000 if args.quick else 100_000
    X, y = make_classification(
        n_samples=n_rows, n_features=20, n_informative=8, weights=[0.98, 0.02], random_state=0
    )
    mask = X[:, 0] > 2.0
    classes = np.unique(y)
    print(f"{n_rows} rows x 20 features; slice of {mask.sum()} rows ({np.bincount(y[mask]).tolist()} per class)")

    # the same job in imbalanced-learn: slice & class relabelled as their own classes
    special = y.copy()
    special[mask] += len(classes)
    strategy = {int(c) + len(classes): int((mask & (y == c)).sum()) + n_new for c in classes if (mask & (y == c)).any()}

    def ours_slice():
        return augment.oversample(X, y, select=mask, n=n_new, random_state=0)

    def peer_slice():
        return SMOTE(sampling_strategy=strategy, random_state=0).fit_resample(X, special)

    def ours_class():
        return augment.oversample(X, y, random_state=0)

    def peer_class():
        return SMOTE(random_state=0).fit_resample(X, y)

    rows = []
    t_ours, (X2, y2, prov), t_peer, (Xp, yp) = paired(ours_slice, peer_slice, args.repeat)
    assert np.array_equal(X2, Xp), "curakit and imbalanced-learn must make the same rows"
    rows.append(("slice-targeted SMOTE + lineage", len(prov) - n_rows, t_ours, t_peer))
    t_ours_c, (X3, _, prov3), t_peer_c, (Xq, _) = paired(ours_class, peer_class, args.repeat)
    assert np.array_equal(X3, Xq)
    rows.append(("class-level SMOTE + lineage", len(prov3) - n_rows, t_ours_c, t_peer_c))

    print(f"\n{'job':<34}{'new rows':>10}{'curakit s':>12}{'imblearn s':>12}{'ratio':>8}")
    for name, made, a, b in rows:
        print(f"{name:<34}{made:>10}{a:>12.2f}{b:>12.2f}{a / b:>8.2f}")
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "n_rows": n_rows,
        "n_features": 20,
        "repeat": args.repeat,
        "jobs": [
            {"job": name, "new_rows": int(made), "curakit_s": a, "imblearn_s": b, "ratio": a / b}
            for name, made, a, b in rows
        ],
        "goal": "slice-targeted ratio <= 1.15",
    }
    out = Path(__file__).resolve().parent / "results" / "smote.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
