"""``add(augmented, parents="old+new")`` and ``add(..., parents="ids")`` on Dask (real
LocalCluster): parents in old and in new, the children's times (their first parent's, looked up
on the workers), leakage of parents and children, the group split keeping children with their
root parents and the manifest's lineage are the pandas engine's, for any partitioning, in core
and out of core; bad parent ids give its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_dask_build import _assert_same, _message

import curate
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    """Bundled breast cancer drift with dates; SMOTE rows grown from old and new rows together; an
    evaluation set holding two parents (one old, one new) and two generated rows (leakage)."""
    import augment

    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    both = pd.concat([old, new], ignore_index=True)
    X2, y2, prov = augment.oversample(both[scen.features], both[scen.target], method="smote",
                                      n={"malignant": 30}, random_state=0)
    gen = np.flatnonzero(prov["operation"].astype(str) != "original")
    firsts = [int(json.loads(prov["parent_ids"].iloc[k])[0]) for k in gen]
    assert min(firsts) < len(old) <= max(firsts)  # children of old rows and of new rows
    ev = pd.concat([scen.source("old_test"), old.iloc[[firsts[0] if firsts[0] < len(old) else 5]].drop(columns="date"),
                    new.iloc[[7]].drop(columns="date"), X2.iloc[gen[:2]].assign(**{scen.target: np.asarray(y2)[gen[:2]]})],
                   ignore_index=True)[scen.features + [scen.target]]
    return old, new, (X2, y2, prov), ev, scen


def _as_ids(aug, n_old):
    """The same augmented rows with their parents named by builder row id ("old:<pos>" / "new:<pos>")."""
    X2, y2, prov = aug
    prov = prov.copy()

    def ids(raw):
        return json.dumps([f"old:{q}" if q < n_old else f"new:{q - n_old}" for q in map(int, json.loads(raw))])

    gen = prov["operation"].astype(str) != "original"
    prov.loc[gen, "parent_ids"] = prov.loc[gen, "parent_ids"].map(ids)
    return X2, y2, prov


def _builder(old, new, scen, parts=None):
    if parts is not None:
        old, new = dd.from_pandas(old, npartitions=parts[0]), dd.from_pandas(new, npartitions=parts[1])
    return curate.TrainingSetBuilder(old, new, target=scen.target, time="date")


def _chain(b, aug, parents, ev, how="random"):
    return (b.window(last="900D").mix(alpha=0.5).add(aug, parents=parents).exclude({"holdout": ev}).dedup()
            .split(validation=0.25, how=how).recency("120D"))


@pytest.mark.parametrize(("parts", "out_of_core"), [((1, 1), False),
                                                    ((5, 3), False),
                                                    ((5, 3), True), ((1, 2), True)])
@pytest.mark.parametrize("parents", ["old+new", "ids"])
def test_add_parents_old_new_and_ids_select_the_pandas_rows(client, data, monkeypatch, parents, parts, out_of_core):
    from curate._dask import inputs

    old, new, aug, ev, scen = data
    given = aug if parents == "old+new" else _as_ids(aug, len(old))
    p = _chain(_builder(old, new, scen), given, parents, ev).build(random_state=6)
    if out_of_core:
        monkeypatch.setattr(inputs, "_should_persist", lambda n_bytes, share=4: False)  # as if the rows did not fit
    with client.as_current():
        b = _builder(old, new, scen, parts)
        assert (b.old.full is not b.old.parts) == out_of_core
        q = _chain(b, given, parents, ev).build(random_state=6)
        _assert_same(p, q)
    man = p.manifest
    syn = man[man["origin"].astype(str) == "synthetic"]
    named = {q.split(":")[0] for pids in syn["parent_ids"] for q in json.loads(pids)}
    assert named == {"old", "new"} and p.info["augmented"][0]["parents"] == parents
    assert p.info["leakage"]["removed_by_block"]["aug0"] == 2 and p.info["leakage"]["removed"] >= 4
    assert set(syn["reason"].astype(str)) == {f"synthetic smote oversampling of {parents} data"}


def test_ids_and_old_new_agree_and_latest_split(client, data):
    """The two ways of naming the same parents build the same set (apart from the reason text);
    the latest split groups children with parents in new by their parents' times."""
    old, new, aug, ev, scen = data
    a = _chain(_builder(old, new, scen), aug, "old+new", ev, how="latest").build(random_state=1)
    with client.as_current():
        q = _chain(_builder(old, new, scen, (4, 2)), _as_ids(aug, len(old)), "ids", ev, how="latest").build(random_state=1)
        twice = _chain(_builder(old, new, scen, (4, 2)), _as_ids(aug, len(old)), "ids", ev, how="latest")
        twice = twice.build(random_state=1).to_pandas()
    q = q.to_pandas()
    _assert_same(q, twice)  # same seed twice: the same output
    assert list(a.manifest["row_id"].astype(str)) == list(q.manifest["row_id"].astype(str))
    for col in ("parent_ids", "split"):
        assert list(a.manifest[col].astype(str)) == list(q.manifest[col].astype(str))
    pd.testing.assert_frame_equal(a.frame, q.frame, check_dtype=False)
    assert 0 < a.info["split"]["val_rows"] < len(a)


def test_bad_parent_ids_give_the_pandas_errors(client, data):
    old, new, aug, ev, scen = data
    X2, y2, prov = _as_ids(aug, len(old))
    gen = np.flatnonzero(prov["operation"].astype(str) != "original")
    cases = []
    for bad in ('["new:99999"]', '["old:-1"]', '["mid:3"]'):
        p2 = prov.copy()
        p2.loc[gen[3], "parent_ids"] = bad
        cases.append(((X2, y2, p2), "ids"))
    p3 = aug[2].copy()
    p3.loc[gen[0], "parent_ids"] = json.dumps([str(len(old) + len(new))])  # one past the last row of old+new
    cases.append(((aug[0], aug[1], p3), "old+new"))
    msgs = []
    for given, parents in cases:
        pandas_msg = _message(lambda g=given, pa=parents: _builder(old, new, scen).add(g, parents=pa))
        with client.as_current():
            dask_msg = _message(lambda g=given, pa=parents: _builder(old, new, scen, (3, 2)).add(g, parents=pa))
        assert dask_msg == pandas_msg
        msgs.append(dask_msg)
    assert "names new row 99999" in msgs[0] and "'old:<position>'" in msgs[1] and "'old:<position>'" in msgs[2]
    assert "outside old+new" in msgs[3]
