"""Grad-CAM throughput and memory: diagnose.gradcam vs calling pytorch-grad-cam directly.

Same SmallCNN (trained one epoch on real digits, upscaled to 32x32), same images, same
target layer and batch size. Throughput goal: diagnose.gradcam (statistics only, no occlusion)
at least 0.9x of the raw loop ``GradCAM(...)(input_tensor=x, targets=None)`` per batch. We also
time the default (with the occlusion confidence-drop test, one extra forward pass per batch).
Memory goal: flat. Each size runs in a fresh subprocess and reports the growth of peak RSS
(ru_maxrss) during the call and the tracemalloc peak (numpy and Python allocations) at 1k and
10k images.

    .venv/bin/python benchmarks/bench_gradcam.py [--quick]
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

import numpy as np

LAYER = "backbone.5"
BATCH = 64


def make(n):
    import torch
    from sklearn.datasets import load_digits

    from curate.models import SmallCNN

    torch.set_num_threads(1)
    d = load_digits()
    base = np.round(d.images / 16 * 255).astype(np.uint8)
    base = np.kron(base, np.ones((4, 4), dtype=np.uint8))[..., None]  # 32x32 real digits
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X = torch.from_numpy(base).permute(0, 3, 1, 2).float() / 255
    Y = torch.from_numpy(d.target)
    for i in range(0, len(X), 64):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[i : i + 64]), Y[i : i + 64]).backward()
        opt.step()
    model.eval()
    reps = -(-n // len(base))
    images = np.concatenate([base] * reps)[:n]
    labels = np.concatenate([d.target] * reps)[:n]
    return model, images, labels


def raw(model, images):
    import torch
    from pytorch_grad_cam import GradCAM

    cam = GradCAM(model=model, target_layers=[dict(model.named_modules())[LAYER]])
    try:
        for s in range(0, len(images), BATCH):
            x = torch.from_numpy(images[s : s + BATCH]).permute(0, 3, 1, 2).float().div_(255)
            cam(input_tensor=x, targets=None)
    finally:
        cam.activations_and_grads.release()


def ours(model, images, labels, occlusion):
    import diagnose

    return diagnose.gradcam(model, images, target_layer=LAYER, labels=labels, batch_size=BATCH,
                            occlusion=occlusion, n_examples=0 if occlusion is None else 16)


def child(n):
    """Run in a subprocess: memory growth of one diagnose.gradcam call over n images."""
    import resource
    import tracemalloc

    model, images, labels = make(n)
    ours(model, images[:BATCH], labels[:BATCH], "mean")  # warm up (imports, first allocations)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    ours(model, images, labels, "mean")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "rss_growth_mb": (after - before) / 1024, "tracemalloc_peak_mb": peak / 2**20,
                      "images_mb": images.nbytes / 2**20}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", type=int, default=None)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return
    n = 1000 if args.quick else 4000
    model, images, labels = make(n)
    raw(model, images[:BATCH])
    ours(model, images[:BATCH], labels[:BATCH], None)
    times = {"raw": [], "stats": [], "default": []}
    for _ in range(3):  # interleaved repeats; the machine is shared, keep the best of each
        for key, fn in (
            ("raw", lambda: raw(model, images)),
            ("stats", lambda: ours(model, images, labels, None)),
            ("default", lambda: ours(model, images, labels, "mean")),
        ):
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    thr = {k: n / v for k, v in best.items()}
    print(f"{'run':40} {'images/s':>9} {'ratio vs raw':>12}")
    print(f"{'pytorch-grad-cam raw loop':40} {thr['raw']:9.0f} {1.0:12.2f}")
    print(f"{'diagnose.gradcam(occlusion=None)':40} {thr['stats']:9.0f} {thr['stats'] / thr['raw']:12.2f}")
    print(f"{'diagnose.gradcam() default (occlusion)':40} {thr['default']:9.0f} {thr['default'] / thr['raw']:12.2f}")
    mem = []
    for size in ([500, 2000] if args.quick else [1000, 10000]):
        out = subprocess.run([sys.executable, __file__, "--child", str(size)], capture_output=True, text=True, check=True)
        mem.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'images':>7} {'input MB':>9} {'peak RSS growth MB':>19} {'tracemalloc peak MB':>20}")
    for m in mem:
        print(f"{m['n']:7d} {m['images_mb']:9.1f} {m['rss_growth_mb']:19.1f} {m['tracemalloc_peak_mb']:20.1f}")
    from curakit.io import atomic_write_json

    res = {"images": n, "batch_size": BATCH, "layer": LAYER, "image_shape": [32, 32, 1], "seconds": times,
           "throughput": thr, "ratio_stats_vs_raw": thr["stats"] / thr["raw"],
           "ratio_default_vs_raw": thr["default"] / thr["raw"], "memory": mem, "quick": args.quick}
    out = Path(__file__).parent / "results" / "gradcam.json"
    atomic_write_json(out, res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
