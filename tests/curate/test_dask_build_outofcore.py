"""Out-of-core Dask build: when the prepared rows do not fit the workers' memory, only a few
columns (target, _t, _pos, the exact keys) are persisted and the full rows are read again at
emit; the rows selected are still the pandas engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def _data():
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12]], ignore_index=True)
    new = pd.concat([new, old.iloc[20:26]], ignore_index=True)
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D")
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new), freq="2D")
    ev = pd.concat([scen.source("old_test"), old.iloc[[3, 40, 80]].drop(columns="date")], ignore_index=True)
    return old, new, ev[scen.features + [scen.target]], scen


def _chain(b, ev, auto, old=None, scen=None):
    if auto:
        b = b.window("auto", candidates=["120D", "365D", None]).mix(alpha="auto", grid=[0.0, 0.5, 1.0])
    else:  # SMOTE rows whose parents' times are read from the full (not persisted) old partitions
        import augment

        aug = augment.oversample(old[scen.features], old[scen.target], method="smote", n={"malignant": 20}, random_state=0)
        b = b.window(last="500D").mix(alpha=0.5, stratify=True).rehearse(n=15, how="class_balanced").add(aug, parents="old")
    return b.exclude({"holdout": ev}).dedup().split(validation=0.2).recency("180D")


@pytest.mark.parametrize("auto", [False, True])
def test_few_persisted_columns_select_the_pandas_rows(client, monkeypatch, auto):
    from curate._dask import inputs

    old, new, ev, scen = _data()
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), ev, auto, old, scen).build(random_state=5)
    monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=5), dd.from_pandas(new, npartitions=3),
                                      target=scen.target, time="date")
        held = b.old.parts[0].compute()
        assert set(held.columns) == {scen.target, "_t", "_pos", "_k0", "_k1"}  # a few bytes a row, not the rows
        assert b.old.full is not b.old.parts and len(b.old.full) == 5
        q = _chain(b, ev, auto, old, scen).build(random_state=5).to_pandas()
    assert auto or p.info["dedup"]["removed"] > 0  # the keys held in _k0 / _k1 had work to do
    assert list(p.manifest["row_id"].astype(str)) == list(q.manifest["row_id"].astype(str))
    for col in ("origin", "reason", "split"):
        assert list(p.manifest[col].astype(str)) == list(q.manifest[col].astype(str)), col
    np.testing.assert_allclose(p.manifest["weight"].to_numpy(), q.manifest["weight"].to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(p.frame, q.frame, check_dtype=False)
    assert auto or (q.manifest["origin"].astype(str) == "synthetic").sum() > 0
    for key in ("window", "mix", "rehearse", "leakage", "dedup", "split", "counts", "augmented"):
        assert str(p.info[key]) == str(q.info[key]), key
