"""Online augmentation: reproducible, distinct seeds per epoch and worker; weights; dataset forms."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
torch = pytest.importorskip("torch")
A = pytest.importorskip("albumentations")

from torch.utils.data import DataLoader, Dataset  # noqa: E402

import augment  # noqa: E402
from diagnose import Slice  # noqa: E402


def pipe():
    return A.Compose([A.Affine(rotate=(-20, 20), p=1.0), A.GaussNoise(std_range=(0.05, 0.1), p=0.5)])


@pytest.fixture(scope="module")
def small(digits):
    images, labels = digits
    return images[:64], labels[:64]


def _epoch(ds, **loader):
    xs = [x for x, _ in DataLoader(ds, batch_size=16, shuffle=False, **loader)]
    return torch.cat(xs)


def test_is_a_torch_dataset_and_returns_chw_floats(small):
    images, labels = small
    ds = augment.OnlineAugment((images, labels), pipe(), random_state=0)
    assert isinstance(ds, Dataset) and isinstance(ds, augment.OnlineAugment) and len(ds) == 64
    x, y = ds[3]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y == labels[3]
    img, done = ds.augment(3)
    assert done and img.dtype == np.uint8
    np.testing.assert_allclose(x.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=0, atol=1e-7)


def test_seeds_reproducible_across_workers_and_distinct_across_epochs(small):
    images, labels = small
    ds = augment.OnlineAugment((images, labels), pipe(), random_state=0)
    e0 = _epoch(ds)
    e0_workers = _epoch(ds, num_workers=2)
    torch.testing.assert_close(e0, e0_workers, rtol=0, atol=0)
    ds.set_epoch(1)
    e1 = _epoch(ds, num_workers=2)
    assert not torch.equal(e0, e1)
    torch.testing.assert_close(e1, _epoch(ds), rtol=0, atol=0)
    # persistent workers see set_epoch too
    ds.set_epoch(0)
    loader = DataLoader(ds, batch_size=16, num_workers=2, persistent_workers=True)
    first = torch.cat([x for x, _ in loader])
    ds.set_epoch(1)
    second = torch.cat([x for x, _ in loader])
    torch.testing.assert_close(first, e0, rtol=0, atol=0)
    torch.testing.assert_close(second, e1, rtol=0, atol=0)
    # every sample of an epoch has its own seed; another random_state gives other images
    seeds = {ds.seed(i, 0) for i in range(64)}
    assert len(seeds) == 64
    other = augment.OnlineAugment((images, labels), pipe(), random_state=1)
    assert not torch.equal(_epoch(other), e0)


def test_select_and_weights_steer_augmentation_toward_a_slice(small):
    images, labels = small
    members = np.arange(0, 64, 4)
    s = Slice(id="clusters-aa", method="clusters", description="d", indices=members, n_analysed=64,
              error_rate=0.5, baseline_error_rate=0.1)
    ds = augment.OnlineAugment((images, labels), pipe(), select=s, random_state=0)
    inside = np.zeros(64, dtype=bool)
    inside[members] = True
    for epoch in (0, 1):
        flags = np.array([ds.augment(i, epoch)[1] for i in range(64)])
        np.testing.assert_array_equal(flags, inside)
    raw = ds[1][0].numpy()
    np.testing.assert_allclose(raw, images[1].transpose(2, 0, 1) / 255.0, atol=1e-7)
    # per-sample probabilities: about that share of draws is augmented
    probs = np.where(inside, 0.9, 0.1)
    ds2 = augment.OnlineAugment({"images": images, "labels": labels}, pipe(), weights=probs, random_state=0)
    rate = np.mean([[ds2.augment(i, e)[1] for i in range(64)] for e in range(20)], axis=0)
    assert rate[inside].mean() > 0.75 and rate[~inside].mean() < 0.25
    # a sampler draws slice members more often
    draws = np.array(list(iter(ds.sampler(boost=9.0, num_samples=4000))))
    share = np.isin(draws, members).mean()
    assert 0.6 < share < 0.8  # expected 16*9 / (16*9 + 48) = 0.75


class _TensorPairs(Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i].transpose(2, 0, 1).copy()), int(self.labels[i])


def test_dataset_forms_and_transform_give_the_same_samples(small):
    images, labels = small
    a = augment.OnlineAugment((images, labels), pipe(), random_state=3)
    b = augment.OnlineAugment(_TensorPairs(images, labels), pipe(), random_state=3)
    torch.testing.assert_close(_epoch(a), _epoch(b), rtol=0, atol=0)
    c = augment.OnlineAugment((images, labels), pipe(), random_state=3, transform=lambda im: im.astype(np.float32).sum())
    assert c[5][0] == pytest.approx(a.augment(5)[0].astype(np.float32).sum())


def test_bad_inputs(small):
    images, labels = small
    with pytest.raises(ValueError, match=r"must hold probabilities in \[0\.0, 1\.0\]"):
        augment.OnlineAugment((images, labels), pipe(), weights=np.full(64, 1.5))
    with pytest.raises(ValueError, match=r"weights has shape \(3,\) for 64 samples"):
        augment.OnlineAugment((images, labels), pipe(), weights=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"images must be uint8 shaped \(n, H, W, C\)"):
        augment.OnlineAugment((images.astype(np.float32), labels), pipe())
    with pytest.raises(ValueError, match=r"The 'p' parameter of OnlineAugment must be a float in the range"):
        augment.OnlineAugment((images, labels), pipe(), p=2)
    ds = augment.OnlineAugment((images, labels), pipe())
    with pytest.raises(IndexError):
        ds[64]
    with pytest.raises(ValueError, match="The 'epoch' parameter of set_epoch must be a non-negative int"):
        ds.set_epoch(-1)


def test_a_selection_as_weights_is_the_deprecated_spelling_of_select(small):
    images, labels = small
    mask = np.zeros(64, dtype=bool)
    mask[::3] = True
    new = augment.OnlineAugment((images, labels), pipe(), select=mask, p=0.2, random_state=5)
    with pytest.warns(FutureWarning, match="renamed 'select'"):
        old = augment.OnlineAugment((images, labels), pipe(), weights=mask, p=0.2, random_state=5)
    np.testing.assert_array_equal(new.p_, old.p_)
    for i in range(64):
        a, fa = new.augment(i, 0)
        b, fb = old.augment(i, 0)
        assert fa == fb and np.array_equal(a, b)
    from curakit.exceptions import ParameterError

    with pytest.raises(ParameterError, match="both select= .* and weights="):
        augment.OnlineAugment((images, labels), pipe(), select=mask, weights=np.full(64, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # per-sample probabilities as weights= are not deprecated
        augment.OnlineAugment((images, labels), pipe(), weights=np.full(64, 0.5))
