"""Peers of benchmarks/bench_coverage.py, run in a SEPARATE virtual environment (they are not curakit
dependencies; cleanlab is AGPL and is used here for benchmarking only):

    python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install sliceline==0.3 "cleanlab[datalab]==2.9"
    /tmp/peer-venv/bin/python benchmarks/coverage_peers.py CASE_DIR

Reads every ``CASE_DIR/*.npz`` (``xa``, ``xt``: analysed / training matrices; ``ya``, ``yp``: analysed
labels and predictions as class codes) and writes ``CASE_DIR/peers.json``: per case and peer, the
analysed row indices of its slices, best first (at most 10), and its run time.

- ``sliceline_errors``: SliceLine (sliceline 0.3, ``alpha=0.95, k=10, max_l=2``) on the model's errors
  over the analysed rows, numeric columns in 5 quantile bins: the way a user runs it.
- ``sliceline_domain``: the same search with "error" = "row is analysed, not training" over the pooled
  rows: SliceLine used as a representation-gap finder (its slices' analysed rows are kept).
- ``cleanlab``: cleanlab Datalab's ``underperforming_group`` (kNN graph + DBSCAN on standardised
  analysed features, pred_probs 0.9 on the predicted class); clusters ranked by its score, worst first.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _bins(x: np.ndarray, edges: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    out = np.empty(x.shape, dtype=np.int64)
    made = []
    for j in range(x.shape[1]):
        col = x[:, j]
        e = edges[j] if edges is not None else np.unique(np.nanquantile(col, [0.2, 0.4, 0.6, 0.8]))
        made.append(e)
        out[:, j] = np.searchsorted(e, col, side="right") + 1
    return out, made


def _sliceline(x: np.ndarray, errors: np.ndarray, keep: np.ndarray) -> list[list[int]]:
    from sliceline.slicefinder import Slicefinder

    sf = Slicefinder(alpha=0.95, k=10, max_l=2, min_sup=max(10, int(0.01 * len(x))), verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf.fit(x, errors.astype(float))
        if sf.top_slices_ is None or len(sf.top_slices_) == 0:
            return []
        masks = np.asarray(sf.transform(x), dtype=bool)
    return [np.flatnonzero(masks[keep, j]).tolist() for j in range(masks.shape[1])]


def _cleanlab(xa: np.ndarray, ya: np.ndarray, yp: np.ndarray) -> list[list[int]]:
    from cleanlab import Datalab

    classes = np.unique(np.r_[ya, yp])
    code = {c: i for i, c in enumerate(classes)}
    y, p = np.array([code[v] for v in ya]), np.array([code[v] for v in yp])
    probs = np.full((len(y), len(classes)), 0.1 / max(1, len(classes) - 1))
    probs[np.arange(len(y)), p] = 0.9
    f = (xa - np.nanmean(xa, 0)) / np.where(np.nanstd(xa, 0) > 0, np.nanstd(xa, 0), 1.0)
    lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
    lab.find_issues(features=np.nan_to_num(f), pred_probs=probs, issue_types={"underperforming_group": {}})
    issues = lab.get_issues("underperforming_group")
    ids = np.asarray(lab.get_info("underperforming_group")["clustering"]["stats"]["cluster_ids"])
    score = issues["underperforming_group_score"].to_numpy()
    clusters = [c for c in np.unique(ids) if c >= 0]
    clusters.sort(key=lambda c: float(score[ids == c].mean()))
    return [np.flatnonzero(ids == c).tolist() for c in clusters[:10]]


def _run(path: Path) -> dict:
    d = np.load(path, allow_pickle=False)
    xa, xt, ya, yp = d["xa"], d["xt"], d["ya"], d["yp"]
    out = {}
    t = time.perf_counter()
    ba, edges = _bins(xa)
    out["sliceline_errors"] = {"slices": _sliceline(ba, ya != yp, np.ones(len(xa), dtype=bool))}
    out["sliceline_errors"]["s"] = time.perf_counter() - t
    t = time.perf_counter()
    pooled, _ = _bins(np.vstack([xt, xa]))
    dom = np.r_[np.zeros(len(xt)), np.ones(len(xa))]
    out["sliceline_domain"] = {"slices": _sliceline(pooled, dom, dom == 1), "s": 0.0}
    out["sliceline_domain"]["s"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        out["cleanlab"] = {"slices": _cleanlab(xa, ya, yp)}
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a benchmark result
        out["cleanlab"] = {"slices": [], "error": f"{type(exc).__name__}: {exc}"}
    out["cleanlab"]["s"] = time.perf_counter() - t
    return out


def main(case_dir: str) -> None:
    root = Path(case_dir)
    res = {p.stem: _run(p) for p in sorted(root.glob("*.npz"))}
    (root / "peers.json").write_text(json.dumps(res))
    versions = {}
    for name in ("sliceline", "cleanlab"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = None
    (root / "peer_versions.json").write_text(json.dumps(versions))
    print(f"peers: {len(res)} case(s) -> {root / 'peers.json'}; pandas {pd.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
