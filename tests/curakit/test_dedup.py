"""augment._dedup: exact and near duplicates for tables and images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from curakit import dedup as _dedup
from curakit.dedup import duplicated, exact_keys, find_duplicates
from curate import DataError, ParameterError


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(as_frame=True).frame.drop(columns="target")


def test_exact_keys_equal_rows_equal_keys_across_dtypes():
    a = pd.DataFrame({"x": [1, 2, 3], "s": ["u", None, "w"]})
    b = pd.DataFrame({"x": [1.0, 2.0, 3.5], "s": pd.Series(["u", None, "w"], dtype="category")})
    ka, kb = exact_keys(a), exact_keys(b)
    assert ka.dtype == np.uint64 and ka[0] == kb[0] and ka[1] == kb[1] and ka[2] != kb[2]
    assert exact_keys(pd.DataFrame({"x": [-0.0, np.nan]}))[0] == exact_keys(pd.DataFrame({"x": [0.0, np.nan]}))[0]
    np.testing.assert_array_equal(exact_keys(a, rows=[2, 0]), ka[[2, 0]])
    # column order matters for keys (find_duplicates aligns columns by name first)
    assert exact_keys(a[["s", "x"]])[0] != ka[0]


def test_duplicated_exact_keeps_first(cancer):
    X = pd.concat([cancer, cancer.iloc[[5, 7, 5]]], ignore_index=True)
    dup = duplicated(X)
    assert dup.sum() == 3 and dup[-3:].all() and not dup[:-3].any()
    imgs = np.random.default_rng(0).integers(0, 256, (20, 6, 6, 3), dtype=np.uint8)
    imgs[7] = imgs[2]
    assert np.flatnonzero(duplicated(imgs)).tolist() == [7]


def test_verification_survives_a_forced_key_collision(monkeypatch, cancer):
    X = cancer.iloc[:50].reset_index(drop=True)
    monkeypatch.setattr(_dedup, "_frame_keys", lambda frame, rows, which: np.zeros(len(frame) if rows is None else len(rows), np.uint64) + which)
    assert not duplicated(X).any()  # every key collides; rows are compared and found distinct
    assert len(find_duplicates(X.iloc[:3], X.iloc[10:20])) == 0


def test_find_duplicates_exact_pairs(cancer):
    ref = cancer.iloc[:300]
    cand = pd.concat([cancer.iloc[[400, 10, 450, 299]], cancer.iloc[[10]]], ignore_index=True)
    cand = cand[list(reversed(cand.columns))]  # column order differs: aligned by name
    pairs = find_duplicates(cand, ref)
    assert pairs.tolist() == [[1, 10], [3, 299], [4, 10]]


def test_near_duplicates_tabular_in_standard_deviations(cancer):
    rng = np.random.default_rng(0)
    sd = cancer.std(ddof=0).to_numpy()
    ref = cancer.iloc[:200].reset_index(drop=True)
    close = ref.iloc[:20] + rng.uniform(-0.04, 0.04, (20, ref.shape[1])) * sd
    far = ref.iloc[20:40] + 0.5 * sd
    cand = pd.concat([close, far], ignore_index=True)
    assert len(find_duplicates(cand, ref)) == 0
    pairs = find_duplicates(cand, ref, tolerance=0.1)
    assert pairs[:, 0].tolist() == list(range(20)) and pairs[:, 1].tolist() == list(range(20))
    # within a set: each near copy is dropped, originals are kept
    both = pd.concat([ref.iloc[:20], close], ignore_index=True)
    assert np.flatnonzero(duplicated(both, tolerance=0.1)).tolist() == list(range(20, 40))


def test_near_duplicates_need_equal_categories_and_nan_matches_nan():
    a = pd.DataFrame({"v": [1.0, 2.0, np.nan], "c": ["x", "y", "x"]})
    b = pd.DataFrame({"v": [1.001, 2.001, np.nan], "c": ["x", "z", "x"]})
    assert find_duplicates(b, a, tolerance=0.1).tolist() == [[0, 0], [2, 2]]


def test_near_duplicate_images_by_rms_pixel_difference(digits):
    images, _ = digits
    rng = np.random.default_rng(1)
    ref = images[:300]
    small = np.clip(ref[:15].astype(int) + rng.integers(-4, 5, ref[:15].shape), 0, 255).astype(np.uint8)
    big = np.clip(ref[15:30].astype(int) + 60, 0, 255).astype(np.uint8)
    cand = np.concatenate([small, big])
    assert len(find_duplicates(cand, ref)) == 0
    pairs = find_duplicates(cand, ref, tolerance=0.03)
    assert pairs.tolist() == [[k, k] for k in range(15)]
    rms = np.sqrt(((small.astype(float) - ref[:15]) ** 2).mean(axis=(1, 2, 3)))
    assert (rms <= 0.03 * 255).all()
    assert np.flatnonzero(duplicated(np.concatenate([ref[:15], small]), tolerance=0.03)).tolist() == list(range(15, 30))


def test_downsampled_space_never_misses_a_pair():
    """Block means never separate two images more than their full RMS difference."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (200, 28, 28, 1), dtype=np.uint8)
    b = rng.integers(0, 256, (200, 28, 28, 1), dtype=np.uint8)
    low = np.linalg.norm(_dedup.image_space(a) - _dedup.image_space(b), axis=1)
    full = np.sqrt(((a.astype(float) - b) ** 2).mean(axis=(1, 2, 3)))
    assert (low <= full + 1e-6).all()


def test_dedup_errors(cancer, digits):
    images, _ = digits
    with pytest.raises(ParameterError, match=r"^The 'tolerance' parameter of duplicate detection must be a float in the range \[0\.0, 1\.0\] \(a fraction of the pixel range\)\. Got 2 instead\.$"):
        duplicated(images[:5], tolerance=2)
    with pytest.raises(DataError, match=r"^Cannot compare rows with different columns \(only in candidates: \['extra'\]; only in reference: \[\]\)"):
        find_duplicates(cancer.iloc[:3].assign(extra=1), cancer.iloc[:3])
    with pytest.raises(DataError, match=r"^Cannot compare images of shape \(8, 8, 1\) with images of shape \(4, 4, 1\)"):
        find_duplicates(images[:3], images[:3, :4, :4])
    with pytest.raises(DataError, match=r"^Images must be uint8"):
        duplicated(images[:3].astype(np.float32))


def test_empty_inputs():
    assert duplicated(pd.DataFrame({"a": []})).shape == (0,)
    assert find_duplicates(pd.DataFrame({"a": []}), pd.DataFrame({"a": [1.0]})).shape == (0, 2)


def test_scale_from_sets_the_units_of_tolerance(cancer):
    ref = cancer.iloc[:2].reset_index(drop=True)  # two rows: a tiny, unsteady spread
    cand = ref + 0.02 * cancer.std(ddof=0)
    assert len(find_duplicates(cand, ref, tolerance=0.05)) == 0
    assert find_duplicates(cand, ref, tolerance=0.05, scale_from=cancer).tolist() == [[0, 0], [1, 1]]
