"""Bundled scenarios on real data (no download), for the demo, the notebook and the tests.

``load_digits_drift`` builds the default scenario from scikit-learn's bundled digits (1,797
real 8x8 scans of handwritten digits by 43 writers), upsampled to 16x16:

* **the shifted sub-population** ("heavy slanted strokes"): a digit written with a broad pen
  and a strong slant, made by a grey dilation (``dilation`` x ``dilation`` pixels) and a shear
  (``shear``) of the real scan;
* **old data** (the incumbent's training set and the old holdout): heavy slanted digits are rare
  (``old_share``, 3% by default);
* **new data** (a labelled batch and the new holdout): they have become common (``new_share``,
  70%): the writers switched pens.

The digits are split between old and new *before* any transform, so no scan appears in both.
A model trained on the old data loses about ten points of accuracy on the heavy slanted digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from diagnose._exceptions import ParameterError
from diagnose._random import check_random_state

__all__ = ["DigitsDrift", "load_digits_drift"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsDrift:
    """The four parts of the scenario. Each is a mapping ``{"images": uint8 (n, S, S, 1),
    "labels": int64 (n,), "heavy": bool (n,)}``; ``heavy`` marks the shifted sub-population."""

    old: dict[str, np.ndarray]
    new: dict[str, np.ndarray]
    old_test: dict[str, np.ndarray]
    new_test: dict[str, np.ndarray]
    params: dict[str, Any]

    def source(self, part: str) -> dict[str, np.ndarray]:
        """``{"images", "labels"}`` of one part: the form curate's builder and eval sets take."""
        data = getattr(self, part)
        return {"images": data["images"], "labels": data["labels"]}

    def summary(self) -> str:
        rows = []
        for part in ("old", "new", "old_test", "new_test"):
            d = getattr(self, part)
            rows.append(f"{part:<9} {len(d['labels']):>5} images, {d['heavy'].mean():6.1%} heavy slanted")
        return "\n".join(rows)


def _heavy_slanted(img: np.ndarray, shear: float, dilation: int) -> np.ndarray:
    from scipy import ndimage

    out = ndimage.grey_dilation(img, size=(dilation, dilation))
    m = np.array([[1.0, shear], [0.0, 1.0]])
    centre = np.array(out.shape) / 2.0
    out = ndimage.affine_transform(out, m, offset=centre - m @ centre, order=1)
    return np.clip(out, 0.0, 1.0)


def load_digits_drift(
    *,
    random_state: int = 0,
    size: int = 16,
    old_share: float = 0.03,
    new_share: float = 0.7,
    shear: float = 0.5,
    dilation: int = 4,
    old_fraction: float = 0.56,
    test_fraction: float = 0.3,
    n_samples: int | None = None,
) -> DigitsDrift:
    """Build the digits drift scenario (see the module docstring).

    Parameters
    ----------
    random_state : seed for the split and for who is drawn into the shifted sub-population.
    size : side of the upsampled images (>= 8).
    old_share, new_share : share of heavy slanted digits in the old and in the new data.
    shear, dilation : strength of the shift.
    old_fraction : share of the 1,797 scans that go to the old data (the rest is new).
    test_fraction : share of each side held out for evaluation.
    n_samples : use only this many scans (for quick tests); None uses all 1,797.
    """
    from scipy import ndimage
    from sklearn.datasets import load_digits

    for name, value in (("old_share", old_share), ("new_share", new_share), ("old_fraction", old_fraction),
                        ("test_fraction", test_fraction)):
        if not 0.0 <= float(value) <= 1.0:
            raise ParameterError(
                f"The {name!r} parameter of load_digits_drift must be a float in the range [0.0, 1.0]. "
                f"Got {value} instead."
            )
    if int(size) < 8:
        raise ParameterError(f"The 'size' parameter of load_digits_drift must be an int >= 8. Got {size} instead.")
    digits = load_digits()
    rng = check_random_state(random_state)
    order = rng.permutation(len(digits.target))
    if n_samples is not None:
        if not 40 <= int(n_samples) <= len(order):
            raise ParameterError(
                f"The 'n_samples' parameter of load_digits_drift must be an int in [40, {len(order)}]. "
                f"Got {n_samples} instead."
            )
        order = order[: int(n_samples)]
    base = digits.images[order] / 16.0
    labels = digits.target[order].astype(np.int64)
    zoomed = np.stack([np.clip(ndimage.zoom(x, size / 8.0, order=1), 0.0, 1.0) for x in base])

    n_old = int(round(len(order) * old_fraction))
    parts: dict[str, dict[str, np.ndarray]] = {}
    for side, sl, share in (("old", slice(0, n_old), old_share), ("new", slice(n_old, None), new_share)):
        imgs, labs = zoomed[sl], labels[sl]
        heavy = rng.random(len(labs)) < share
        out = imgs.copy()
        for i in np.flatnonzero(heavy):
            out[i] = _heavy_slanted(imgs[i], shear, dilation)
        u8 = np.round(out * 255.0).astype(np.uint8)[..., None]
        n_test = int(round(len(labs) * test_fraction))
        test, train = slice(0, n_test), slice(n_test, None)
        parts[side] = {"images": u8[train], "labels": labs[train], "heavy": heavy[train]}
        parts[f"{side}_test"] = {"images": u8[test], "labels": labs[test], "heavy": heavy[test]}
    params = {
        "random_state": random_state, "size": size, "old_share": old_share, "new_share": new_share,
        "shear": shear, "dilation": dilation, "old_fraction": old_fraction, "test_fraction": test_fraction,
        "n_samples": n_samples,
    }
    return DigitsDrift(**parts, params=params)
