"""Object storage for the Dask engine, against a REAL S3-compatible server (moto's server on a free
port, s3fs as the client; the LocalCluster's worker processes read and write through the same
HTTP endpoint): URL inputs build the rows of the local-path build, ``DaskTrainingSet.save(url)``
commits with one last object (an interrupted save leaves the earlier set loadable and equal), and
storage mistakes are one-line curakit errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import curate
from curate import DaskTrainingSet, open_engine
from curate.datasets import load_breast_cancer_drift

pytest.importorskip("s3fs", reason="s3fs is not installed (the dev extra provides it): object-storage tests skipped")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (the dev extra provides it): "
                                  "object-storage tests skipped")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A real moto S3 server on a free port; yields (storage options, s3fs filesystem) with bucket 'bkt'."""
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    opts = {"key": "testing", "secret": "testing", "endpoint_url": f"http://127.0.0.1:{port}"}
    fs = s3fs.S3FileSystem(**opts, skip_instance_cache=True)
    fs.mkdir("bkt")
    yield opts, fs
    server.stop()


@pytest.fixture(scope="module")
def data():
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    new = pd.concat([new, new.iloc[:12]], ignore_index=True)  # exact duplicates to remove
    old["date"] = pd.date_range("2019-01-01", periods=len(old), freq="2D").astype(str)
    new["date"] = pd.date_range(pd.Timestamp("2019-01-01") + pd.Timedelta(days=2 * len(old)), periods=len(new),
                                freq="2D").astype(str)
    return old, new, scen


def _write_hive(frame: pd.DataFrame, root, n_files: int) -> str:
    """year=YYYY/part-k.parquet files, row order kept."""
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


def _upload(fs, local: str, key: str) -> str:
    fs.put(local.rstrip("/") + "/", f"bkt/{key}/", recursive=True)
    fs.invalidate_cache()
    return f"s3://bkt/{key}/"


def _chain(b):
    return b.window(last="500D").mix(alpha=0.5, stratify=True).dedup().split(validation=0.2)


def _same(p, q) -> None:
    p = p.to_pandas() if isinstance(p, DaskTrainingSet) else p
    q = q.to_pandas() if isinstance(q, DaskTrainingSet) else q
    pd.testing.assert_frame_equal(p.frame.reset_index(drop=True), q.frame.reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)
    for col in ("row_id", "origin", "reason", "split"):
        assert list(p.manifest[col].astype(str)) == list(q.manifest[col].astype(str)), col
    np.testing.assert_allclose(p.manifest["weight"].to_numpy(), q.manifest["weight"].to_numpy(), rtol=1e-12)


def _versions(fs, key: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"bkt/{key}", detail=False) if p.rsplit("/", 1)[-1].startswith("v-"))


def _one_line(fn, kind=curate.CurakitError) -> str:
    with pytest.raises(kind) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg and exc.value.__cause__ is None  # no third-party traceback chained on
    assert exc.value.__context__ is None or exc.value.__suppress_context__
    assert "botocore" not in msg and "Traceback" not in msg
    return msg


@pytest.fixture(scope="module")
def built(s3, data, client, tmp_path_factory):
    """The same build from local Parquet paths and from their copies in S3 (URL inputs)."""
    opts, fs = s3
    old, new, scen = data
    tmp = tmp_path_factory.mktemp("objstore")
    ro, rn = _write_hive(old, tmp / "old", 6), _write_hive(new, tmp / "new", 3)
    uo, un = _upload(fs, ro, "in/old"), _upload(fs, rn, "in/new")
    with client.as_current():
        local = _chain(curate.TrainingSetBuilder(ro, rn, target=scen.target, time="date",
                                                 features=scen.features)).build(random_state=5)
        with open_engine(storage_options=opts):  # the options of every URL read / written while open
            remote = _chain(curate.TrainingSetBuilder(uo, un, target=scen.target, time="date",
                                                      features=scen.features)).build(random_state=5)
        other = _chain(curate.TrainingSetBuilder(ro, rn, target=scen.target, time="date", features=scen.features)
                       ).mix(alpha=0.1).build(random_state=6)
    return local, remote, other, (uo, un)


def test_url_inputs_select_the_local_rows(built, s3, data, client):
    local, remote, _, (uo, un) = built
    assert isinstance(remote, DaskTrainingSet) and len(remote) == len(local) > 0
    assert local.info["dedup"]["removed"] > 0  # the dedup shuffle had work to do
    _same(local, remote)
    _, _, scen = data
    with client.as_current():  # the builder's own keyword, no engine open
        keyword = _chain(curate.TrainingSetBuilder(uo, un, target=scen.target, time="date", features=scen.features,
                                                   storage_options=s3[0])).build(random_state=5)
    _same(local, keyword)


def test_save_commits_last_and_load_reads_the_committed_set(s3, built, client):
    opts, fs = s3
    local, remote, other, _ = built
    with client.as_current():
        url = remote.save("s3://bkt/ts", storage_options=opts)
        assert url == "s3://bkt/ts"
        first = _versions(fs, "ts")
        assert len(first) == 1
        commit = json.loads(fs.cat_file("bkt/ts/training_set.json"))
        assert commit["version"] == first[0] and commit["engine"] == "dask" and commit["n_rows"] == len(local)
        lazy = DaskTrainingSet.load(url, storage_options=opts)
        with open_engine(storage_options=opts):
            eager = curate.TrainingSet.load(url)  # every partition's digest checked
        _same(local, lazy)
        _same(local, eager)
        other.save(url, storage_options=opts)  # a second save: a new version, the old one deleted after the commit
        second = _versions(fs, "ts")
        assert len(second) == 1 and second != first
        _same(other, DaskTrainingSet.load(url, storage_options=opts))
        remote.save(url, storage_options=opts)
    assert eager.fingerprint() == curate.TrainingSet.load(url, storage_options=opts).fingerprint()


def _fail_on_second(part: pd.DataFrame, partition_info=None) -> pd.DataFrame:
    if partition_info is not None and partition_info.get("number") == 1:
        raise RuntimeError("worker task failed mid-write")
    return part


def test_save_failing_mid_write_leaves_the_earlier_set(s3, built, client):
    opts, fs = s3
    local, remote, other, _ = built
    url = "s3://bkt/keep"
    with client.as_current():
        remote.save(url, storage_options=opts)
        before = _versions(fs, "keep")
        assert other.frame.npartitions > 1
        broken = dataclasses.replace(other, frame=other.frame.map_partitions(_fail_on_second, meta=other.frame._meta))
        with pytest.raises(RuntimeError, match="mid-write"):
            broken.save(url, storage_options=opts)
        # the failed save removes its own prefix, best effort: a worker still writing a partition when the
        # client deletes it may leave one uncommitted prefix, which the next save removes
        left = _versions(fs, "keep")
        assert set(before) <= set(left) and len(left) <= len(before) + 1
        _same(local, DaskTrainingSet.load(url, storage_options=opts))
        remote.save(url, storage_options=opts)
        assert len(_versions(fs, "keep")) == 1 and _versions(fs, "keep")[0] not in left


def test_client_killed_before_commit_leaves_the_earlier_set(s3, built, client):
    """A real SIGKILL of the saving process after every data file is written, right before the commit."""
    opts, fs = s3
    local, remote, other, _ = built
    with client.as_current():
        remote.save("s3://bkt/killed", storage_options=opts)
        other.save("s3://bkt/src", storage_options=opts)
    before = _versions(fs, "killed")
    code = textwrap.dedent("""
        import json, os, signal, sys
        import dask
        dask.config.set(scheduler="synchronous")
        from curate import DaskTrainingSet
        from curate._dask import objectstore
        opts = json.loads(sys.argv[1])
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        objectstore.write_commit = die
        DaskTrainingSet.load("s3://bkt/src", storage_options=opts).save("s3://bkt/killed", storage_options=opts)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(opts)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    after = _versions(fs, "killed")
    assert len(after) == 2 and before[0] in after  # the dead save's files are there, uncommitted
    fs.invalidate_cache()
    assert fs.glob(f"bkt/killed/{max(after)}/data.parquet/part.*.parquet")  # its data was fully written
    with client.as_current():
        _same(local, DaskTrainingSet.load("s3://bkt/killed", storage_options=opts))
        assert curate.TrainingSet.load("s3://bkt/killed", storage_options=opts).fingerprint() == \
            remote.to_pandas().fingerprint()
        other.save("s3://bkt/killed", storage_options=opts)  # the next save deletes the dead one's prefix too
    final = _versions(fs, "killed")
    assert len(final) == 1 and final[0] not in after


def test_storage_mistakes_are_one_line_errors(s3, built, data, client, monkeypatch):
    opts, fs = s3
    _, remote, _, (uo, un) = built
    _, _, scen = data

    def build(old, new=un, **kw):
        return curate.TrainingSetBuilder(old, new, target=scen.target, time="date", features=scen.features)

    with client.as_current(), open_engine(storage_options=opts):
        msg = _one_line(lambda: build("s3://nobucket/old/"), curate.DataError)
        assert "bucket 'nobucket' does not exist" in msg
        msg = _one_line(lambda: build("s3://bkt/in/nothing/"), curate.DataError)
        assert "does not exist" in msg and "old" in msg
        msg = _one_line(lambda: build("foo://bkt/in/old/"), curate.ParameterError)
        assert "unknown protocol 'foo://'" in msg
        msg = _one_line(lambda: remote.save("s3://nobucket/ts"), curate.DataError)
        assert "bucket 'nobucket' does not exist" in msg and not fs.exists("nobucket")  # never created
        msg = _one_line(lambda: DaskTrainingSet.load("s3://bkt/in/old/"), curate.DataError)
        assert "no committed training set" in msg
        msg = _one_line(lambda: remote.save("s3://bkt/in/"), curate.DataError)  # the inputs' prefix: not ours
        assert "curakit did not write" in msg
        msg = _one_line(lambda: remote.save("s3://bkt/ts", storage_options={"nonsense_option": 1}), curate.CurakitError)
    with pytest.raises(curate.ParameterError, match="applies to URLs"):
        remote.save("local_dir", storage_options=opts)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    nocreds = {"endpoint_url": opts["endpoint_url"], "skip_instance_cache": True}
    with client.as_current(), open_engine(storage_options=nocreds):
        msg = _one_line(lambda: build(uo), curate.DataError)
        assert "no credentials" in msg and "AWS_ACCESS_KEY_ID" in msg
        msg = _one_line(lambda: DaskTrainingSet.load("s3://bkt/ts"), curate.DataError)
        assert "no credentials" in msg
    dead = {**opts, "endpoint_url": f"http://127.0.0.1:{_free_port()}", "skip_instance_cache": True,
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
    msg = _one_line(lambda: DaskTrainingSet.load("s3://bkt/ts", storage_options=dead), curate.DataError)
    assert "endpoint does not answer" in msg


def test_bad_partition_in_object_storage_same_errors_as_local(s3, data, client, tmp_path):
    opts, fs = s3
    old, new, scen = data
    root = tmp_path / "old"
    _write_hive(old, root, 4)
    victim = sorted(root.rglob("*.parquet"))[-1]
    pd.read_parquet(victim).drop(columns=["mean_texture"]).to_parquet(victim, index=False)
    bad = old.copy()
    bad.loc[len(bad) - 5, "date"] = "2020-13-45"  # no 13th month
    bad_root = _write_hive(bad, tmp_path / "bad", 4)
    new_root = _write_hive(new, tmp_path / "new", 2)
    u_missing, u_bad = _upload(fs, str(root), "bad/missing"), _upload(fs, bad_root, "bad/time")
    u_new = _upload(fs, new_root, "bad/new")

    def msg(o, n):
        return _one_line(lambda: curate.TrainingSetBuilder(o, n, target=scen.target, time="date", features=scen.features),
                         curate.DataError)

    with client.as_current(), open_engine(storage_options=opts):
        local_missing, url_missing = msg(str(root), new_root), msg(u_missing, u_new)
        local_time, url_time = msg(bad_root, new_root), msg(u_bad, u_new)
    assert url_missing.startswith("Feature column(s) ['mean_texture'] are not in old") and victim.name in url_missing
    assert url_missing == local_missing.replace(str(root), u_missing)
    assert url_time == local_time and "does not parse as dates" in url_time


def test_fitted_preprocessing_is_saved_and_loaded_locally_and_in_s3(s3, built, client, tmp_path):
    from curate._preprocess import default_preprocessor

    opts, _ = s3
    local, remote, _, _ = built
    frame = local.to_pandas().frame
    pre = default_preprocessor(frame, remote.features).fit(frame[remote.features])
    withpre = dataclasses.replace(remote, preprocessor=pre)
    want = pre.transform(frame[remote.features])
    with client.as_current():
        withpre.save(tmp_path / "ts")
        withpre.save("s3://bkt/pre", storage_options=opts)
        loaded = [curate.TrainingSet.load(tmp_path / "ts"), DaskTrainingSet.load(tmp_path / "ts").to_pandas(),
                  curate.TrainingSet.load("s3://bkt/pre", storage_options=opts),
                  DaskTrainingSet.load("s3://bkt/pre", storage_options=opts).to_pandas(), withpre.to_pandas()]
    for ts in loaded:
        assert ts.preprocessor is not None
        np.testing.assert_allclose(ts.preprocessor.transform(ts.frame[remote.features]), want, rtol=1e-12)
    assert DaskTrainingSet.load(tmp_path / "ts").preprocessor is not None
    assert remote.to_pandas().preprocessor is None


def test_cli_build_reads_and_writes_object_storage(s3, built, data, client, capsys):
    """``curakit build`` with URL inputs and a URL --out, on the fixture's cluster (--scheduler)."""
    from curakit._cli import main

    opts, fs = s3
    local, _, _, (uo, un) = built
    _, _, scen = data
    so = [f"--storage-option=endpoint_url={opts['endpoint_url']}", "--storage-option", "key=testing",
          "--storage-option", "secret=testing"]
    base = ["build", "--old", uo, "--new", un, "--target", scen.target, "--time", "date",
            "--features", ",".join(scen.features), "--window", "500D", "--alpha", "0.5", "--stratify", "--dedup",
            "--validation", "0.2", "--random-state", "5", "--scheduler", client.scheduler.address]
    assert main([*base, *so, "--out", "s3://bkt/cli"]) == 0
    assert "Wrote s3://bkt/cli" in capsys.readouterr().out
    with client.as_current():
        _same(local, curate.TrainingSet.load("s3://bkt/cli", storage_options=opts))

    def fails(argv, needle):
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 1 and err.startswith("Error: ") and "\n" not in err and needle in err, err
        return err

    fails([*base, "--storage-option", "endpoint_url", "--out", "s3://bkt/cli2"], "KEY=VALUE")
    fails([*base, *so, "--out", "s3://bkt/cli2", "--force"], "--force applies to local folders")
    fails([*base, *so, "--out", "s3://bkt/cli2", "--eval", "s3://bkt/ev.parquet"], "--eval takes a local file")
    fails([*base, *so, "--out", "s3://bkt/in/old/ts"], "overlaps the input --old")
    fails([*base, *so, "--out", "s3://nobucket/ts"], "bucket 'nobucket' does not exist")
    fails([*base, *so, "--out", "s3://bkt/cli2", "--engine", "pandas"], "builds on Dask")
    assert not fs.exists("bkt/cli2")


def test_cli_credentials_from_the_environment(s3, built, data, client):
    """No --storage-option: the console script and its local cluster's workers find key, secret and
    endpoint in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_ENDPOINT_URL, as s3fs reads them."""
    opts, _ = s3
    local, _, _, (uo, un) = built
    _, _, scen = data
    env = {**os.environ, "AWS_ACCESS_KEY_ID": opts["key"], "AWS_SECRET_ACCESS_KEY": opts["secret"],
           "AWS_ENDPOINT_URL": opts["endpoint_url"], "AWS_EC2_METADATA_DISABLED": "true", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "curakit", "build", "--old", uo, "--new", un, "--target", scen.target, "--time", "date",
            "--features", ",".join(scen.features), "--window", "500D", "--alpha", "0.5", "--stratify", "--dedup",
            "--validation", "0.2", "--random-state", "5", "--workers", "1", "--out", "s3://bkt/envcli"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with client.as_current():
        _same(local, curate.TrainingSet.load("s3://bkt/envcli", storage_options=opts))
    env.pop("AWS_ACCESS_KEY_ID"), env.pop("AWS_SECRET_ACCESS_KEY")
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials", AWS_CONFIG_FILE="/nonexistent/config")
    proc = subprocess.run([*argv[:-1], "s3://bkt/envcli2"], capture_output=True, text=True, env=env, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and err[-1].startswith("Error: ") and "no credentials" in err[-1], proc.stderr[-2000:]
    assert not any("Traceback" in line for line in err), proc.stderr[-3000:]
