"""Online augmentation (``augment.OnlineAugment``) vs a bare albumentations Dataset.

Images: 64x64 RGB tiles from scikit-learn's two bundled photos (real images), repeated to
N samples (2,000 by default; --quick 500). Pipeline: flip, affine, brightness/contrast, noise.
Both datasets return a float32 (C, H, W) tensor in [0, 1] and the label; both are read through a
``DataLoader(batch_size=64, num_workers=0)`` for one epoch. The bare one calls the pipeline
without any seeding; ``OnlineAugment`` derives a seed per (epoch, index) and applies per-sample
probabilities (all 1.0 here, so both augment every sample).

OpenCV and torch run one thread. Best of ``--repeat`` interleaved epochs (default 5).
Run: ``.venv/bin/python benchmarks/bench_augment_online.py [--quick]``; writes
benchmarks/results/augment_online.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import albumentations as A
import cv2
import numpy as np
import torch
from sklearn.datasets import load_sample_images
from torch.utils.data import DataLoader, Dataset

import augment


def tiles(size: int = 64) -> np.ndarray:
    out = []
    for img in load_sample_images().images:
        h, w = img.shape[:2]
        for i in range(0, h - size + 1, size):
            for j in range(0, w - size + 1, size):
                out.append(img[i : i + size, j : j + size])
    return np.stack(out).astype(np.uint8)


def pipeline() -> A.Compose:
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(rotate=(-20, 20), scale=(0.9, 1.1), p=0.9),
            A.RandomBrightnessContrast(p=0.8),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.5),
        ]
    )


class Bare(Dataset):
    def __init__(self, images, labels, pipe):
        self.images, self.labels, self.pipe = images, labels, pipe

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        out = self.pipe(image=self.images[i])["image"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))).float().div_(255.0), self.labels[i]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    base = tiles()
    n = 500 if args.quick else 2000
    images = base[np.arange(n) % len(base)]
    labels = np.arange(n) % 5
    bare = Bare(images, labels, pipeline())
    ours = augment.OnlineAugment((images, labels), pipeline(), random_state=0)

    def epoch(ds):
        for _ in DataLoader(ds, batch_size=64, shuffle=False, num_workers=0):
            pass

    t_bare, t_ours = [], []
    for r in range(args.repeat):
        ours.set_epoch(r)
        t = time.perf_counter()
        epoch(bare)
        t_bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        epoch(ours)
        t_ours.append(time.perf_counter() - t)
    b, o = min(t_bare), min(t_ours)
    print(f"{n} samples of 64x64x3 per epoch, {os.cpu_count()} cores (shared)\n")
    print(f"{'dataset':<36}{'s/epoch':>9}{'samples/s':>11}{'time vs bare':>14}")
    print(f"{'bare albumentations Dataset':<36}{b:>9.3f}{n / b:>11.0f}{1.0:>14.3f}")
    print(f"{'augment.OnlineAugment':<36}{o:>9.3f}{n / o:>11.0f}{o / b:>14.3f}")
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work)",
        "n_samples": n,
        "repeat": args.repeat,
        "bare_s": b,
        "online_s": o,
        "time_ratio": o / b,
        "goal": "time ratio <= 1.05",
    }
    out = Path(__file__).resolve().parent / "results" / "augment_online.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
