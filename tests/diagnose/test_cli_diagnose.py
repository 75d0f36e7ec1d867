"""`curakit diagnose` over files, through curakit._cli.main and capsys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from curakit._cli import main
from diagnose import Diagnosis


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, te = idx[:300], idx[300:700]
    clf = LogisticRegression(max_iter=200).fit(X[tr] / 16, y[tr])
    pred = clf.predict(X[te] / 16)
    pred[np.flatnonzero(y[te] == 3)[:25]] = 5  # a planted weak class
    folder = tmp_path_factory.mktemp("cli")
    preds = pd.DataFrame({"y_true": y[te], "y_pred": pred})
    proba = clf.predict_proba(X[te] / 16)
    for k in range(10):
        preds[f"proba_{k}"] = proba[:, k]
    feats = pd.DataFrame(X[te][:, 18:26], columns=[f"px{i}" for i in range(18, 26)])
    preds.to_csv(folder / "preds.csv", index=False)
    pd.concat([preds, feats], axis=1).to_parquet(folder / "all.parquet")
    np.save(folder / "emb.npy", X[te])
    np.save(folder / "train_emb.npy", X[tr])
    return folder


def test_confusion_only_from_csv(files, capsys, tmp_path):
    code = main(["diagnose", str(files / "preds.csv"), "--out", str(tmp_path / "o"), "--methods", "confusion"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("400 rows, baseline error") and "methods: confusion;" in out
    assert "true class 3" in out
    d = Diagnosis.load(tmp_path / "o" / "diagnosis.json")
    assert d.methods == ("confusion",) and d.n_analysed == 400
    assert "<img" in (tmp_path / "o" / "report.html").read_text()
    assert len(pd.read_csv(tmp_path / "o" / "slices.csv")) == len(d.slices)


def test_embeddings_features_and_options(files, capsys, tmp_path):
    code = main([
        "diagnose", str(files / "all.parquet"), "--out", str(tmp_path / "o"),
        "--features", str(files / "all.parquet"),
        "--embeddings", str(files / "emb.npy"), "--train-embeddings", str(files / "train_emb.npy"),
        "--set", "clusters.n_epochs=40", "--set", "confusion.max_pairs=1", "--top", "3",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    d = Diagnosis.load(tmp_path / "o" / "diagnosis.json")
    assert set(d.methods) >= {"clusters", "confusion", "rules"}
    assert d.coords.shape == (400, 2)
    assert d.info["options"] == {"clusters": {"n_epochs": 40}, "confusion": {"max_pairs": 1}}
    assert sum(s.definition["kind"] == "pair" for s in d.slices) <= 1
    assert len([ln for ln in out.splitlines() if ln[:5].strip().isdigit()]) == min(3, len(d.slices))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--y-true-col", "label"], "Error: The predictions file has no column 'label' (12 columns). Name the column with --y-true-col."),
        (["--methods", "clsters"], "Error: Unknown diagnoser 'clsters'. Did you mean 'clusters'?"),
        (["--embeddings", "nope.npy"], "Error: no such file or folder: nope.npy. Check the path."),
        (["--set", "n_epochs=3"], "Error: --set expects METHOD.OPTION=VALUE"),
        (["--features", "x.json"], "Error: no such file or folder: x.json"),
    ],
)
def test_domain_errors_exit_1_with_one_line(files, capsys, tmp_path, extra, message):
    code = main(["diagnose", str(files / "preds.csv"), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing written on failure


def test_wrong_extension_and_usage_error(files, capsys, tmp_path):
    (tmp_path / "p.json").write_text("{}")
    assert main(["diagnose", str(tmp_path / "p.json"), "--out", str(tmp_path / "o")]) == 1
    assert "has an unsupported extension '.json'. Use .parquet, .pq or .csv." in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["diagnose", str(files / "preds.csv")])  # --out missing
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["diagnose", "--help"])
    assert exc.value.code == 0
    assert "--images FOLDER --model REGISTRY[@VERSION]" in capsys.readouterr().out


def test_out_safety_user_folder_needs_force(files, capsys, tmp_path):
    """A folder of the user's is refused before any work; --force writes only curakit's names into it."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    argv = ["diagnose", str(files / "preds.csv"), "--methods", "confusion", "--out", str(mine)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert main([*argv, "--force"]) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "diagnosis.json").is_file()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*argv[:-1], str(afile), "--force"]) == 1
    assert "is a file" in capsys.readouterr().err and afile.read_text() == "x"
    # a folder curakit wrote is replaced without --force
    assert main([*argv[:-1], str(tmp_path / "o")]) == 0
    assert main([*argv[:-1], str(tmp_path / "o")]) == 0
