"""Does diagnose.find_slices surface a planted weak sub-population, and how does cleanlab's
Datalab ``underperforming_group`` check do on the same embeddings?

Data: scikit-learn's real 8x8 digits. A sub-population is planted: a share of the images of a
few digits is drawn with thick strokes (grey dilation) and rotated by 90 degrees. Such variants
are made rare in training (a handful kept) and common in the analysed (test) split. A small CNN
(curate.models.SmallCNN) is trained on the training split; its penultimate features
(``diagnose.embed``, layer=None) are the embeddings of both splits.

Measured, per seed: the rank of the found slice (the reported slice with the highest Jaccard
overlap with the planted rows) in ``d.slices`` and that Jaccard; the same for cleanlab (its
clusters ranked by its underperformance score, worst first; Jaccard of its flagged group).
Target: planted slice in the top 3 with Jaccard >= 0.6.

cleanlab is AGPL: it is never a dependency. It runs in a subprocess from a separate venv,
``/work/main/.venv-peers`` (``python3 -m venv .venv-peers && .venv-peers/bin/pip install cleanlab
scikit-learn``); without that venv its column says "skipped".

Run: ``.venv/bin/python benchmarks/bench_diagnose_quality.py [--quick]``; writes
``benchmarks/results/diagnose_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))
os.environ.setdefault("CURAKIT_PROGRESS", "0")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEERS = ROOT / ".venv-peers" / "bin" / "python"
PLANTED_DIGITS = (2, 3, 5)

PEER_SCRIPT = r"""
import json, sys, numpy as np
from cleanlab import Datalab
d = np.load(sys.argv[1])
runs = {}
for name, kwargs in [("default", {})] + [(f"eps={e}", {"clustering_kwargs": {"eps": e}}) for e in (0.05, 0.1, 0.2, 0.3)]:
    lab = Datalab(data={"label": d["y"]}, label_name="label", verbosity=0)
    lab.find_issues(features=d["emb"], pred_probs=d["proba"], issue_types={"underperforming_group": kwargs})
    issues = lab.get_issues("underperforming_group")
    stats = lab.get_info("underperforming_group")["clustering"]["stats"]
    runs[name] = {
        "flagged": np.flatnonzero(issues["is_underperforming_group_issue"].to_numpy()).tolist(),
        "scores": issues["underperforming_group_score"].to_numpy().tolist(),
        "cluster_ids": np.asarray(stats["cluster_ids"]).tolist(),
    }
json.dump(runs, open(sys.argv[2], "w"))
"""


def make_data(seed: int, share: float = 0.35, keep_in_train: int = 4, digits: tuple[int, ...] = PLANTED_DIGITS):
    from scipy.ndimage import grey_dilation
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images / 16.0
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    variant = np.isin(y, digits) & (rng.random(len(y)) < share)
    imgs = images.copy()
    for i in np.flatnonzero(variant):
        imgs[i] = np.rot90(grey_dilation(images[i], size=(2, 2)))
    imgs = np.round(np.clip(imgs, 0, 1) * 255).astype(np.uint8)[..., None]
    idx = rng.permutation(len(y))
    train, test = idx[: int(0.55 * len(y))], idx[int(0.55 * len(y)) :]
    tv = train[variant[train]]
    train = np.concatenate([train[~variant[train]], tv[:keep_in_train]])
    return imgs, y, variant, train, test


def train_cnn(images, y, seed: int, epochs: int = 30):
    import torch
    from torch import nn

    from curate.models import SmallCNN

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = SmallCNN(num_classes=10, in_channels=1, width=8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    t = torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), 64):
            b = perm[s : s + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), t[b]).backward()
            opt.step()
    return model.eval()


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def run_peer(y, emb, proba):
    if not PEERS.exists():
        return {"status": "skipped: no .venv-peers with cleanlab (see the module docstring)"}
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", y=y, emb=emb, proba=proba)
        script = Path(tmp) / "peer.py"
        script.write_text(PEER_SCRIPT)
        t = time.perf_counter()
        proc = subprocess.run(
            [str(PEERS), str(script), str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.json")],
            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        if proc.returncode != 0:
            return {"status": "failed: " + proc.stderr.strip().splitlines()[-1][:200]}
        return {"status": "ok", "runs": json.loads((Path(tmp) / "out.json").read_text()),
                "seconds": time.perf_counter() - t}  # fmt: skip


def one_seed(seed: int, epochs: int, share: float = 0.35, digits: tuple[int, ...] = PLANTED_DIGITS) -> dict:
    import diagnose
    from curakit.adapters import predict_proba

    images, y, variant, train, test = make_data(seed, share=share, digits=digits)
    model = train_cnn(images[train], y[train], seed, epochs)
    proba = predict_proba(model, images[test])
    pred = proba.argmax(1)
    emb_test = diagnose.embed(model, images[test])
    emb_train = diagnose.embed(model, images[train])
    planted = variant[test]
    errors = pred != y[test]

    t = time.perf_counter()
    d = diagnose.find_slices(
        y[test], pred, proba=proba, embeddings=emb_test, train_embeddings=emb_train, random_state=seed
    )
    secs = time.perf_counter() - t
    overlaps = [jaccard(s.mask(), planted) for s in d.slices]
    best = int(np.argmax(overlaps)) if overlaps else -1
    ours = {
        "rank": best + 1 if best >= 0 else None,
        "jaccard": overlaps[best] if best >= 0 else 0.0,
        "found": d.slices[best].description if best >= 0 else None,
        "reasons": d.slices[best].evidence.get("reasons") if best >= 0 else None,
        "n_slices": len(d.slices),
        "top3": [f"{s.method}: {s.description}" for s in d.slices[:3]],
        "mean_contains_agreement": d.info.get("clusters", {}).get("mean_contains_agreement"),
        "seconds": secs,
    }
    peer = run_peer(y[test], emb_test, proba)
    if peer.get("status") == "ok":
        evaluated = {}
        for name, run in peer["runs"].items():
            cid = np.asarray(run["cluster_ids"])
            scores = np.asarray(run["scores"])
            flagged = np.zeros(len(cid), dtype=bool)
            flagged[run["flagged"]] = True
            clusters = [c for c in np.unique(cid) if c >= 0]
            by_score = sorted(clusters, key=lambda c: float(scores[cid == c].min()))  # lower = worse
            ov = {c: jaccard(cid == c, planted) for c in clusters}
            bestc = max(clusters, key=lambda c: ov[c]) if clusters else None
            evaluated[name] = {
                "n_clusters": len(clusters),
                "flagged_rows": int(flagged.sum()),
                "flagged_jaccard": jaccard(flagged, planted),
                "best_cluster_jaccard": ov.get(bestc, 0.0),
                "best_cluster_rank": by_score.index(bestc) + 1 if bestc is not None else None,
            }
        best_eps = max((k for k in evaluated if k != "default"), key=lambda k: evaluated[k]["flagged_jaccard"])
        peer = {"status": "ok", "seconds": peer["seconds"], "default": evaluated["default"],
                "best_eps": best_eps, "oracle": evaluated[best_eps], "all": evaluated}  # fmt: skip
    return {
        "seed": seed,
        "n_test": int(len(test)),
        "planted_rows": int(planted.sum()),
        "planted_in_train": int(variant[train].sum()),
        "planted_error_rate": float(errors[planted].mean()),
        "other_error_rate": float(errors[~planted].mean()),
        "curakit": ours,
        "cleanlab": peer,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one seed, fewer epochs")
    ap.add_argument("--share", type=float, default=0.35, help="share of the planted digits' images turned into variants")
    ap.add_argument("--digits", default=",".join(map(str, PLANTED_DIGITS)), help="planted digits, comma-separated")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2; quick: 0)")
    args = ap.parse_args()
    digits = tuple(int(v) for v in args.digits.split(","))
    seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else ([0] if args.quick else [0, 1, 2])
    epochs = 15 if args.quick else 30
    rows = [one_seed(s, epochs, args.share, digits) for s in seeds]

    print(f"{'seed':>4} {'planted':>7} {'err planted/other':>17} | {'curakit rank':>12} {'Jaccard':>7} | "
          f"{'cleanlab default: flagged J':>27} | {'cleanlab best eps (oracle): flagged J, best-cluster J (rank)':>58}")  # fmt: skip
    for r in rows:
        c, p = r["curakit"], r["cleanlab"]
        if p.get("status") == "ok":
            dflt, orc = p["default"], p["oracle"]
            peer_txt = (f"{dflt['flagged_jaccard']:>15.2f} ({dflt['n_clusters']} clusters) | "
                        f"{p['best_eps']:>9}: {orc['flagged_jaccard']:.2f}, {orc['best_cluster_jaccard']:.2f} "
                        f"(rank {orc['best_cluster_rank']} of {orc['n_clusters']})")  # fmt: skip
        else:
            peer_txt = p.get("status", "")
        print(
            f"{r['seed']:>4} {r['planted_rows']:>7} {r['planted_error_rate']:>8.2f}/{r['other_error_rate']:<8.2f} | "
            f"{str(c['rank']):>12} {c['jaccard']:>7.2f} | " + peer_txt
        )
    hits = sum(1 for r in rows if r["curakit"]["rank"] is not None and r["curakit"]["rank"] <= 3 and r["curakit"]["jaccard"] >= 0.6)
    print(f"target (top 3, Jaccard >= 0.6) met in {hits}/{len(rows)} seeds")
    for r in rows:
        print(f"seed {r['seed']} top 3: " + " | ".join(r["curakit"]["top3"]))
    default = args.share == 0.35 and digits == PLANTED_DIGITS
    name = "diagnose_quality" if default else f"diagnose_quality_d{''.join(map(str, digits))}_s{args.share}"
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    from curakit.io import atomic_write_json

    atomic_write_json(out, {"quick": args.quick, "digits": list(digits), "share": args.share, "seeds": rows,
                            "target_met": f"{hits}/{len(rows)}"})  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
