"""The whole chain at once on Dask (real LocalCluster): window, mix, every rehearse mode, add with
parents in old+new, exclude with near=, exact dedup, both splits, recency and preprocess() give the
pandas engine's rows, manifest and decisions, in core and out of core, 1 and several partitions;
the fitted preprocessing agrees (medians and categories exactly, means and scales to float
rounding); dedup(near=) is refused in one line naming the pandas way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_dask_build import _assert_same

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    import augment

    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12]], ignore_index=True)  # exact duplicates
    new = pd.concat([new, old.iloc[20:26]], ignore_index=True)  # old rows again in new
    rng = np.random.default_rng(3)
    for f in (old, new):
        f.loc[rng.random(len(f)) < 0.08, scen.features[0]] = np.nan  # work for the imputer
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    ev = pd.concat([scen.source("old_test"), new.iloc[[3, 40, 80]].drop(columns="date")], ignore_index=True)
    ev = ev[scen.features + [scen.target]]
    both = pd.concat([old, new], ignore_index=True)
    aug = augment.oversample(both[scen.features].fillna(0.0), both[scen.target], method="smote",
                             n={"malignant": 20}, random_state=0)
    return old, new, ev, aug, scen


def _chain(b, ev, aug, how, split):
    b = b.window(last="900D").mix(alpha=0.5, stratify=True).rehearse(n=15, how=how)
    b = b.add(aug, parents="old+new").exclude({"holdout": ev}, near=True).dedup()
    return b.split(validation=0.2, how=split).recency("180D").preprocess(impute="median")


def _same_preprocessing(p, q):
    a, b = p.preprocessor, q.preprocessor
    assert a is not None and b is not None
    x = p.frame[p.features].iloc[:50]
    np.testing.assert_allclose(np.asarray(b.transform(x), dtype=float), np.asarray(a.transform(x), dtype=float),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("how", "split"), [("random", "random"), ("class_balanced", "latest"), ("nearest", "random")])
@pytest.mark.parametrize(("parts", "out_of_core"), [((1, 1), False), ((5, 3), True)])
def test_whole_chain_gives_the_pandas_rows(client, data, monkeypatch, how, split, parts, out_of_core):
    from curate._dask import inputs

    old, new, ev, aug, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), ev, aug, how, split)
    p = p.build(random_state=5)
    if out_of_core:
        monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=parts[0]), dd.from_pandas(new, npartitions=parts[1]),
                                      target=scen.target, time="date")
        q = _chain(b, ev, aug, how, split).build(random_state=5)
        _assert_same(p, q)
        _same_preprocessing(p, q.to_pandas())
    assert p.info["leakage"]["removed"] >= 3 and p.info["dedup"]["removed"] > 0  # the steps had work to do


def test_near_dedup_is_refused_in_one_line(client, data):
    old, new, ev, aug, scen = data
    with client.as_current(), pytest.raises(curate.CurakitError) as exc:
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=2), dd.from_pandas(new, npartitions=2),
                                      target=scen.target, time="date")
        b.dedup(near=True).build(random_state=0)
    msg = str(exc.value)
    assert "\n" not in msg and "dedup(near=...)" in msg and "pandas" in msg
