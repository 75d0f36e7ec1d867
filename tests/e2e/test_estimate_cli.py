"""``curakit estimate`` through the console script on real data (sklearn digits as a table): a fill of real
threes for a thin class is estimated helpful on it, the same rows labelled 8 harmful; exit codes and
one-line errors; --out / --force as the other commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CLI = str(Path(sys.executable).with_name("curakit"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("estimate")
    d = load_digits(as_frame=True)
    X, y = d.data, d.target.to_numpy()
    idx = np.random.default_rng(0).permutation(len(y))
    thin, rest = idx[y[idx] == 3], idx[y[idx] != 3]
    parts = {"old": np.concatenate([rest[:700], thin[:4]]), "new": np.concatenate([rest[700:1000], thin[4:34]]),
             "good": thin[34:120]}
    for name, ix in parts.items():
        frame = X.iloc[ix].reset_index(drop=True)
        frame["digit"] = y[ix]
        frame.to_csv(folder / f"{name}.csv", index=False)
        if name == "good":
            frame.assign(digit=8).to_csv(folder / "bad.csv", index=False)
    model = LogisticRegression(max_iter=2000).fit(X.iloc[parts["old"]], y[parts["old"]])
    joblib.dump(model, folder / "model.joblib")
    return folder


def _cli(folder, *args):
    return subprocess.run([CLI, "estimate", "--model", "model.joblib", "--old", "old.csv", "--new", "new.csv",
                           "--target", "digit", *args], cwd=folder, capture_output=True, text=True, timeout=300)


def test_estimate_ranks_the_fills_and_writes_its_folder(files):
    res = _cli(files, "--fill", "good=good.csv", "--fill", "bad=bad.csv", "--out", "est")
    assert res.returncode == 0, res.stderr
    assert "forgetting" in res.stdout and "harmful" in res.stdout
    rows = pd.read_csv(files / "est" / "fill_value.csv").set_index(["fill", "slice"])
    assert rows.loc[("good", "class=3"), "gain"] - rows.loc[("bad", "class=3"), "gain"] > 0.3
    assert rows.loc[("bad", "class=3"), "high"] < 0
    saved = json.loads((files / "est" / "fill_value.json").read_text())
    assert {r["fill"] for r in saved["old_rows"]} == {"good", "bad"}
    again = _cli(files, "--fill", "good=good.csv", "--out", "est")  # its own earlier output: replaced
    assert again.returncode == 0, again.stderr


def test_estimate_errors_are_one_line(files):
    (files / "mine").mkdir()
    (files / "mine" / "notes.txt").write_text("keep")
    cases = [(["--fill", "good=good.csv", "--out", "mine"], "--force"),
             (["--fill", "goodgood.csv"], "NAME=DATA"),
             (["--fill", "good=missing.csv"], "no such file"),
             (["--fill", "good=good.csv", "--parents", "new"], "'parent' column"),
             ([], "at least one --fill")]
    for args, message in cases:
        res = _cli(files, *args)
        assert res.returncode == 1, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], (args, res.stderr)
    assert (files / "mine" / "notes.txt").read_text() == "keep"
    res = _cli(files, "--fill", "good=good.csv", "--out", "mine", "--force")
    assert res.returncode == 0 and (files / "mine" / "fill_value.csv").is_file()
    assert (files / "mine" / "notes.txt").read_text() == "keep"


def test_estimate_out_may_not_overlap_an_input(files):
    first = _cli(files, "--fill", "good=good.csv", "--out", "est_apart")
    assert first.returncode == 0, first.stderr
    before = (files / "est_apart" / "fill_value.csv").read_bytes()
    res = _cli(files, "--fill", "good=good.csv", "--fill", "prev=est_apart", "--out", "est_apart")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "overlaps the input --fill prev" in lines[0], res.stderr
    assert (files / "est_apart" / "fill_value.csv").read_bytes() == before
