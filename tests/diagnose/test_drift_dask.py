"""diagnose.drift on Dask DataFrames, on a real LocalCluster (2 worker processes, 1 thread each)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

pytest.importorskip("distributed")
import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import diagnose  # noqa: E402
from curakit.exceptions import DataError  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GB", dashboard_address=None
    ) as cluster, Client(cluster) as c:
        yield c


def _cancer():
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target").iloc[:, :8].copy()
    frame["diagnosis"] = np.where(data.target == 1, "benign", "malignant")
    frame["size"] = pd.cut(frame["mean radius"], [0, 12, 15, 40], labels=["small", "medium", "large"]).astype(str)
    return frame


def _halves(frame, seed=0):
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[order[:half]].reset_index(drop=True), frame.iloc[order[half:]].reset_index(drop=True)


def test_categorical_tests_equal_the_pandas_path_and_numeric_ks_is_within_the_stated_bound(client):
    ref, cur = _halves(_cancer())
    cur = cur[cur["diagnosis"] == "malignant"].reset_index(drop=True)  # a real shift in several columns
    pandas_report = diagnose.drift(ref, cur, where=0, domain_classifier=False)
    dask_report = diagnose.drift(dd.from_pandas(ref, npartitions=4), dd.from_pandas(cur, npartitions=3), where=0,
                                 domain_classifier=False)
    assert isinstance(dask_report, type(pandas_report))
    assert (dask_report.n_reference, dask_report.n_current) == (len(ref), len(cur))
    p_rows = {r["feature"]: r for r in pandas_report.features}
    for row in dask_report.features:
        ref_row = p_rows[row["feature"]]
        if row["kind"] == "categorical":
            for key in ("statistic", "p_value", "psi", "q_value"):
                assert row[key] == pytest.approx(ref_row[key], rel=1e-12, abs=1e-15), (row["feature"], key)
            assert dask_report.bins[row["feature"]] == pandas_report.bins[row["feature"]]
        else:
            # the exact KS statistic lies in [statistic, statistic + ks_error]
            assert row["statistic"] - 1e-12 <= ref_row["statistic"] <= row["statistic"] + row["ks_error"] + 1e-12
            assert 0.0 <= row["ks_error"] < 0.02
            assert row["reference_mean"] == pytest.approx(ref_row["reference_mean"], rel=1e-9)
    assert "ks_error" in dask_report.to_frame().columns
    assert "ks_error" not in pandas_report.to_frame().columns


def test_planted_drift_is_found_and_a_random_split_is_not_flagged(client):
    wine = load_wine(as_frame=True).frame.drop(columns="target")
    ref, cur = _halves(wine, seed=1)
    same = diagnose.drift(dd.from_pandas(ref, npartitions=3), dd.from_pandas(cur, npartitions=2), alpha=0.01, where=0)
    assert same.drifted_features == []
    assert not same.domain["drifted"] and "Bernoulli sample" in same.domain["sample"]
    # the report states the sample the classifier saw and the sketches' error bound
    assert f"{len(ref)} of {len(ref)} reference and {len(cur)} of {len(cur)} current rows" in same.domain["sample"]
    assert "at most" in same.summary() and "above the one reported" in same.summary()
    assert "domain classifier on a seeded Bernoulli sample" in same.summary()

    moved = cur.copy()
    moved["alcohol"] = moved["alcohol"] + 2 * ref["alcohol"].std()  # planted: two standard deviations
    report = diagnose.drift(dd.from_pandas(ref, npartitions=3), dd.from_pandas(moved, npartitions=2), alpha=0.01,
                            where=0)
    assert report.drifted_features == ["alcohol"]
    assert report.domain["drifted"] and report.drifted


def test_the_same_dask_input_gives_the_same_report(client):
    ref, cur = _halves(_cancer(), seed=3)
    runs = [
        diagnose.drift(dd.from_pandas(ref, npartitions=4), dd.from_pandas(cur, npartitions=4), where=2, max_rows=200)
        for _ in range(2)
    ]
    assert runs[0].to_json() == runs[1].to_json()


def test_bad_values_give_the_pandas_path_error(client):
    ref, cur = _halves(_cancer())
    cur = cur.copy()
    cur.loc[5, "mean area"] = np.nan
    with pytest.raises(DataError) as pandas_err:
        diagnose.drift(ref, cur)
    with pytest.raises(DataError) as dask_err:
        diagnose.drift(dd.from_pandas(ref, npartitions=2), dd.from_pandas(cur, npartitions=3))
    assert str(dask_err.value) == str(pandas_err.value)
    with pytest.raises(DataError, match="current lacks 1 column"):
        diagnose.drift(dd.from_pandas(ref, npartitions=2), dd.from_pandas(cur.drop(columns="size"), npartitions=2))
    mixed = diagnose.drift(dd.from_pandas(ref, npartitions=2), ref, domain_classifier=False, where=0)  # pandas side
    assert mixed.n_current == len(ref) and mixed.drifted_features == []
    with pytest.raises(DataError, match="Dask or pandas DataFrame"):
        diagnose.drift(dd.from_pandas(ref, npartitions=2), cur.to_numpy())


def test_importing_the_stages_loads_no_dask():
    code = "import sys, diagnose, augment; sys.exit(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
