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

``load_breast_cancer_drift`` builds a tabular scenario from scikit-learn's bundled Wisconsin
diagnostic breast cancer data (569 real fine-needle aspirates, the 10 ``mean_*`` cell-nucleus
measurements, target ``diagnosis`` in {"malignant", "benign"}). The rows are shuffled and split
into old and new *before* the drift, so no aspirate appears in both. The new rows come from a
clinic that changed its imaging system:

* **calibration**: lengths are reported ``scale`` (1.15) times larger (``mean_radius``,
  ``mean_perimeter``; ``mean_area`` by ``scale**2``);
* **sensor**: ``mean_texture`` (the grey-level spread) reads ``texture_offset`` (+4.0, about one
  standard deviation) higher;
* **segmentation** (the shifted sub-population): contours of large nuclei (true mean radius
  above ``large_radius``, 15) are smoothed, so their ``mean_concavity`` and
  ``mean_concave_points`` shrink by ``concavity_factor`` (0.5): large malignant nuclei look benign.

A logistic regression trained on the old rows loses 10 to 25 points of accuracy on the new
holdout (depending on the seed); retraining on old + new rows recovers most of it.

:data:`SCENARIOS` names the scenarios a recipe can use (``data.scenario``), with their kind
(``"images"`` or ``"tabular"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import ParameterError
from curakit.plugins import PluginRegistry
from curakit.seeds import check_random_state
from curakit.validation import check_interval

__all__ = ["DigitsDrift", "SCENARIOS", "TabularDrift", "load_breast_cancer_drift", "load_digits_drift"]


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
        check_interval(value, name, "load_digits_drift", low=0.0, high=1.0)
    size = check_interval(size, "size", "load_digits_drift", kind=int, low=8)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class TabularDrift:
    """The four parts of a tabular scenario, each a DataFrame of the ``features`` and the
    ``target`` column. ``affected`` marks, per part, the rows of the shifted sub-population."""

    old: pd.DataFrame
    new: pd.DataFrame
    old_test: pd.DataFrame
    new_test: pd.DataFrame
    target: str
    features: list[str]
    affected: dict[str, np.ndarray]
    params: dict[str, Any]

    def source(self, part: str) -> pd.DataFrame:
        """A copy of one part (``"old"``, ``"new"``, ``"old_test"`` or ``"new_test"``)."""
        if part not in ("old", "new", "old_test", "new_test"):
            raise ParameterError(
                f"The 'part' parameter of TabularDrift.source must be one of ['old', 'new', 'old_test', 'new_test']. "
                f"Got {part!r} instead."
            )
        return getattr(self, part).copy()

    def summary(self) -> str:
        rows = []
        for part in ("old", "new", "old_test", "new_test"):
            frame = getattr(self, part)
            share = frame[self.target].value_counts(normalize=True).sort_index()
            classes = ", ".join(f"{k} {v:.0%}" for k, v in share.items())
            rows.append(f"{part:<9} {len(frame):>5} rows, {self.affected[part].mean():6.1%} affected; {classes}")
        return "\n".join(rows)


def load_breast_cancer_drift(
    *,
    random_state: int = 0,
    scale: float = 1.15,
    texture_offset: float = 4.0,
    concavity_factor: float = 0.5,
    large_radius: float = 15.0,
    old_fraction: float = 0.5,
    test_fraction: float = 0.3,
) -> TabularDrift:
    """Build the breast cancer drift scenario (see the module docstring).

    Parameters
    ----------
    random_state : seed for the shuffle that splits old / new and train / holdout.
    scale : calibration factor of the new rows' lengths (> 0; 1.0: none).
    texture_offset : added to the new rows' ``mean_texture`` (0.0: none).
    concavity_factor : factor on ``mean_concavity`` and ``mean_concave_points`` of the new rows'
        large nuclei, in [0, 1] (1.0: none).
    large_radius : true ``mean_radius`` above which a nucleus counts as large (the affected rows).
    old_fraction : share of the 569 rows that go to the old data (the rest is new).
    test_fraction : share of each side held out for evaluation.
    """
    from sklearn.datasets import load_breast_cancer

    for name, value in (("concavity_factor", concavity_factor), ("old_fraction", old_fraction),
                        ("test_fraction", test_fraction)):
        check_interval(value, name, "load_breast_cancer_drift", low=0.0, high=1.0)
    for name, value in (("scale", scale), ("texture_offset", texture_offset), ("large_radius", large_radius)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ParameterError(
                f"The {name!r} parameter of load_breast_cancer_drift must be a finite float. Got {value!r} instead."
            )
    if scale <= 0:  # (message kept: tests/curate/test_recipes_examples.py quotes it)
        raise ParameterError(f"The 'scale' parameter of load_breast_cancer_drift must be a float > 0. Got {scale!r} instead.")
    data = load_breast_cancer(as_frame=True)
    columns = [c for c in data.feature_names if c.startswith("mean ")]
    features = [c.replace(" ", "_") for c in columns]
    frame = data.frame[columns].set_axis(features, axis=1).astype(np.float64)
    frame["diagnosis"] = np.asarray(data.target_names)[data.target.to_numpy()]  # 0 malignant, 1 benign
    order = check_random_state(random_state).permutation(len(frame))
    frame = frame.iloc[order].reset_index(drop=True)
    n_old = int(round(len(frame) * old_fraction))
    if not 0 < n_old < len(frame):
        raise ParameterError(
            f"The 'old_fraction' parameter of load_breast_cancer_drift must leave rows on both sides. Got {old_fraction!r} instead."
        )
    parts: dict[str, pd.DataFrame] = {}
    affected: dict[str, np.ndarray] = {}
    for side, rows in (("old", frame.iloc[:n_old]), ("new", frame.iloc[n_old:])):
        rows = rows.reset_index(drop=True)
        large = (rows["mean_radius"] > large_radius).to_numpy()
        if side == "new":
            rows = rows.copy()
            rows.loc[large, ["mean_concavity", "mean_concave_points"]] *= concavity_factor
            rows[["mean_radius", "mean_perimeter"]] *= scale
            rows["mean_area"] *= scale * scale
            rows["mean_texture"] += texture_offset
        n_test = int(round(len(rows) * test_fraction))
        if not 0 < n_test < len(rows):
            raise ParameterError(
                f"The 'test_fraction' parameter of load_breast_cancer_drift must leave rows in the training and the "
                f"test part. Got {test_fraction!r} instead."
            )
        parts[f"{side}_test"], parts[side] = rows.iloc[:n_test].reset_index(drop=True), rows.iloc[n_test:].reset_index(drop=True)
        affected[f"{side}_test"], affected[side] = large[:n_test], large[n_test:]
    params = {"random_state": random_state, "scale": scale, "texture_offset": texture_offset,
              "concavity_factor": concavity_factor, "large_radius": large_radius, "old_fraction": old_fraction,
              "test_fraction": test_fraction}
    return TabularDrift(**parts, target="diagnosis", features=features, affected=affected, params=params)


#: Scenarios a recipe's ``data.scenario`` can name: loader functions, meta ``kind`` ("images" / "tabular").
SCENARIOS: PluginRegistry[Any] = PluginRegistry("scenario")
SCENARIOS.register("digits_drift", kind="images")(load_digits_drift)
SCENARIOS.register("breast_cancer_drift", kind="tabular")(load_breast_cancer_drift)
