"""A tabular user's loop through the console script: CSV files and a joblib / skops estimator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("curakit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "curakit"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def _fill_and_build_with_lineage(tmp_path, new):
    """Fill class 0 of the new rows (SMOTE), then build old + new + the fill with its lineage."""
    import json

    import curate

    r = _cli(tmp_path, "augment", "new.csv", "--target-col", "target", "--classes", "0", "--n", "15", "--out", "fills")
    assert r.returncode == 0 and "15 new row(s) by smote" in r.stdout, r.stderr
    r = _cli(tmp_path, "build", "--old", "old.csv", "--new", "new.csv", "--target", "target", "--add", "fills",
             "--eval", "old_test.csv", "--eval", "new_test.csv", "--out", "ts")
    assert r.returncode == 0, r.stderr
    ts = curate.TrainingSet.load(tmp_path / "ts")
    syn = ts.manifest["origin"] == "synthetic"
    assert syn.sum() == 15 and (ts.frame.loc[syn, "target"] == 0).all()
    ids = [p for raw in ts.manifest.loc[syn, "parent_ids"] for p in json.loads(raw)]
    assert all(p.startswith("new:") for p in ids)
    assert (new["target"].to_numpy()[[int(p.split(":")[1]) for p in ids]] == 0).all()  # SMOTE stays in the class


@pytest.mark.parametrize("form", ["joblib", "skops"])
def test_csv_and_estimator_file_register_build_retrain_promote(tmp_path, form):
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import SGDClassifier

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    rng = np.random.default_rng(0)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    old, new = frame.iloc[:250], frame.iloc[250:450]
    old.to_csv(tmp_path / "old.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    frame.iloc[450:510].to_csv(tmp_path / "old_test.csv", index=False)
    frame.iloc[510:].to_csv(tmp_path / "new_test.csv", index=False)
    feats = [c for c in frame.columns if c != "target"]
    est = SGDClassifier(loss="log_loss", random_state=0, max_iter=20, tol=None).fit(old[feats], old["target"])
    if form == "joblib":
        joblib.dump(est, tmp_path / "model.joblib")
        model = "model.joblib"
    else:
        sio = pytest.importorskip("skops.io")
        sio.dump(est, tmp_path / "model.skops")
        model = "model.skops"

    r = _cli(tmp_path, "registry", "register", "reg", "--model", model, "--metric", "accuracy")
    assert r.returncode == 0 and "registered v1 (champion)" in r.stdout, r.stderr
    if form == "joblib":  # (once: the fill does not depend on the model file's form)
        _fill_and_build_with_lineage(tmp_path, new)
    else:
        r = _cli(tmp_path, "build", "--old", "old.csv", "--new", "new.csv", "--target", "target", "--out", "ts")
        assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "retrain", "ts", "--model", "reg", "--eval", "old=old_test.csv", "--eval",
             "new=new_test.csv", "--strategy", "scratch_all", "--out", "res")
    assert r.returncode == 0, r.stderr
    assert "new: accuracy" in r.stdout
    r = _cli(tmp_path, "registry", "promote", "reg", "res", "--n-bootstrap", "200", "--max-drop-old", "0.5")
    assert r.returncode in (0, 3), r.stderr
    assert r.stdout.startswith("v2: ")
    if r.returncode == 0:
        assert "promoted to champion" in r.stdout
    else:  # the gate's reasons are printed
        assert "kept as a candidate" in r.stdout and "\n  - " in r.stdout
    listing = _cli(tmp_path, "registry", "list", "reg").stdout
    champion = [ln.split()[1] for ln in listing.splitlines() if ln.startswith("*")]
    assert champion == (["v2"] if r.returncode == 0 else ["v1"])


def test_gate_rejection_exits_3(tmp_path):
    """A gate no result can pass (a gain of 1.0 in accuracy) rejects: exit 3 and the reasons."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    d = load_iris(as_frame=True)
    frame = d.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.iloc[:60].to_csv(tmp_path / "old.csv", index=False)
    frame.iloc[60:110].to_csv(tmp_path / "new.csv", index=False)
    frame.iloc[110:130].to_csv(tmp_path / "old_test.csv", index=False)
    frame.iloc[130:].to_csv(tmp_path / "new_test.csv", index=False)
    feats = [c for c in frame.columns if c != "target"]
    joblib.dump(LogisticRegression(max_iter=500).fit(frame.iloc[:60][feats], frame.iloc[:60]["target"]),
                tmp_path / "m.joblib")
    assert _cli(tmp_path, "registry", "register", "reg", "--model", "m.joblib").returncode == 0
    assert _cli(tmp_path, "build", "--old", "old.csv", "--new", "new.csv", "--target", "target",
                "--out", "ts").returncode == 0
    r = _cli(tmp_path, "retrain", "ts", "--model", "reg", "--eval", "old=old_test.csv", "--eval", "new=new_test.csv",
             "--strategy", "scratch_all", "--out", "res")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "registry", "promote", "reg", "res", "--min-gain-new", "1.0", "--n-bootstrap", "100")
    assert r.returncode == 3, r.stderr
    assert "kept as a candidate" in r.stdout and "\n  - " in r.stdout
