"""TrainingSetBuilder on Dask: a real distributed.LocalCluster (worker processes, small memory
limits) builds the same rows as the pandas engine, survives a killed worker, and gives the
pandas engine's one-line errors on bad partitioned data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import curate
from curate import DaskTrainingSet, open_engine
from curate.datasets import load_breast_cancer_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    """The bundled breast cancer drift scenario with a date per row, exact duplicates and
    evaluation rows that also appear in the training data (leakage to exclude)."""
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    old = pd.concat([old, old.iloc[:12]], ignore_index=True)  # exact duplicates
    new = pd.concat([new, old.iloc[20:26]], ignore_index=True)  # duplicates across old / new
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    ev = pd.concat([scen.source("old_test"), old.iloc[[3, 40, 80]].drop(columns="date")], ignore_index=True)
    return old, new, ev[scen.features + [scen.target]], scen


def _aug(old, scen):
    import augment

    X, y = old[scen.features], old[scen.target]
    return augment.oversample(X, y, method="smote", n={"malignant": 20}, random_state=0)


def _chain(b, old, ev, scen, auto=False, how="random"):
    if auto:
        b = b.window("auto", candidates=["120D", "365D", None]).mix(alpha="auto", grid=[0.0, 0.5, 1.0])
    else:
        b = b.window(last="500D").mix(alpha=0.5, stratify=True).rehearse(n=15, how="class_balanced")
    return (b.add(_aug(old, scen), parents="old").exclude({"holdout": ev}).dedup()
            .split(validation=0.2, how=how).recency("180D"))


def _write_hive(frame: pd.DataFrame, root, n_files: int) -> str:
    """A hive-partitioned dataset of about ``n_files`` files: year=YYYY/part-k.parquet, row order kept."""
    year = frame["date"].str.slice(0, 4)
    per_year = max(1, n_files // year.nunique())
    k = 0
    for y, rows in frame.groupby(year, sort=True):
        for chunk in np.array_split(np.arange(len(rows)), per_year):
            if len(chunk):
                d = root / f"year={y}"
                d.mkdir(parents=True, exist_ok=True)
                rows.iloc[chunk].to_parquet(d / f"part-{k:04d}.parquet", index=False)
                k += 1
    return str(root)


def _assert_same(p, q):
    qp = q.to_pandas() if isinstance(q, DaskTrainingSet) else q
    assert list(p.manifest["row_id"].astype(str)) == list(qp.manifest["row_id"].astype(str))
    for col in ("origin", "reason", "parent_ids", "operation", "split"):
        assert list(p.manifest[col].astype(str)) == list(qp.manifest[col].astype(str)), col
    assert p.manifest["seed"].astype("Int64").equals(qp.manifest["seed"].astype("Int64"))
    np.testing.assert_allclose(p.manifest["weight"].to_numpy(), qp.manifest["weight"].to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(p.frame, qp.frame, check_dtype=False, check_categorical=False)
    for key in ("window", "mix", "rehearse", "leakage", "dedup", "split", "counts", "augmented"):
        assert json.dumps(p.info[key], sort_keys=True, default=str) == json.dumps(q.info[key], sort_keys=True, default=str), key


def test_import_curate_loads_no_dask():
    code = "import curate, sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("n_files", [7])
def test_parquet_dataset_selects_the_pandas_rows(client, data, tmp_path, n_files):
    old, new, ev, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), old, ev, scen).build(random_state=7)
    with client.as_current():
        ro = _write_hive(old, tmp_path / "old", n_files)
        rn = _write_hive(new, tmp_path / "new", max(1, n_files // 2))
        ev.to_parquet(tmp_path / "holdout.parquet", index=False)
        b = curate.TrainingSetBuilder(ro, rn, target=scen.target, time="date", features=scen.features)
        q = _chain(b, old, str(tmp_path / "holdout.parquet"), scen).build(random_state=7)  # eval set as a path too
    assert isinstance(q, DaskTrainingSet) and len(q) == len(p)
    assert p.info["dedup"]["removed"] > 0 and p.info["leakage"]["removed"] > 0  # the filters had work to do
    assert (p.manifest["origin"].astype(str) == "synthetic").sum() > 0
    p_cmp = p
    _assert_same(p_cmp.subset(np.arange(len(p))), q)


def test_searched_window_and_alpha_match(client, data):
    old, new, ev, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), old, ev, scen, auto=True)
    p = p.build(random_state=3)
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=5), dd.from_pandas(new, npartitions=3),
                                      target=scen.target, time="date")
        q = _chain(b, old, ev, scen, auto=True).build(random_state=3)
    assert q.info["window"]["chosen"] == p.info["window"]["chosen"]
    assert q.info["mix"]["scores"] == p.info["mix"]["scores"]
    _assert_same(p, q)


def test_save_is_partitioned_atomic_and_loads(client, data, tmp_path):
    old, new, ev, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), old, ev, scen).build(random_state=1)
    with client.as_current():
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=4), dd.from_pandas(new, npartitions=2),
                                      target=scen.target, time="date")
        q = _chain(b, old, ev, scen).build(random_state=1)
        out = q.save(tmp_path / "ts")
        assert not [x for x in tmp_path.iterdir() if x.name.startswith(".ts.tmp")]  # temporary folder renamed away
        parts = sorted((out / "data.parquet").glob("part.*.parquet"))
        assert len(parts) == len(sorted((out / "manifest.parquet").glob("part.*.parquet"))) > 1
        meta = json.loads((out / "training_set.json").read_text())
        assert meta["engine"] == "dask" and meta["n_rows"] == len(p)
        with pytest.raises(curate.ParameterError, match="to_pandas"):
            q.X  # noqa: B018 - lazy: no in-memory rows
        loaded = curate.TrainingSet.load(out)
        lazy = DaskTrainingSet.load(out)
        assert len(lazy.manifest) == len(p)
        q.save(out)  # replaces its own earlier output whole
    _assert_same(p, loaded)
    victim = next(f for f in parts if len(pd.read_parquet(f)) > 1)
    pd.read_parquet(victim).iloc[1:].to_parquet(victim, index=False)
    with pytest.raises(curate.DataError, match="fingerprint"):
        curate.TrainingSet.load(out)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with client.as_current(), pytest.raises(curate.CurakitError):
        q.save(foreign)
    assert (foreign / "notes.txt").read_text() == "keep"


def _die_once(part, log):
    """Count this partition task's runs in ``log``; the 11th run (in the pass that persists the
    prepared partitions, after the 8 of the stats pass) SIGKILLs its own worker process."""
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    with open(log) as fh:
        runs = len(fh.read().split())
    if runs == 11:
        os.kill(os.getpid(), signal.SIGKILL)
    return part


def test_killed_worker_build_completes_with_same_rows(client, data, tmp_path):
    old, new, ev, scen = data
    p = _chain(curate.TrainingSetBuilder(old, new, target=scen.target, time="date"), old, ev, scen).build(random_state=2)
    log = tmp_path / "runs.txt"
    o = dd.from_pandas(old, npartitions=8)
    o = o.map_partitions(_die_once, str(log), meta=o._meta)
    with client.as_current():
        b = curate.TrainingSetBuilder(o, dd.from_pandas(new, npartitions=3), target=scen.target, time="date")
        q = _chain(b, old, ev, scen).build(random_state=2)
        out = q.save(tmp_path / "ts")
    pids = log.read_text().split()
    alive = {str(pid) for pid in client.run(os.getpid).values()}
    assert len(pids) > 16 and pids[10] not in alive  # that worker died mid-build; its tasks ran again elsewhere
    _assert_same(p, curate.TrainingSet.load(out))


def test_one_worker_cluster_from_open_engine_latest_split(data):
    old, new, ev, scen = data
    p = curate.TrainingSetBuilder(old, new, target=scen.target, time="date")
    p = _chain(p, old, ev, scen, how="latest").build(random_state=4)
    with open_engine("dask", workers=1, memory_limit="600MB") as eng:
        assert eng.name == "dask" and eng.started_cluster and eng.client is not None
        b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=6), dd.from_pandas(new, npartitions=1),
                                      target=scen.target, time="date")
        q = _chain(b, old, ev, scen, how="latest").build(random_state=4)
        _assert_same(p, q)
    assert p.info["split"]["how"] == "latest" and 0 < p.info["split"]["val_rows"] < len(p)


# -- bad input: the pandas engine's one-line errors -------------------------------------------------
def _message(fn):
    with pytest.raises(curate.CurakitError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_column_in_one_partition(client, data, tmp_path):
    old, new, _, scen = data
    root = tmp_path / "old"
    _write_hive(old, root, 4)
    victim = sorted(root.rglob("*.parquet"))[-1]
    pd.read_parquet(victim).drop(columns=["mean_texture"]).to_parquet(victim, index=False)
    pandas_msg = _message(lambda: curate.TrainingSetBuilder(old.drop(columns=["mean_texture"]), new, target=scen.target,
                                                            time="date", features=scen.features))
    with client.as_current():
        dask_msg = _message(lambda: curate.TrainingSetBuilder(str(root), dd.from_pandas(new, npartitions=2),
                                                              target=scen.target, time="date", features=scen.features))
    head = "Feature column(s) ['mean_texture'] are not in old"
    assert pandas_msg.startswith(head) and dask_msg.startswith(head)
    assert victim.name in dask_msg  # names the file to fix


def test_unparseable_time_in_one_partition(client, data, tmp_path):
    old, new, _, scen = data
    bad = old.copy()
    bad.loc[len(bad) - 5, "date"] = "2020-13-45"  # no 13th month
    pandas_msg = _message(lambda: curate.TrainingSetBuilder(bad, new, target=scen.target, time="date"))
    with client.as_current():
        root = _write_hive(bad, tmp_path / "old", 4)
        dask_msg = _message(lambda: curate.TrainingSetBuilder(root, dd.from_pandas(new, npartitions=2),
                                                              target=scen.target, time="date", features=scen.features))
        missing = old.copy()
        missing.loc[[3, 200], "date"] = None
        pm = _message(lambda: curate.TrainingSetBuilder(missing, new, target=scen.target, time="date"))
        dm = _message(lambda: curate.TrainingSetBuilder(dd.from_pandas(missing, npartitions=5),
                                                        dd.from_pandas(new, npartitions=1), target=scen.target, time="date"))
    assert dask_msg == pandas_msg and "does not parse as dates" in dask_msg
    assert dm == pm and "2 missing value(s)" in dm


def test_steps_not_on_dask_and_engine_errors(data):
    old, new, _, scen = data
    b = curate.TrainingSetBuilder(dd.from_pandas(old, npartitions=2), dd.from_pandas(new, npartitions=2),
                                  target=scen.target, time="date").dedup(near=True)
    with pytest.raises(curate.ParameterError, match="Dask engine"):
        b.build()
    with pytest.raises(curate.ParameterError, match="engine"):
        with open_engine("spark"):
            pass
    with pytest.raises(curate.ParameterError, match="scheduler"):
        with open_engine("pandas", scheduler="tcp://127.0.0.1:1"):
            pass
    with open_engine("auto") as eng:
        assert eng.name == "pandas" or os.environ.get("DASK_SCHEDULER_ADDRESS")


def test_open_engine_cluster_log_level_is_checked():
    import curate
    from curakit.exceptions import ParameterError

    with pytest.raises(ParameterError, match=r"^The 'cluster_log_level' parameter of open_engine must be one of"):
        with curate.open_engine("dask", workers=1, cluster_log_level="loud"):
            pass
