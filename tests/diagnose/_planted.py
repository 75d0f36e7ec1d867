"""The planted representation gap shared by the coverage and drift tests: breast_cancer split in two,
rows with mean radius > 17 kept in the first part only 1 time in 20."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer


def planted_split(seed: int = 0):
    """(X, y, first, second, region, rng): row positions of both parts; rng continues the same stream."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(seed)
    region = (X["mean radius"] > 17).to_numpy()
    idx = rng.permutation(len(X))
    first, second = idx[:300], idx[300:]
    first = np.array([i for i in first if not region[i] or rng.random() < 0.05])
    return X, y, first, second, region, rng
