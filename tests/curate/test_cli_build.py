"""`curakit build`: Parquet / CSV in, an atomically written training set out."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from sklearn.datasets import load_wine

import curate
from curakit._cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    d["when"] = pd.date_range("2014-01-01", periods=len(d), freq="3D").strftime("%Y-%m-%d")
    root = tmp_path_factory.mktemp("cli")
    d.iloc[:120].to_parquet(root / "old.parquet", index=False)
    d.iloc[120:].to_csv(root / "new.csv", index=False)
    d.iloc[120:125].to_parquet(root / "test.parquet", index=False)
    return root


def test_build_writes_a_training_set(files, tmp_path, capsys):
    out = tmp_path / "ts"
    code = main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
                 "--time", "when", "--window", "300D", "--alpha", "0.5", "--replay", "5", "--replay-how", "class_balanced",
                 "--dedup", "--eval", f"test={files / 'test.parquet'}", "--validation", "0.2", "--half-life", "90D",
                 "--preprocess", "--random-state", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"Wrote {out}:") and "leakage" in printed
    ts = curate.TrainingSet.load(out)
    assert ts.info["window"]["window"] == "last=300D" and ts.info["mix"]["alpha"] == 0.5
    assert ts.info["leakage"]["matches_by_eval_set"] == {"test": 5} and ts.info["random_state"] == 3
    assert ts.info["rehearse"]["rows"] == 5 and ts.preprocessor is not None and 0 < ts.mask(split="val").sum()
    assert pd.api.types.is_datetime64_dtype(ts.frame["when"])
    assert ts.info["inputs"]["eval"] == [f"test={files / 'test.parquet'}"]


def test_build_auto_searches(files, tmp_path):
    out = tmp_path / "auto"
    code = main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
                 "--time", "when", "--window", "auto", "--candidates", "200D,all", "--alpha", "auto", "--out", str(out)])
    assert code == 0
    info = curate.TrainingSet.load(out).info
    assert [c["window"] for c in info["window"]["candidates"]] == ["last=200D", "all"]
    assert info["mix"]["mode"] == "auto" and len(info["mix"]["scores"]) == 5


def test_failed_build_leaves_the_previous_set_untouched(files, tmp_path, capsys):
    out = tmp_path / "ts"
    args = ["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
            "--time", "when", "--out", str(out)]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main([*args, "--alpha", "1.5"]) == 1
    err = capsys.readouterr().err
    assert err == ("Error: The 'alpha' parameter of TrainingSetBuilder.mix must be a float in the range [0.0, 1.0]. "
                   "Got 1.5 instead.\n")
    assert main([*args[:-2], "--start", "2030-01-01", "--out", str(out)]) == 1
    assert "selects no rows" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "label"], "Error: The target column 'label' is not in old"),
        (["--target", "target", "--time", "nope"], "Error: The time column 'nope' is not in old"),
        (["--target", "target", "--window", "90D", "--last-n", "5"], "Error: Pass one of --window, --last-n or --start/--end."),
        (["--target", "target", "--workers", "0"], "Error: --workers must be at least 1"),
    ],
)
def test_build_errors(files, tmp_path, capsys, extra, message):
    code = main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), *extra, "--out", str(tmp_path / "x")])
    assert code == 1 and capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "x").exists()


def test_missing_file_and_help(tmp_path, capsys):
    assert main(["build", "--old", str(tmp_path / "none.parquet"), "--new", "x.csv", "--target", "y", "--out", str(tmp_path / "o")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["build", "--help"])
    assert exc.value.code == 0 and "--alpha" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["build", "--old", "a.csv"])
    assert exc.value.code == 2


@pytest.mark.parametrize("kind", ["file", "user_folder"])
def test_build_never_replaces_what_it_did_not_write(files, tmp_path, capsys, kind):
    target = tmp_path / "mine"
    if kind == "file":
        target.write_text("notes")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("notes")
    code = main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
                 "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    assert (target.read_text() if kind == "file" else (target / "notes.txt").read_text()) == "notes"
    again = tmp_path / "ts"
    assert main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
                 "--out", str(again)]) == 0
    assert main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
                 "--out", str(again)]) == 0  # its own output is replaced


def test_add_table_fills_with_lineage_force_and_files(files, tmp_path, capsys):
    for name in ("old.parquet", "new.csv", "test.parquet"):  # without the date column (SMOTE interpolates numbers)
        frame = pd.read_parquet(files / name) if name.endswith("parquet") else pd.read_csv(files / name)
        frame = frame.drop(columns=["when"])
        frame.to_parquet(tmp_path / name) if name.endswith("parquet") else frame.to_csv(tmp_path / name, index=False)
    files = tmp_path
    aug = tmp_path / "fill"
    assert main(["augment", str(files / "new.csv"), "--target-col", "target", "--classes", "2", "--n", "6",
                 "--out", str(aug)]) == 0
    out = tmp_path / "ts"
    argv = ["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target",
            "--add", str(aug)]
    assert main([*argv, "--out", str(out)]) == 0
    ts = curate.TrainingSet.load(out)
    syn = ts.manifest[ts.manifest["origin"] == "synthetic"]
    assert len(syn) == 6 and (ts.frame.loc[syn.index, "target"] == 2).all()
    # parents were inferred from the augment input (new.csv): builder row ids of new
    assert all(p.startswith("new:") for ids in syn["parent_ids"] for p in json.loads(ids))
    assert ts.info["inputs"]["add"] == [{"folder": str(aug), "parents": "new", "method": "smote"}]
    # a vae fill (only new rows in its table) goes in beside it, each with its own lineage
    vae = tmp_path / "vae"
    assert main(["augment", str(files / "old.parquet"), "--target-col", "target", "--method", "vae", "--classes", "2",
                 "--n", "6", "--epochs", "40", "--random-state", "3", "--out", str(vae)]) == 0
    assert main([*argv, "--add", str(vae), "--out", str(tmp_path / "both")]) == 0
    both = curate.TrainingSet.load(tmp_path / "both")
    gen = both.manifest[both.manifest["operation"] == "vae"]
    assert 0 < len(gen) <= 6 and all(p.startswith("old:") for ids in gen["parent_ids"] for p in json.loads(ids))
    assert (both.manifest["operation"] == "smote").sum() == 6
    # explicit parent ids (issue 12.8): a manifest whose parent_ids name builder rows of old and new
    ids = tmp_path / "ids"
    shutil.copytree(aug, ids)
    man = pd.read_parquet(ids / "manifest.parquet")
    syn_rows = man["operation"] != "original"
    man.loc[syn_rows, "parent_ids"] = [json.dumps([f"new:{json.loads(v)[0]}", "old:0"])
                                       for v in man.loc[syn_rows, "parent_ids"]]
    man.to_parquet(ids / "manifest.parquet", index=False)
    assert main([*argv[:-2], "--add", str(ids), "--add-parents", "ids", "--out", str(tmp_path / "ids_ts")]) == 0
    got = curate.TrainingSet.load(tmp_path / "ids_ts").manifest
    assert all(json.loads(v)[1] == "old:0" for v in got.loc[got["origin"] == "synthetic", "parent_ids"])
    # a fill from another input needs --add-parents
    assert main(["build", "--old", str(files / "old.parquet"), "--new", str(files / "test.parquet"), "--target",
                 "target", "--add", str(aug), "--out", str(tmp_path / "x")]) == 1
    assert "--add-parents" in capsys.readouterr().err and not (tmp_path / "x").exists()
    # --force: a user's folder keeps its files; a file is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("k")
    assert main([*argv, "--out", str(mine)]) == 1 and "--force" in capsys.readouterr().err
    assert main([*argv, "--out", str(mine), "--force"]) == 0
    assert (mine / "keep.txt").read_text() == "k" and len(curate.TrainingSet.load(mine)) == len(ts)
    (tmp_path / "f.txt").write_text("f")
    assert main([*argv, "--out", str(tmp_path / "f.txt"), "--force"]) == 1
    assert "is a file" in capsys.readouterr().err and (tmp_path / "f.txt").read_text() == "f"


def test_image_folders_npz_and_path_tables_with_offline_fills(digits, tmp_path):
    import numpy as np

    from curakit.imageio import write_png

    images, labels = digits
    names = np.array(["zero", "one", "two"])
    keep = np.flatnonzero(labels < 3)[:240]
    x, y = images[keep], names[labels[keep]]
    old = tmp_path / "old"
    for k in range(120):
        (old / y[k]).mkdir(parents=True, exist_ok=True)
        write_png(old / y[k] / f"{k:04d}.png", x[k])
    (tmp_path / "files").mkdir()
    for k in range(120, 240):
        write_png(tmp_path / "files" / f"{k}.png", x[k])
    pd.DataFrame({"path": [f"files/{k}.png" for k in range(120, 240)], "label": y[120:]}).to_parquet(
        tmp_path / "new.parquet")
    np.savez(tmp_path / "test.npz", images=x[:10, :, :, 0], labels=np.searchsorted(sorted(names), y[:10]))
    fill = tmp_path / "fill"
    assert main(["augment", str(old), "--pipeline", "default", "--classes", "two", "--n", "5", "--out", str(fill)]) == 0
    out = tmp_path / "ts"
    assert main(["build", "--old", str(old), "--new", str(tmp_path / "new.parquet"), "--add", str(fill),
                 "--eval", f"test={tmp_path / 'test.npz'}", "--validation", "0.2", "--out", str(out)]) == 0
    ts = curate.TrainingSet.load(out)
    assert ts.kind == "images" and ts.info["classes"] == ["one", "two", "zero"]  # sorted names, as ImageFolder
    syn = (ts.manifest["origin"] == "augmented").to_numpy()
    assert syn.sum() == 5 and (ts.frame.loc[syn, "label"] == 1).all()  # "two" is index 1
    assert ts.info["leakage"]["matches_by_eval_set"] == {"test": 10}  # the eval images are rows of old: excluded
    from curakit.imageio import read_images

    _, old_names, _ = read_images(old)  # the folder's order: class folder, then file name
    parent_names = [old_names[int(json.loads(ids)[0].split(":")[1])] for ids in ts.manifest.loc[syn, "parent_ids"]]
    assert set(parent_names) == {"two"}


def test_build_on_a_dask_cluster_gives_the_pandas_rows(files, tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    frames = {}
    for name in ("old", "test"):
        frames[name] = pd.read_parquet(files / f"{name}.parquet")
    new = pd.read_csv(files / "new.csv")
    for frame in (*frames.values(), new):
        frame["when"] = pd.to_datetime(frame["when"])
    frames["old"].to_parquet(tmp_path / "old.parquet", index=False)
    new.to_parquet(tmp_path / "new.parquet", index=False)
    frames["test"].to_parquet(tmp_path / "test.parquet", index=False)
    argv = ["build", "--old", str(tmp_path / "old.parquet"), "--new", str(tmp_path / "new.parquet"), "--target",
            "target", "--time", "when", "--alpha", "0.5", "--dedup", "--eval", str(tmp_path / "test.parquet"),
            "--validation", "0.2", "--random-state", "4"]
    assert main([*argv, "--out", str(tmp_path / "pandas")]) == 0
    capsys.readouterr()
    assert main([*argv, "--scheduler", "tcp://127.0.0.1:1", "--workers", "2", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler" in err and not (tmp_path / "x").exists()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        assert main([*argv, "--out", str(tmp_path / "dask")]) == 0
        assert len(cluster.workers) == 2
    a, b = curate.TrainingSet.load(tmp_path / "pandas"), curate.TrainingSet.load(tmp_path / "dask")
    assert json.loads((tmp_path / "dask" / "training_set.json").read_text())["info"]["engine"] == "dask"
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.manifest.astype(str), b.manifest.astype(str))


def test_add_a_vae_image_fill(digits, tmp_path):
    import numpy as np

    images, labels = digits
    np.savez(tmp_path / "old.npz", images=images, labels=labels)
    np.savez(tmp_path / "new.npz", images=images[:100], labels=labels[:100])
    fill = tmp_path / "vae"
    assert main(["augment", str(tmp_path / "old.npz"), "--method", "vae", "--classes", "3", "--n", "5", "--epochs", "8",
                 "--out", str(fill)]) == 0
    assert main(["build", "--old", str(tmp_path / "old.npz"), "--new", str(tmp_path / "new.npz"), "--add", str(fill),
                 "--out", str(tmp_path / "ts")]) == 0
    ts = curate.TrainingSet.load(tmp_path / "ts")
    gen = (ts.manifest["operation"] == "vae").to_numpy()
    assert gen.sum() == 5 and (ts.frame.loc[gen, "label"] == 3).all() and ts.images.shape[1:] == (8, 8, 1)
    parents = [int(json.loads(ids)[0].split(":")[1]) for ids in ts.manifest.loc[gen, "parent_ids"]]
    assert all(ids.startswith('["old:') for ids in ts.manifest.loc[gen, "parent_ids"])
    assert (labels[parents] == 3).all()


def test_out_apart_from_the_inputs(files, tmp_path, capsys):
    base = ["build", "--old", str(files / "old.parquet"), "--new", str(files / "new.csv"), "--target", "target"]
    assert main([*base, "--out", str(tmp_path / "ts")]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "ts").iterdir()}
    capsys.readouterr()
    assert main([*base, "--add", str(tmp_path / "ts"), "--out", str(tmp_path / "ts"), "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: --out ") and "overlaps the input --add (1)" in err and len(err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "ts").iterdir()} == before
