"""Near-duplicate leakage exclusion (``exclude(eval_sets, near=...)``) on the Dask engine: a real
distributed.LocalCluster refuses exactly the training rows the pandas engine refuses, with 1 and
several partitions, in memory and out of core."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

TOL = 0.05


@pytest.fixture(scope="module")
def data():
    """Breast cancer drift with a date and a string feature; an evaluation set holding rows a
    hair away from training rows (near, not equal), the same with the string changed (not near),
    one of them twice, and rows of its own."""
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12]], ignore_index=True)
    for f in (old, new):
        f["site"] = np.where(f[scen.features[0]] > f[scen.features[0]].median(), "north", "south")
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    feats = [*scen.features, "site"]
    rng = np.random.default_rng(0)
    near = pd.concat([old.iloc[[3, len(old) - 2]], new.iloc[[5, 9, 30, 60, 90]]], ignore_index=True)[feats]
    num = scen.features
    near[num] = near[num] + rng.uniform(-0.01, 0.01, size=(len(near), len(num))) * old[num].std().to_numpy()
    flipped = near.iloc[:2].copy()
    flipped["site"] = np.where(flipped["site"] == "north", "south", "north")
    test = scen.source("old_test")
    test["site"] = "north"
    ev = pd.concat([test[feats], near, near.iloc[[0]], flipped], ignore_index=True)
    return old, new, ev, scen


def _aug(old, scen):
    import augment

    X = old[[*scen.features, "site"]]
    return augment.oversample(X, old[scen.target], method="random_over", n={"malignant": 20}, random_state=0)


def _chain(b, old, ev, scen, dedup=True):
    b = b.window(last="500D").mix(alpha=0.5, stratify=True).rehearse(n=15, how="class_balanced")
    b = b.add(_aug(old, scen), parents="old")  # copies of old rows: exact dedup drops some of them
    b = b.exclude({"holdout": ev}, near=TOL)
    b = b.dedup() if dedup else b
    return b.split(validation=0.2).recency("180D")


def _assert_same(p, q):
    assert list(p.manifest["row_id"].astype(str)) == list(q.manifest["row_id"].astype(str))
    for col in ("origin", "reason", "parent_ids", "operation", "split"):
        assert list(p.manifest[col].astype(str)) == list(q.manifest[col].astype(str)), col
    np.testing.assert_allclose(p.manifest["weight"].to_numpy(), q.manifest["weight"].to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(p.frame, q.frame, check_dtype=False, check_categorical=False)
    for key in ("window", "mix", "rehearse", "leakage", "dedup", "split", "counts", "augmented"):
        assert json.dumps(p.info[key], sort_keys=True, default=str) == json.dumps(q.info[key], sort_keys=True, default=str), key


def _pandas(data, dedup=True):
    old, new, ev, scen = data
    return _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), old, ev, scen, dedup)


@pytest.mark.parametrize("parts", [(1, 1), (5, 3)])
def test_near_exclude_refuses_the_pandas_rows(client, data, parts):
    old, new, ev, scen = data
    p = _pandas(data).build(random_state=4)
    leak = p.info["leakage"]
    assert leak["near"] and leak["removed"] >= 5 and leak["matches_by_eval_set"]["holdout"] >= 5
    with client.as_current():
        q, q2 = [_chain(curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=parts[0]),
                                                  dd.from_pandas(new, npartitions=parts[1]), target=scen.target,
                                                  time="date"), old, e, scen).build(random_state=4).to_pandas()
                 for e in (dd.from_pandas(ev, npartitions=2), ev)]
    _assert_same(p, q)
    _assert_same(q, q2)  # the same seed twice (and the eval set as pandas or Dask): the same set


def test_near_exclude_out_of_core(client, data, monkeypatch):
    from curate._dask import inputs

    old, new, ev, scen = data
    p = _pandas(data, dedup=False).build(random_state=2)
    monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=4), dd.from_pandas(new, npartitions=2),
                                      target=scen.target, time="date")
        assert b.old.full is not b.old.parts  # the workers hold only a few columns
        q = _chain(b, old, ev, scen, dedup=False).build(random_state=2).to_pandas()
    assert p.info["leakage"]["removed"] >= 5
    _assert_same(p, q)


def test_near_exclude_statistics_are_the_pandas_floats(client, data):
    """The scale a tolerance is measured in comes from exact partition sums: the same floats."""
    from curakit import dedup
    from curate._dask.near import _stats

    old, new, ev, scen = data
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=6), dd.from_pandas(new, npartitions=1),
                                      target=scen.target, time="date")

        class _Blk:
            def __init__(self, src):
                self.src, self.full, self.mask = src, None, __import__("curate._dask.select", fromlist=["AllRows"]).AllRows()
                self.parts = src.parts

        _, cols, center, scale = _stats(b, [_Blk(b.new), _Blk(b.old)])
    X = pd.concat([new[b.features], old[b.features]], ignore_index=True)
    c2, s2 = dedup.near_stats(X[cols].to_numpy(np.float64))
    assert cols == scen.features
    assert np.array_equal(center, c2) and np.array_equal(scale, s2)
    np.testing.assert_allclose(scale, X[cols].std(ddof=0).to_numpy(), rtol=1e-12)


def test_near_exclude_bad_tolerance_same_error(data):
    old, new, ev, scen = data
    msgs = []
    for o, n in ((old, new), (dd.from_pandas(old, npartitions=2), dd.from_pandas(new, npartitions=2))):
        with pytest.raises(curate.ParameterError) as err:
            curate.TrainingSetBuilder(o, n, target=scen.target, time="date").exclude({"h": ev}, near=-1.0)
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1] and "\n" not in msgs[0]
