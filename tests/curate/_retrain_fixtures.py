"""Small real scenarios for the retrain-side tests (digits with a constructed drift).

Old data: sklearn's digits as they are. New data: the same kind of digits shifted one pixel
to the right (a real change of input distribution the old model handles worse). Training sets
are built directly (frame + lineage manifest with split/weight), independent of the builder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment._lineage import LineageRow, lineage_frame
from curate._trainingset import TrainingSet


def make_ts(frame, target, origins, *, splits=None, features=None, images=None, weights=None, operations=None,
            seed=0):
    origins = list(origins)
    n = len(origins)
    rows = [
        LineageRow(row_id=f"{o}:{i}", origin=o, source=o,
                   operation=(operations[i] if operations is not None else "original"))
        for i, o in enumerate(origins)
    ]
    man = lineage_frame(rows)
    if splits is None:
        rng = np.random.default_rng(seed)
        splits = np.where(rng.random(n) < 0.2, "val", "train")
    man["split"] = list(splits)
    man["weight"] = 1.0 if weights is None else np.asarray(weights, dtype=float)
    return TrainingSet(kind="images" if images is not None else "tabular", target=target,
                       frame=frame.reset_index(drop=True), manifest=man, images=images, features=list(features or []))


def shift_right(images: np.ndarray) -> np.ndarray:
    out = np.zeros_like(images)
    out[:, :, 1:] = images[:, :, :-1]
    return out


def digits_drift(digits):
    """Positions and images: old_train, old_test, new_train, new_test, plus drifted images."""
    images, labels = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    old, new = order[:900], order[900:]
    drifted = images.copy()
    drifted[new] = shift_right(images[new])
    return {
        "images": drifted,
        "labels": labels,
        "old_train": old[:600],
        "old_test": old[600:],
        "new_train": new[:300],
        "new_test": new[300:],
    }


def tabular(digits):
    """(ts, eval_sets, frame, columns) for digits pixels as features (target 'digit')."""
    d = digits_drift(digits)
    columns = [f"px{i}" for i in range(64)]
    frame = pd.DataFrame(d["images"].reshape(len(d["labels"]), 64).astype(np.float64) / 16.0, columns=columns)
    frame["digit"] = d["labels"]
    train = np.concatenate([d["old_train"], d["new_train"]])
    origins = ["old"] * len(d["old_train"]) + ["new"] * len(d["new_train"])
    ts = make_ts(frame.iloc[train], "digit", origins, features=columns)
    evals = {"old": frame.iloc[d["old_test"]].reset_index(drop=True),
             "new": frame.iloc[d["new_test"]].reset_index(drop=True)}
    return ts, evals, frame, columns, d


def images(digits):
    """(ts, eval_sets, d) for SmallCNN on digits images."""
    d = digits_drift(digits)
    train = np.concatenate([d["old_train"], d["new_train"]])
    origins = ["old"] * len(d["old_train"]) + ["new"] * len(d["new_train"])
    ts = make_ts(pd.DataFrame({"digit": d["labels"][train]}), "digit", origins, images=d["images"][train])
    evals = {"old": (d["images"][d["old_test"]], d["labels"][d["old_test"]]),
             "new": (d["images"][d["new_test"]], d["labels"][d["new_test"]])}
    return ts, evals, d


def trained_cnn(digits, epochs=3):
    """A SmallCNN trained on the old training rows only (the incumbent)."""
    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN

    d = digits_drift(digits)
    model = reset_parameters(SmallCNN(num_classes=10, in_channels=1, width=8), 0)  # seeded initial weights
    fit_torch(model, d["images"][d["old_train"]], d["labels"][d["old_train"]],
              config=TrainConfig(epochs=epochs, lr=1e-2, batch_size=64), seed=0)
    return model


def breast_cancer_drift(folder):
    """Old/new Parquet tables from sklearn's breast cancer data with a constructed drift
    (a texture sensor offset and halved concavity on large tumours in the new rows)."""
    from pathlib import Path

    from sklearn.datasets import load_breast_cancer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d = load_breast_cancer(as_frame=True)
    cols = ["mean radius", "mean texture", "mean smoothness", "mean compactness", "mean concavity"]
    df = d.frame[cols + ["target"]].rename(columns=lambda c: c.replace(" ", "_"))
    order = np.random.default_rng(0).permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    old, new = df.iloc[:300].copy(), df.iloc[300:].copy()
    new["mean_texture"] = new["mean_texture"] + 6.0
    new.loc[new["mean_radius"] > 15, "mean_concavity"] *= 0.5
    old.to_parquet(folder / "old.parquet")
    new.to_parquet(folder / "new.parquet")
    return folder


RECIPE = {
    "name": "bc",
    "random_state": 0,
    "data": {"old": "old.parquet", "new": "new.parquet", "target": "target", "eval_fraction": 0.3},
    "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2000, "warm_start": True}},
    "diagnose": {"methods": ["rules", "confusion"], "max_slices": 2},
    "fill": {"method": "smote", "n": 20},
    "build": {"mix": 0.5, "rehearse": {"n": 30}, "split": 0.1},
    "retrain": {"strategies": ["continue_new", "continue_all", "scratch_all", "ensemble_all"], "max_forgetting": 0.05},
    "gate": {"min_gain_new": 0.0, "max_drop_old": 0.05, "n_bootstrap": 300},
    "registry": "reg",
    "output": "out",
}
