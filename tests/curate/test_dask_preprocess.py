"""``preprocess()`` on the Dask engine: a real distributed.LocalCluster fits the built-in
preprocessing on the train rows with the pandas engine's fitted values (exact median by
histogram narrowing, exact sums), in memory and out of core; a user pipeline is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    """Breast cancer drift with a date, missing values in three numeric features, and a string
    feature with missing values."""
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12]], ignore_index=True)
    rng = np.random.default_rng(1)
    for f in (old, new):
        for c in scen.features[:3]:
            f.loc[rng.random(len(f)) < 0.1, c] = np.nan
        site = np.where(f[scen.features[4]] > f[scen.features[4]].median(), "north", "south").astype(object)
        site[rng.random(len(f)) < 0.05] = None
        site[rng.random(len(f)) < 0.05] = "east"
        f["site"] = site
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    return old, new, scen


def _chain(b, impute="median", scale=True):
    b = b.window(last="500D").mix(alpha=0.5, stratify=True).rehearse(n=15, how="class_balanced")
    return b.dedup().split(validation=0.2).recency("180D").preprocess(impute=impute, scale=scale)


def _dask_builder(old, new, scen, parts):
    return curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=parts[0]), dd.from_pandas(new, npartitions=parts[1]),
                                     target=scen.target, time="date")


def _assert_same(p, q, exact=False):
    assert list(p.manifest["row_id"].astype(str)) == list(q.manifest["row_id"].astype(str))
    for col in ("origin", "reason", "split"):
        assert list(p.manifest[col].astype(str)) == list(q.manifest[col].astype(str)), col
    pd.testing.assert_frame_equal(p.frame, q.frame, check_dtype=False, check_categorical=False)
    for key in ("window", "mix", "rehearse", "dedup", "split", "counts", "preprocess"):
        assert json.dumps(p.info[key], sort_keys=True, default=str) == json.dumps(q.info[key], sort_keys=True, default=str), key
    X = p.frame[p.features]
    a, b = p.preprocessor.transform(X), q.preprocessor.transform(X)
    assert a.shape == b.shape and np.isfinite(a).all()
    if exact:
        assert np.array_equal(a, b)
    else:
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    pn, qn = (t.named_transformers_["numeric"] for t in (p.preprocessor, q.preprocessor))
    np.testing.assert_allclose(qn.named_steps["impute"].statistics_, pn.named_steps["impute"].statistics_, rtol=1e-12)
    if "scale" in pn.named_steps:
        for attr in ("mean_", "var_", "scale_"):
            np.testing.assert_allclose(getattr(qn.named_steps["scale"], attr), getattr(pn.named_steps["scale"], attr),
                                       rtol=1e-12, err_msg=attr)
        assert int(qn.named_steps["scale"].n_samples_seen_) == int(pn.named_steps["scale"].n_samples_seen_)
    pc, qc = (t.named_transformers_["categorical"] for t in (p.preprocessor, q.preprocessor))
    assert [list(c) for c in pc.named_steps["encode"].categories_] == [list(c) for c in qc.named_steps["encode"].categories_]
    assert list(pc.named_steps["impute"].statistics_) == list(qc.named_steps["impute"].statistics_)


@pytest.mark.parametrize("parts", [(1, 1), (5, 3)])
def test_preprocess_fits_the_pandas_values(client, data, parts, monkeypatch):
    from curate._dask import preprocess

    old, new, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date")).build(random_state=3)
    assert p.frame[scen.features[:3]].isna().any().all()  # the imputer had work to do
    monkeypatch.setattr(preprocess, "_GATHER", 20)  # narrow by histograms, as on large data
    with client.as_current():
        q = _chain(_dask_builder(old, new, scen, parts)).build(random_state=3)
        q2 = _chain(_dask_builder(old, new, scen, parts)).build(random_state=3)
        assert q.preprocessor is not None
        qp, qp2 = q.to_pandas(), q2.to_pandas()
    qp = curate.TrainingSet(kind=qp.kind, target=qp.target, frame=qp.frame, manifest=qp.manifest, features=qp.features,
                            time=qp.time, info=q.info, preprocessor=q.preprocessor)
    _assert_same(p, qp)
    qp2 = curate.TrainingSet(kind=qp2.kind, target=qp2.target, frame=qp2.frame, manifest=qp2.manifest,
                             features=qp2.features, time=qp2.time, info=q2.info, preprocessor=q2.preprocessor)
    _assert_same(qp, qp2, exact=True)  # the same seed twice: the same set and the same fitted values


@pytest.mark.parametrize("impute,scale", [("mean", True), ("median", False)])
def test_preprocess_out_of_core(client, data, monkeypatch, impute, scale):
    from curate._dask import inputs, preprocess

    old, new, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), impute, scale).build(random_state=8)
    monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    monkeypatch.setattr(preprocess, "_GATHER", 20)
    with client.as_current():
        b = _dask_builder(old, new, scen, (4, 2))
        assert b.old.full is not b.old.parts
        q = _chain(b, impute, scale).build(random_state=8)
        qp = q.to_pandas()
    qp = curate.TrainingSet(kind=qp.kind, target=qp.target, frame=qp.frame, manifest=qp.manifest, features=qp.features,
                            time=qp.time, info=q.info, preprocessor=q.preprocessor)
    _assert_same(p, qp)


@pytest.mark.parametrize("gather", [20, 50_000])
def test_exact_median_by_narrowing(client, monkeypatch, gather):
    """The k-th value by histogram narrowing equals numpy's sort, ties and negative values included."""
    import dask

    from curate._dask import preprocess
    from curate._dask.preprocess import _kth_many

    monkeypatch.setattr(preprocess, "_GATHER", gather)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=3000), np.full(50, 0.25), -rng.exponential(size=500), [np.nan] * 7])
    frames = [pd.DataFrame({"a": c, "b": c[::-1] * 1e-3}) for c in np.array_split(x, 6)]
    parts = [dask.delayed(f) for f in frames]
    live = np.sort(x[~np.isnan(x)])
    ks = [1, 1777, 1778, len(live)]
    with client.as_current():
        got = _kth_many(parts, [("a", k, len(live)) for k in ks] + [("b", 5, len(live))])
    assert got[:4] == [float(live[k - 1]) for k in ks]
    assert got[4] == float(np.sort(live[::-1] * 1e-3)[4])


def test_user_pipeline_refused_in_one_line(data):
    from sklearn.preprocessing import StandardScaler

    old, new, scen = data
    b = _dask_builder(old, new, scen, (2, 2)).preprocess(steps=StandardScaler())
    with pytest.raises(curate.ParameterError) as err:
        b.build()
    msg = str(err.value)
    assert "\n" not in msg and "Dask engine" in msg and "built-in preprocess(impute=..., scale=...)" in msg
