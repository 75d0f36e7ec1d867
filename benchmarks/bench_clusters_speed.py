"""Speed of the cluster diagnosis vs bare UMAP + HDBSCAN on the same data.

Data: 50,000 rows x 64 dims (a Gaussian mixture of 40 components of unequal size), random
errors at 10% plus one component erring at 60%. ``diagnose.find_slices(methods=["clusters"])``
does UMAP (2-D) + HDBSCAN + the centroid summary, the tests and the Slice records; the bare
baseline runs ``umap.UMAP(...).fit_transform`` + ``sklearn.cluster.HDBSCAN(...).fit_predict``
with the same parameters (n_neighbors=15, min_dist=0.0, the same seed, the same
min_cluster_size). Target: ours within 1.2x of bare.

Cold = the first call in a fresh process (numba JIT of UMAP included; the on-disk numba cache
is whatever the environment has); warm = a later call in the same process. Each cold figure is
measured in its own subprocess: one runs bare (cold), then ours (warm), then bare (warm); the
other runs ours (cold) only.

Run: ``.venv/bin/python benchmarks/bench_clusters_speed.py [--quick]`` (quick: 10,000 rows).
Writes ``benchmarks/results/clusters_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))
os.environ.setdefault("CURAKIT_PROGRESS", "0")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEED = 0


def make_data(n: int, d: int = 64, k: int = 40, seed: int = SEED):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 2.0))
    comp = rng.choice(k, size=n, p=weights)
    centers = rng.normal(scale=4.0, size=(k, d))
    X = (centers[comp] + rng.normal(size=(n, d))).astype(np.float32)
    y = comp % 10
    errors = rng.random(n) < 0.10
    weak = comp == int(np.argsort(weights)[-5])  # the 5th largest component errs more
    errors[weak] = rng.random(weak.sum()) < 0.6
    pred = np.where(errors, (y + 1) % 10, y)
    return X, y, pred


def bare(X: np.ndarray, min_cluster_size: int) -> float:
    import umap
    from sklearn.cluster import HDBSCAN

    from curakit.seeds import child_seed

    t = time.perf_counter()
    coords = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.0, random_state=child_seed(SEED, "umap")).fit_transform(X)
    HDBSCAN(min_cluster_size=min_cluster_size).fit_predict(coords)
    return time.perf_counter() - t


def ours(X: np.ndarray, y: np.ndarray, pred: np.ndarray) -> tuple[float, dict]:
    import diagnose

    t = time.perf_counter()
    d = diagnose.find_slices(y, pred, embeddings=X, methods=["clusters"], random_state=SEED)
    secs = time.perf_counter() - t
    tm = d.info["clusters"]["timings_s"]
    return secs, {
        "umap_hdbscan_s": tm["umap"] + tm["hdbscan"],
        "overhead_s": secs - tm["umap"] - tm["hdbscan"],
        "n_slices": len(d.slices),
        "n_clusters": int(d.cluster_labels.max() + 1),
        "mean_contains_agreement": d.info["clusters"]["mean_contains_agreement"],
    }


def child(order: str, n: int) -> None:
    """One fresh process: the first call is cold, the second warm."""
    import warnings

    warnings.filterwarnings("ignore")
    X, y, pred = make_data(n)
    mcs = int(np.clip(round(0.025 * n), 15, 250))  # the diagnoser's default
    out: dict = {}
    if order == "bare-first":  # bare cold, then ours and bare warm, side by side in time
        out["bare_cold"] = bare(X, mcs)
        out["ours_warm"], out["info"] = ours(X, y, pred)
        out["bare_warm"] = bare(X, mcs)
    else:
        out["ours_cold"], out["info"] = ours(X, y, pred)
    print("RESULT " + json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 rows instead of 50,000")
    ap.add_argument("--child", choices=["bare-first", "ours-first"])
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    n = args.n or (10_000 if args.quick else 50_000)
    if args.child:
        child(args.child, n)
        return
    res = {}
    for order in ("bare-first", "ours-first"):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", order, "--n", str(n)], capture_output=True, text=True, check=True
        )
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
        res[order] = json.loads(line[7:])
    a, b = res["bare-first"], res["ours-first"]
    ours_warm = a["ours_warm"]
    rows = [
        ("cold (first call in a fresh process)", b["ours_cold"], a["bare_cold"]),
        ("warm (later calls, same process)", ours_warm, a["bare_warm"]),
    ]
    print(f"cluster diagnosis on {n:,} rows x 64 dims ({a['info']['n_clusters']} clusters, "
          f"{a['info']['n_slices']} slice(s), mean contains agreement {a['info']['mean_contains_agreement']:.3f})")  # fmt: skip
    print(f"{'':38} {'curakit (s)':>12} {'bare UMAP+HDBSCAN (s)':>22} {'ratio':>7}")
    for name, o, bb in rows:
        print(f"{name:38} {o:>12.1f} {bb:>22.1f} {o / bb:>7.2f}")
    for label, info in (("warm", a["info"]), ("cold", b["info"])):
        print(f"{label} run, inside find_slices: UMAP+HDBSCAN {info['umap_hdbscan_s']:.1f}s, everything else "
              f"{info['overhead_s']:.1f}s -> overhead ratio {1 + info['overhead_s'] / info['umap_hdbscan_s']:.3f} "
              "(same-call ratio, immune to machine load drift)")  # fmt: skip
    print("target: ratio <= 1.2")
    from curakit.io import atomic_write_json

    out = ROOT / "benchmarks" / "results" / "clusters_speed.json"
    atomic_write_json(out, {
        "n": n, "dims": 64, "runs": res,
        "cold": {"curakit_s": b["ours_cold"], "bare_s": a["bare_cold"], "ratio": b["ours_cold"] / a["bare_cold"]},
        "warm": {"curakit_s": ours_warm, "bare_s": a["bare_warm"], "ratio": ours_warm / a["bare_warm"]},
        "overhead_ratio_same_call": {
            "warm": 1 + a["info"]["overhead_s"] / a["info"]["umap_hdbscan_s"],
            "cold": 1 + b["info"]["overhead_s"] / b["info"]["umap_hdbscan_s"],
        },
    })  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
