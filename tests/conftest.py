"""Suite-wide settings: one thread per library (2-core machines), no GUI backend, no progress
bars, no network for albumentations, a persistent numba cache for UMAP's JIT."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("CURAKIT_PROGRESS", "0")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _torch_one_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the test install
        yield
        return
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def digits():
    """sklearn's bundled digits: (images uint8 (1797, 8, 8, 1) in [0, 255], labels)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images / 16.0 * 255.0).astype(np.uint8)[..., None]
    return images, d.target.astype(np.int64)
