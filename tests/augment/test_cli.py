"""``curakit augment`` over an image folder and a table, with slices from a diagnosis file."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
A = pytest.importorskip("albumentations")

import augment  # noqa: E402
from curakit._cli import main  # noqa: E402
from curakit.imageio import read_image_folder, read_png, write_png  # noqa: E402
from diagnose import Slice  # noqa: E402


@pytest.fixture
def folder(digits, tmp_path):
    images, labels = digits
    root = tmp_path / "digits"
    for k in range(60):
        (root / str(labels[k])).mkdir(parents=True, exist_ok=True)
        write_png(root / str(labels[k]) / f"img{k:03d}.png", images[k])
    pipe = A.Compose([A.Affine(rotate=(-15, 15), p=1.0)])
    A.save(pipe, str(tmp_path / "pipe.yaml"), data_format="yaml")
    return root, tmp_path / "pipe.yaml"


def _diagnosis(tmp_path, s):
    path = tmp_path / "diagnosis.json"
    path.write_text(json.dumps({"schema_version": 1, "slices": [s.to_dict()]}))
    return path


def test_image_folder_with_a_diagnosis_slice(folder, tmp_path, capsys):
    root, pipe = folder
    images, labels, rel = read_image_folder(root)
    s = Slice(id="clusters-77aa", method="clusters", description="thin strokes", indices=np.array([2, 5, 11, 40]),
              n_analysed=len(images), error_rate=0.5, baseline_error_rate=0.1)
    diag = _diagnosis(tmp_path, s)
    out = tmp_path / "out"
    code = main(["augment", str(root), "--pipeline", str(pipe), "--diagnosis", str(diag), "--slice", s.id,
                 "--n", "10", "--out", str(out)])
    assert code == 0
    assert "10 new image(s)" in capsys.readouterr().out
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 10 and set(manifest["parent"]) <= {2, 5, 11, 40}
    assert set(json.loads(manifest["slice_ids"].iloc[0])) == {s.id}
    for _, row in manifest.iterrows():
        img = read_png(out / row["path"])
        np.testing.assert_array_equal(img, augment.replay(row, images[row["parent"]], pipe))
        assert row["path"].split("/")[1] == str(labels[row["parent"]])  # written under its label folder
    # the same call again reads the finished run back
    assert main(["augment", str(root), "--pipeline", str(pipe), "--diagnosis", str(diag), "--slice", s.id,
                 "--n", "10", "--out", str(out)]) == 0


def test_image_folder_with_class_quotas_and_indices(folder, tmp_path):
    root, pipe = folder
    _, labels, _ = read_image_folder(root)
    out = tmp_path / "q"
    assert main(["augment", str(root), "--pipeline", str(pipe), "--classes", "3,8", "--n", "3=4,8=2",
                 "--out", str(out)]) == 0
    m = pd.read_parquet(out / "manifest.parquet")
    assert sorted(m["label"].tolist()) == [3, 3, 3, 3, 8, 8]
    out2 = tmp_path / "i"
    assert main(["augment", str(root), "--pipeline", str(pipe), "--indices", "0,1,2", "--out", str(out2)]) == 0
    assert sorted(pd.read_parquet(out2 / "manifest.parquet")["parent"]) == [0, 1, 2]


def test_table_with_a_rule_slice(tmp_path, capsys):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    table = tmp_path / "cancer.parquet"
    frame.to_parquet(table)
    s = Slice(id="rules-5e", method="rules", description="mean radius > 15", indices=np.array([0]), n_analysed=1,
              error_rate=0.3, baseline_error_rate=0.1,
              definition={"kind": "rule", "conditions": [{"feature": "mean radius", "op": ">", "value": 15.0}]})
    diag = _diagnosis(tmp_path, s)
    out = tmp_path / "tab"
    assert main(["augment", str(table), "--target-col", "target", "--diagnosis", str(diag), "--slice", s.id,
                 "--n", "20", "--out", str(out)]) == 0
    res = pd.read_parquet(out / "table.parquet")
    man = pd.read_parquet(out / "manifest.parquet")
    assert len(res) == len(man) == len(frame) + 40  # 20 per class present in the slice
    syn = (man["origin"] == "synthetic").to_numpy()
    parents = np.array([[int(p) for p in json.loads(t)] for t in man["parent_ids"][syn]])
    assert (frame["mean radius"].to_numpy()[parents] > 15).all()
    assert "40 new row(s) by smote" in capsys.readouterr().out


def test_errors_are_one_line_and_leave_no_output(folder, tmp_path, capsys):
    root, pipe = folder
    out = tmp_path / "none"
    s = Slice(id="cluster-3", method="clusters", description="d", indices=np.arange(5), n_analysed=5,
              error_rate=0.5, baseline_error_rate=0.1)
    diag = _diagnosis(tmp_path, s)
    cases = [
        (["augment", str(root), "--pipeline", str(pipe), "--diagnosis", str(diag), "--slice", "cluster-4"],
         "has no slice 'cluster-4'. Did you mean 'cluster-3'?"),
        (["augment", str(root), "--diagnosis", str(diag), "--slice", "cluster-3"], "An image folder needs --pipeline"),
        (["augment", str(root), "--pipeline", str(pipe), "--n", "-3"], "The 'n' parameter of offline must be a non-negative int"),
        (["augment", str(root), "--pipeline", str(tmp_path / "nope.yaml")], "does not exist"),
        (["augment", str(tmp_path / "missing")], "no such file or folder"),
    ]
    for argv, msg in cases:
        assert main([*argv, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert not out.exists()
    bad = tmp_path / "broken"
    (bad / "1").mkdir(parents=True)
    (bad / "1" / "x.png").write_bytes(b"junk")
    assert main(["augment", str(bad), "--pipeline", str(pipe), "--out", str(out)]) == 1
    assert "cannot be decoded" in capsys.readouterr().err and not out.exists()
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2, "y": [0] * 15 + [1] * 5})
    frame.to_parquet(tmp_path / "t.parquet")
    assert main(["augment", str(tmp_path / "t.parquet"), "--target-col", "y", "--indices", "15,16,17",
                 "--k-neighbors", "6", "--out", str(out)]) == 1
    assert "has 3 rows but SMOTE(k_neighbors=6) needs at least 7" in capsys.readouterr().err
    assert not out.exists()


def test_default_pipeline_keeps_size_and_labels_same_seed_same_output(folder, tmp_path):
    root, _ = folder
    outs = []
    for name in ("d1", "d2"):
        out = tmp_path / name
        assert main(["augment", str(root), "--pipeline", "default", "--classes", "3", "--n", "5",
                     "--out", str(out)]) == 0
        m = pd.read_parquet(out / "manifest.parquet")
        assert m["label"].tolist() == [3] * 5
        files = sorted((out / "images").rglob("*.png"))
        assert len(files) == 5 and all(read_png(f).shape == (8, 8, 1) for f in files)
        outs.append(np.stack([read_png(f) for f in files]))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not all(np.array_equal(a, outs[0][0]) for a in outs[0][1:])  # the images differ from each other
