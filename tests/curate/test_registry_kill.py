"""A killed run registers nothing it did not finish (issue 13 item 3).

A real subprocess promotes a saved result and is SIGKILLed at a chosen point of the registration
(it touches a marker file there and waits); the registry must then list only the versions it had,
load its champion, and the next write must sweep what the killed one left under ``versions/``.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import curate

CHILD = textwrap.dedent("""
    import os, sys, time, pathlib
    root, result_dir, marker, where = sys.argv[1:5]

    def stall():
        pathlib.Path(marker).touch()
        time.sleep(120)

    import curate
    from curate import _artifacts, _modelregistry
    if where == "model":  # the weights are written, model.json is not: inside the version's temporary folder
        real_save = _artifacts._save_estimator
        def _save_estimator(model, folder):
            out = real_save(model, folder)
            stall()
            return out
        _artifacts._save_estimator = _save_estimator
    elif where == "version":  # the version folder is in place, registry.json not yet replaced
        real_write = _modelregistry.atomic_write_json
        def atomic_write_json(path, obj):
            stall()
            return real_write(path, obj)
        _modelregistry.atomic_write_json = atomic_write_json
    elif where == "state":  # the new registry.json is written to its temporary file, not yet renamed
        real_replace = os.replace
        def replace(src, dst, *a, **k):
            if str(dst).endswith("registry.json"):
                stall()
            return real_replace(src, dst, *a, **k)
        os.replace = replace
    result = curate.RetrainResult.load(result_dir)
    curate.Registry(root).promote_if_better(result, gate=curate.Gate(n_bootstrap=50, max_drop_old=1.0,
                                                                     min_gain_new=-1.0))
    print("finished")
""")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    frame = load_breast_cancer(as_frame=True).frame
    cols = list(frame.columns[:5])
    frame = frame[[*cols, "target"]]
    old, new = frame.iloc[:250], frame.iloc[250:450]
    model = LogisticRegression(max_iter=300).fit(old[cols], old["target"])
    ts = curate.TrainingSetBuilder(old, new, target="target").build(random_state=0)
    result = curate.retrain(model, ts, strategy="scratch_all", eval_sets={"old": frame.iloc[450:510],
                                                                          "new": frame.iloc[510:]})
    base = tmp_path_factory.mktemp("kill")
    result.save(base / "result")
    return model, base / "result", frame.iloc[510:][cols]


def _kill_at(where, root, result_dir, tmp):
    marker = tmp / f"marker-{where}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(result_dir), str(marker), where],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the child never reached {where!r}: {err.decode()[-2000:]}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("where", ["model", "version", "state"])
def test_a_registration_killed_midway_registers_nothing(saved, tmp_path, where):
    model, result_dir, X = saved
    root = tmp_path / "reg"
    reg = curate.Registry(root)
    reg.register(model, metric="accuracy")
    before = (root / "registry.json").read_bytes()
    _kill_at(where, root, result_dir, tmp_path)
    # the registry reads as it was: one complete version, the champion loads and predicts
    assert (root / "registry.json").read_bytes() == before
    assert [v.version for v in reg.versions()] == ["v1"] and reg.champion == "v1"
    assert [e["event"] for e in reg.history()] == ["register"]
    np.testing.assert_array_equal(reg.load().predict(X), model.predict(X))
    left = sorted(p.name for p in (root / "versions").iterdir())
    assert left != ["v1"]  # the killed write left a temporary or an unregistered version folder behind
    # the next write sweeps it and registers a complete v2 (the lock died with the killed process)
    promo = reg.promote_if_better(curate.RetrainResult.load(result_dir),
                                  gate=curate.Gate(n_bootstrap=50, max_drop_old=1.0, min_gain_new=-1.0))
    assert promo.version == "v2" and promo.registered
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v1", "v2"]
    assert not [p for p in root.iterdir() if p.name.startswith(".registry.json")]
    reg.load("v2").predict(X)
    assert isinstance(pd.DataFrame(reg.to_frame()), pd.DataFrame) and len(reg.to_frame()) == 2
