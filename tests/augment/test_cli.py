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


def test_vae_on_an_npz_of_digits_and_on_a_table_same_seed_same_output(digits, tmp_path, capsys):
    images, labels = digits
    npz = tmp_path / "digits.npz"
    np.savez(npz, images=images[:, :, :, 0], labels=labels)  # grayscale (n, H, W): one channel
    outs = []
    for name in ("v1", "v2"):
        out = tmp_path / name
        assert main(["augment", str(npz), "--method", "vae", "--classes", "3", "--n", "6", "--epochs", "8",
                     "--out", str(out), "--save-generator", str(tmp_path / f"gen-{name}")]) == 0
        assert "6 new image(s) by vae" in capsys.readouterr().out
        aug = augment.AugmentedSet.load(out)
        assert aug.images.shape == (6, 8, 8, 1) and (aug.labels == 3).all()
        assert set(aug.manifest["parent"]) <= set(np.flatnonzero(labels == 3).tolist())
        assert json.loads((out / "augment.json").read_text())["kind"] == "images"
        assert "groups" in json.loads((out / "quality.json").read_text())
        outs.append(aug.images)
    np.testing.assert_array_equal(outs[0], outs[1])
    gen = augment.VAEGenerator.load(tmp_path / "gen-v1")  # saved without pickle, replays the rows bit for bit
    np.testing.assert_array_equal(gen.replay(images, labels, aug.manifest), outs[0])

    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.to_csv(tmp_path / "wine.csv", index=False)
    out = tmp_path / "wv"
    assert main(["augment", str(tmp_path / "wine.csv"), "--target-col", "target", "--method", "vae",
                 "--classes", "2", "--n", "8", "--epochs", "40", "--temperature", "0.5", "--random-state", "3",
                 "--condition", "class+slice", "--out", str(out)]) == 0
    res, man = pd.read_parquet(out / "table.parquet"), pd.read_parquet(out / "manifest.parquet")
    assert 0 < len(res) == len(man) <= 8 and (res["target"] == 2).all() and (man["operation"] == "vae").all()
    assert list(res.columns) == list(frame.columns)
    for col in frame.columns[:-1]:  # never outside the observed range (clip=True)
        assert frame[col].min() <= res[col].min() and res[col].max() <= frame[col].max()
    assert json.loads(man["params"].iloc[0])["temperature"] == 0.5
    assert json.loads(man["params"].iloc[0])["cond"] == "2|in_slice=1"
    assert "new rows only" in capsys.readouterr().out


def test_out_and_force(folder, tmp_path, capsys):
    root, pipe = folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    argv = ["augment", str(root), "--pipeline", str(pipe), "--classes", "3", "--n", "2"]
    assert main([*argv, "--out", str(mine)]) == 1
    assert "--force" in capsys.readouterr().err and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert main([*argv, "--out", str(mine), "--force"]) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "manifest.parquet").is_file()
    assert not (mine / ".curakit-output").exists()  # still the user's folder: the next run needs --force again
    (tmp_path / "afile").write_text("x")
    for force in ([], ["--force"]):
        assert main([*argv, "--out", str(tmp_path / "afile"), *force]) == 1
        assert "is a file" in capsys.readouterr().err and (tmp_path / "afile").read_text() == "x"
    ours = tmp_path / "ours"
    assert main([*argv, "--out", str(ours)]) == 0
    first = pd.read_parquet(ours / "manifest.parquet")
    assert main([*argv[:-1], "3", "--out", str(ours)]) == 0  # an earlier curakit output of other arguments: replaced
    assert len(pd.read_parquet(ours / "manifest.parquet")) == 3 and len(first) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ours")]  # no temporaries left


def _images_by_row(out):
    """{row_id: PNG bytes} of a curakit augment output (in-process or Dask layout)."""
    manifest = pd.read_parquet(out / "manifest.parquet")
    return {r: (out / p).read_bytes() for r, p in zip(manifest["row_id"], manifest["path"])}


def test_workers_run_on_a_local_dask_cluster_through_the_console_script(folder, tmp_path, capsys, monkeypatch):
    """--workers 2 through .venv/bin/curakit: the same rows, image bytes and refused rows as the
    in-process run (only the file layout differs: images/shard-<s>/<label>/, a partitioned manifest)."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    root, pipe = folder
    args = [str(root), "--pipeline", str(pipe), "--classes", "3,8", "--n", "12", "--random-state", "5"]
    assert main(["augment", *args, "--out", str(tmp_path / "free")]) == 0
    free = pd.read_parquet(tmp_path / "free" / "manifest.parquet")
    for k in (0, 7, 13):  # an evaluation folder holding three of the images the run makes
        label = free["label"].iloc[k]
        (tmp_path / "eval" / str(label)).mkdir(parents=True, exist_ok=True)
        write_png(tmp_path / "eval" / str(label) / f"e{k}.png", read_png(tmp_path / "free" / free["path"].iloc[k]))
    args += ["--eval", f"held={tmp_path / 'eval'}"]
    assert main(["augment", *args, "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    exe = Path(sys.executable).parent / "curakit"
    env = {**os.environ, "CURAKIT_PROGRESS": "1"}
    run = subprocess.run([str(exe), "augment", *args, "--workers", "2", "--shard-size", "5", "--out",
                          str(tmp_path / "dask")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Dask dashboard: http" in run.stdout and "100% Completed" in run.stdout  # Dask's own progress bar
    assert "21 new image(s) by offline on Dask (5 shard(s))" in run.stdout and "3 refused" in run.stdout
    local, dask_ = (pd.read_parquet(tmp_path / d / "manifest.parquet") for d in ("local", "dask"))
    cols = [c for c in local.columns if c != "path"]
    pd.testing.assert_frame_equal(dask_[cols], local[cols])
    assert _images_by_row(tmp_path / "dask") == _images_by_row(tmp_path / "local")  # byte for byte
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "refused.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "refused.parquet"))
    assert (json.loads((tmp_path / "dask" / "augment.json").read_text())
            == json.loads((tmp_path / "local" / "augment.json").read_text()))
    assert all(p.startswith("images/shard-") for p in dask_["path"])
    assert not list(tmp_path.glob(".*.partial"))


def test_scheduler_and_workers_errors_are_one_line(folder, digits, tmp_path, capsys):
    root, pipe = folder
    images, labels = digits
    np.savez(tmp_path / "d.npz", images=images[:30], labels=labels[:30])
    pd.DataFrame({"a": np.arange(20.0), "y": [0, 1] * 10}).to_parquet(tmp_path / "t.parquet")
    out = tmp_path / "none"
    cases = [
        ([str(root), "--pipeline", str(pipe), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        ([str(root), "--pipeline", str(pipe), "--workers", "0"], "--workers expects a number of worker processes >= 1"),
        ([str(root), "--pipeline", str(pipe), "--workers", "1", "--shard-size", "0"], "--shard-size expects"),
        ([str(root), "--pipeline", str(pipe), "--workers", "1", "--n-jobs", "2"],
         "--n-jobs sizes this process's pool and does not apply on Dask. Drop --n-jobs and size the cluster"),
        ([str(root), "--method", "vae", "--workers", "1"], "--method vae fits its generator on every image in this "
         "process and does not run on Dask. Drop --scheduler/--workers to generate here"),
        ([str(tmp_path / "d.npz"), "--method", "vae", "--scheduler", "tcp://127.0.0.1:1"], "or use --pipeline for "
         "offline augmentation on Dask"),
        ([str(tmp_path / "t.parquet"), "--target-col", "y", "--workers", "1"], "the SMOTE family and vae resample a "
         "table from all its rows in this process. Drop --scheduler/--workers."),
        ([str(tmp_path / "t.parquet"), "--target-col", "y", "--method", "vae", "--scheduler", "tcp://127.0.0.1:1"],
         "the SMOTE family and vae resample a table"),
    ]
    for argv, msg in cases:
        assert main(["augment", *argv, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert not out.exists()


def test_resize_and_an_npz_on_a_local_dask_cluster_through_the_console_script(folder, digits, tmp_path, monkeypatch):
    """--resize on Dask (the workers resize what they read) and an .npz on Dask (the arrays written
    once next to --out, for the workers): the same manifest rows and PNG bytes as in one process."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    root, pipe = folder
    images, labels = digits
    np.savez(tmp_path / "d.npz", images=images[:60], labels=labels[:60])
    exe = Path(sys.executable).parent / "curakit"
    cases = [(str(root), "2", "60 images listed"), (str(tmp_path / "d.npz"), "1", "60 images read")]
    for k, (src, workers, said) in enumerate(cases):
        args = [src, "--pipeline", str(pipe), "--classes", "3,8", "--n", "12", "--random-state", "5",
                "--resize", "12x10"]
        assert main(["augment", *args, "--out", str(tmp_path / f"local{k}")]) == 0
        run = subprocess.run([str(exe), "augment", *args, "--workers", workers, "--shard-size", "5", "--out",
                              str(tmp_path / f"dask{k}")], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert said in run.stdout and "24 new image(s) by offline on Dask (5 shard(s))" in run.stdout
        local, dask_ = (pd.read_parquet(tmp_path / f"{d}{k}" / "manifest.parquet") for d in ("local", "dask"))
        cols = [c for c in local.columns if c != "path"]
        pd.testing.assert_frame_equal(dask_[cols], local[cols])
        assert _images_by_row(tmp_path / f"dask{k}") == _images_by_row(tmp_path / f"local{k}")  # byte for byte
        assert read_png(tmp_path / f"dask{k}" / dask_["path"].iloc[0]).shape == (12, 10, 1)
        assert not list((tmp_path / f"dask{k}").rglob("*.npy"))  # no .parents.npy left behind
        assert (json.loads((tmp_path / f"dask{k}" / "augment.json").read_text())
                == json.loads((tmp_path / f"local{k}" / "augment.json").read_text()))
    assert not list(tmp_path.glob(".*.partial"))


def test_out_overlapping_an_input_and_embeddings_of_other_rows_are_refused(folder, tmp_path, capsys):
    root, pipe = folder
    np.save(tmp_path / "emb.npy", np.zeros((80, 4)))  # 80 rows for the folder's 60 images
    cases = [
        ([str(root), "--pipeline", str(pipe), "--out", str(root), "--force"], "overlaps the input INPUT"),
        ([str(root), "--pipeline", str(pipe), "--out", str(root / "aug")], "overlaps the input INPUT"),
        ([str(root), "--pipeline", str(pipe), "--indices", "1,2", "--embeddings", str(tmp_path / "emb.npy"),
          "--out", str(tmp_path / "o")], "--embeddings has shape (80, 4) but INPUT has 60 images"),
    ]
    for argv, msg in cases:
        assert main(["augment", *argv]) == 1
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert not (root / "images").exists() and not (root / "aug").exists() and not (tmp_path / "o").exists()


def test_a_table_with_text_columns_names_the_command_line_fix(tmp_path, capsys):
    """smote cannot interpolate text: the error names --method smotenc --categorical (not the API's
    method= / categorical=), and that command works."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    table = X.iloc[:, :4].assign(sex=np.where(np.arange(len(X)) % 2, "f", "m"), target=y.to_numpy())
    table.to_csv(tmp_path / "t.csv", index=False)
    argv = ["augment", str(tmp_path / "t.csv"), "--target-col", "target", "--classes", "2", "--n", "10"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "Pass --method smotenc --categorical sex, or drop them" in err and err.count("\n") == 1, err
    assert not (tmp_path / "a").exists()
    assert main([*argv, "--method", "smotenc", "--categorical", "sex", "--out", str(tmp_path / "b")]) == 0
    made = pd.read_parquet(tmp_path / "b" / "table.parquet")
    assert len(made) == len(table) + 10 and set(made["sex"]) == {"f", "m"}
