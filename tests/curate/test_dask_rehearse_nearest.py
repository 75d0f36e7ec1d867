"""``rehearse(how="nearest")`` on Dask (real LocalCluster): the pandas engine's replay rows, data,
manifest and info for any partitioning, in core and out of core, with pool and anchor sampling,
ties broken as pandas breaks them (the lower old position first), and its one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_dask_build import _assert_same, _message, _write_hive

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    """Bundled breast cancer drift with dates, a string feature and exact duplicate old rows (equal distances)."""
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12], old.iloc[:12]], ignore_index=True)
    old["site"] = np.array(["a", "b", "c", "d"])[np.arange(len(old)) % 4]
    new["site"] = np.array(["a", "e"])[np.arange(len(new)) % 2]
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    return old, new, scen


def _builder(old, new, scen, parts=None, features=None):
    if parts is not None:
        old, new = dd.from_pandas(old, npartitions=parts[0]), dd.from_pandas(new, npartitions=parts[1])
    return curate.TrainingSetBuilder(old, new, target=scen.target, time="date", features=features)


def _chain(b, n=40, max_candidates=200_000, window=True):
    b = b.window(last="700D") if window else b
    return (b.mix(alpha=0.4).rehearse(n=n, how="nearest", max_candidates=max_candidates)
            .dedup().split(validation=0.2).recency("180D"))


def _replay(ts):
    m = ts.manifest if isinstance(ts, curate.TrainingSet) else ts.to_pandas().manifest
    return m["row_id"].astype(str)[m["reason"].astype(str).str.startswith("replay")].tolist()


@pytest.mark.parametrize("parts", [(1, 1), (6, 3)])
@pytest.mark.parametrize("out_of_core", [False, True])
def test_nearest_selects_the_pandas_rows(client, data, monkeypatch, parts, out_of_core):
    from curate._dask import inputs

    old, new, scen = data
    p = _chain(_builder(old, new, scen)).build(random_state=11)
    if out_of_core:
        monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    with client.as_current():
        b = _builder(old, new, scen, parts)
        assert (b.old.full is not b.old.parts) == out_of_core
        q = _chain(b).build(random_state=11)
        _assert_same(p, q)
    assert p.info["rehearse"]["how"] == "nearest" and p.info["rehearse"]["rows"] == 40
    assert 30 <= len(_replay(p)) <= 40  # dedup may drop replayed copies of rows already in the set
    assert "replay buffer (nearest)" in set(p.manifest["reason"].astype(str))


def test_pool_and_anchor_samples_and_parquet_input(client, data, monkeypatch, tmp_path):
    """More candidates than max_candidates and more new rows than the anchor cap: both seeded draws
    map to the same rows on Dask (hive-partitioned Parquet input, 7 + 3 files)."""
    from curate._build import nearness

    old, new, scen = data
    monkeypatch.setattr(nearness, "ANCHORS", 25)  # the cap is 20,000 new rows; the bundled data has fewer
    p = _chain(_builder(old, new, scen), n=20, max_candidates=60, window=False).build(random_state=4)
    assert p.info["rehearse"]["candidates"] > 60 and len(new) > 25
    with client.as_current():
        b = curate.TrainingSetBuilder(_write_hive(old, tmp_path / "old", 7), _write_hive(new, tmp_path / "new", 3),
                                      target=scen.target, time="date", features=[*scen.features, "site"])
        q = _chain(b, n=20, max_candidates=60, window=False).build(random_state=4)
        _assert_same(p, q)
        again = _chain(_builder(old, new, scen, (4, 2)), n=20, max_candidates=60, window=False).build(random_state=4)
        assert _replay(again) == _replay(q)  # same seed, other partitioning: the same rows
        other = _chain(_builder(old, new, scen, (4, 2)), n=20, max_candidates=60, window=False).build(random_state=5)
    assert _replay(other) != _replay(q)  # the seed draws the pool


def test_ties_go_to_the_lower_position(client, data):
    """On the string feature alone every old row of site "a" (a site of new) is at distance 0;
    pandas' stable sort keeps the lowest positions among them, and so must the merge of the
    per-partition candidates."""
    old, new, scen = data

    def chain(b):
        return b.mix(alpha=0.4).rehearse(n=30, how="nearest")

    p = chain(_builder(old, new, scen, features=["site"])).build(random_state=2)
    man = p.manifest
    mixed = {int(r.split(":")[1]) for r in man["row_id"].astype(str)[man["reason"].astype(str).str.startswith("old data")]}
    lowest = [k for k in range(len(old)) if old["site"].iloc[k] == "a" and k not in mixed][:30]
    reps = _replay(p)
    assert reps == [f"old:{k}" for k in lowest]
    with client.as_current():
        for parts in ((1, 1), (7, 2)):
            q = chain(_builder(old, new, scen, parts, features=["site"])).build(random_state=2)
            _assert_same(p, q)
            assert _replay(q) == reps
        twice = chain(_builder(old, new, scen, (7, 2), features=["site"])).build(random_state=2)
        _assert_same(q.to_pandas(), twice)  # same seed twice: the same output


def test_nearest_errors_match_pandas(client, data):
    old, new, scen = data
    cases = [
        # the window holds old rows only: no new rows to measure nearness to
        lambda b: b.window(end="2019-06-01").rehearse(n=5, how="nearest"),
        # more rows asked than the candidate pool holds
        lambda b: b.mix(alpha=0.2).rehearse(n=15, how="nearest", max_candidates=10),
        # more rows asked than old rows left out by mix
        lambda b: b.mix(alpha=0.9).rehearse(n=200, how="nearest"),
    ]
    for make in cases:
        pandas_msg = _message(lambda make=make: make(_builder(old, new, scen)).build(random_state=0))
        with client.as_current():
            dask_msg = _message(lambda make=make: make(_builder(old, new, scen, (3, 2))).build(random_state=0))
        assert dask_msg == pandas_msg
    assert "needs new rows inside the window" in _message(lambda: cases[0](_builder(old, new, scen)).build())
