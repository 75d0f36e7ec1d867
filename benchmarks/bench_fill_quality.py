"""Does filling help? Slice accuracy after retraining with each fill method vs without.

Scenario (real scans, no download): ``curate.datasets.load_digits_drift`` -- scikit-learn's
1,797 handwritten digits, 16x16, where "heavy slanted strokes" are a thin slice of the old
training data (``old_share=0.12``: about 90 of 704 images) and common in the new data. The slice
is known for the training rows (as a diagnosis would give it); the fill methods generate new rows
for it only; the model is retrained on old data + fill and scored on the heavy slanted digits of
the held-out sets (the slice) and on all held-out digits.

Models:
* pixels -> ``LogisticRegression`` (every tabular method: SMOTE, Borderline-SMOTE, ADASYN,
  random over-sampling, all slice-targeted, and offline albumentations augmentation of the slice);
* ``curate.models.SmallCNN`` (8 epochs): no fill, offline augmentation, online augmentation
  weighted toward the slice (p=1 in the slice, 0.2 elsewhere; alone, and with a sampler drawing
  slice images 5x as often), and feature-space SMOTE (a new head on the frozen backbone; compared
  with a new head trained the same way without fill, which isolates the effect of the fill).

A method that cannot run on a seed (ADASYN when a slice row has no other-class neighbour) is
compared with "none" on the seeds it ran on.

Every fill adds about 4x the slice size in new rows. Means over ``--seeds`` scenario seeds
(default 3; --quick: 1). Run: ``.venv/bin/python benchmarks/bench_fill_quality.py [--quick]``;
writes benchmarks/results/fill_quality.json.
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
import torch
from sklearn.linear_model import LogisticRegression

import augment
from curate.datasets import load_digits_drift
from curate.models import SmallCNN
from diagnose._embed import embed

FACTOR = 4  # new rows per slice row


def pipeline() -> A.Compose:
    return A.Compose(
        [
            A.Affine(rotate=(-10, 10), shear=(-12, 12), scale=(0.9, 1.1), translate_percent=(-0.06, 0.06), p=1.0),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
        ]
    )


def eval_sets(d):
    imgs = np.concatenate([d.old_test["images"], d.new_test["images"]])
    labs = np.concatenate([d.old_test["labels"], d.new_test["labels"]])
    heavy = np.concatenate([d.old_test["heavy"], d.new_test["heavy"]])
    return imgs, labs, heavy


def flat(images):
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def scores(pred, labels, heavy):
    return float((pred[heavy] == labels[heavy]).mean()), float((pred == labels).mean())


# -- pixels + logistic regression ------------------------------------------------------------------
def logreg(X, y):
    return LogisticRegression(max_iter=3000, C=0.5).fit(X, y)


def run_tabular(d, seed):
    X, y, heavy = flat(d.old["images"]), d.old["labels"], d.old["heavy"]
    ti, tl, th = eval_sets(d)
    Xt = flat(ti)
    counts = np.bincount(y[heavy], minlength=10)
    k = int(max(1, min(5, counts[counts > 0].min() - 1)))
    n = int(round(FACTOR * heavy.sum() / (counts > 0).sum()))
    out = {}
    out["none"] = scores(logreg(X, y).predict(Xt), tl, th)
    for method in ("smote", "borderline", "adasyn", "random_over"):
        try:
            X2, y2, _ = augment.oversample(X, y, method=method, select=heavy, n=n, k_neighbors=k, random_state=seed)
        except augment.CurakitError as exc:  # e.g. ADASYN with no other-class neighbour
            print(f"  {method}: skipped ({exc})")
            continue
        out[method] = scores(logreg(np.asarray(X2), y2).predict(Xt), tl, th)
    aug = augment.offline(d.old["images"], y, pipeline(), select=heavy, n=FACTOR * int(heavy.sum()), random_state=seed)
    Xa = np.concatenate([X, flat(aug.images)])
    ya = np.concatenate([y, aug.labels])
    out["offline (albumentations)"] = scores(logreg(Xa, ya).predict(Xt), tl, th)
    return out


# -- SmallCNN ------------------------------------------------------------------------------------
def to_tensor(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def train_cnn(loader_fn, seed, epochs):
    torch.manual_seed(seed)
    model = SmallCNN(num_classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader_fn(epoch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    model.eval()
    return model


def tensor_batches(images, labels, seed):
    x, y = to_tensor(images), torch.from_numpy(labels.astype(np.int64))

    def batches(epoch):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        for idx in torch.randperm(len(y), generator=g).split(64):
            yield x[idx], y[idx]

    return batches


def predict(model, images):
    with torch.no_grad():
        return model(to_tensor(images)).argmax(1).numpy()


def run_cnn(d, seed, epochs):
    images, y, heavy = d.old["images"], d.old["labels"], d.old["heavy"]
    ti, tl, th = eval_sets(d)
    out = {}
    base = train_cnn(tensor_batches(images, y, seed), seed, epochs)
    out["none"] = scores(predict(base, ti), tl, th)
    aug = augment.offline(images, y, pipeline(), select=heavy, n=FACTOR * int(heavy.sum()), random_state=seed)
    m = train_cnn(tensor_batches(np.concatenate([images, aug.images]), np.concatenate([y, aug.labels]), seed), seed, epochs)
    out["offline (albumentations)"] = scores(predict(m, ti), tl, th)

    ds = augment.OnlineAugment((images, y), pipeline(), weights=np.where(heavy, 1.0, 0.2), random_state=seed)

    def online(boost):
        def batches(epoch):
            ds.set_epoch(epoch)
            if boost:
                loader = torch.utils.data.DataLoader(ds, batch_size=64, sampler=ds.sampler(boost=boost))
            else:
                g = torch.Generator().manual_seed(seed * 1000 + epoch)
                loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, generator=g)
            for xb, yb in loader:
                yield xb, torch.as_tensor(yb, dtype=torch.int64)

        return batches

    m = train_cnn(online(None), seed, epochs)
    out["online (p=1 slice, 0.2 rest)"] = scores(predict(m, ti), tl, th)
    m = train_cnn(online(float(FACTOR + 1)), seed, epochs)
    out["online + 5x slice draws"] = scores(predict(m, ti), tl, th)

    Z = embed(base, images)
    counts = np.bincount(y[heavy], minlength=10)
    k = int(max(1, min(5, counts[counts > 0].min() - 1)))
    n = int(round(FACTOR * heavy.sum() / (counts > 0).sum()))
    Z2, y2, _ = augment.feature_smote(base, images, y, select=heavy, embeddings=Z, n=n, k_neighbors=k, random_state=seed)
    head_plain = augment.fit_head(Z, y, model=base, num_classes=10, random_state=seed)
    out["new head, no fill"] = scores(predict(head_plain, ti), tl, th)
    head = augment.fit_head(Z2, y2, model=base, num_classes=10, random_state=seed)
    out["feature-space SMOTE head"] = scores(predict(head, ti), tl, th)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(1 if args.quick else args.seeds))
    epochs = 4 if args.quick else 8
    results: dict[str, dict[str, dict[int, tuple[float, float]]]] = {"logreg": {}, "cnn": {}}
    t0 = time.perf_counter()
    for seed in seeds:
        d = load_digits_drift(random_state=seed, old_share=0.12)
        print(f"seed {seed}: {len(d.old['labels'])} old training images, {int(d.old['heavy'].sum())} in the slice")
        for name, got in (("logreg", run_tabular(d, seed)), ("cnn", run_cnn(d, seed, epochs))):
            for method, sc in got.items():
                results[name].setdefault(method, {})[seed] = sc
    rows = []
    print(f"\n{'model':<8}{'fill method':<30}{'slice acc':>10}{'vs none':>9}{'overall acc':>13}{'vs none':>9}{'seeds':>7}")
    for model, methods in results.items():
        for method, by_seed in methods.items():
            used = sorted(by_seed)  # compare with "none" on the same seeds
            sl = float(np.mean([by_seed[s][0] for s in used]))
            ov = float(np.mean([by_seed[s][1] for s in used]))
            b_sl = float(np.mean([methods["none"][s][0] for s in used]))
            b_ov = float(np.mean([methods["none"][s][1] for s in used]))
            rows.append({"model": model, "method": method, "slice_accuracy": sl, "overall_accuracy": ov,
                         "slice_gain": sl - b_sl, "overall_gain": ov - b_ov, "seeds": used})
            print(f"{model:<8}{method:<30}{sl:>10.3f}{sl - b_sl:>+9.3f}{ov:>13.3f}{ov - b_ov:>+9.3f}{len(used):>7}")
    print(f"\n{len(seeds)} seed(s), {time.perf_counter() - t0:.0f} s")
    out = Path(__file__).resolve().parent / "results" / "fill_quality.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seeds": seeds, "fill_factor": FACTOR, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
