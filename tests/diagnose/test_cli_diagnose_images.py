"""`curakit diagnose --images FOLDER --model REGISTRY`, through curakit._cli.main and capsys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curakit._cli import main
from diagnose import Diagnosis


def _write_folder(root, images, labels):
    from curakit.imageio import write_png

    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        (root / str(lab)).mkdir(parents=True, exist_ok=True)
        write_png(root / str(lab) / f"{i:04d}.png", img)


def _pipeline(folder):
    pipe = folder / "pipe.json"
    pipe.write_text(json.dumps({
        "__version__": "2.0.8",
        "transform": {"__class_fullname__": "Compose", "p": 1.0, "transforms": [
            {"__class_fullname__": "HorizontalFlip", "p": 1.0}]},
    }))  # fmt: skip
    return pipe


@pytest.fixture(scope="module")
def setup(digits, tmp_path_factory):
    import torch

    import curate
    from curate.models import SmallCNN

    images, labels = digits
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(labels))
    tr, te = idx[:400], idx[400:640]
    base = tmp_path_factory.mktemp("diag_img")
    _write_folder(base / "test", images[te], labels[te])
    _write_folder(base / "train", images[tr[:150]], labels[tr[:150]])
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=8, embedding_dim=16)
    curate.fit(model, images[tr], labels[tr], epochs=3, lr=1e-2, validation=0.0, patience=None, progress_bar=False)
    reg = curate.Registry(base / "reg")
    reg.register(model)  # v1, the champion
    reg.register(SmallCNN(num_classes=10, in_channels=1, width=8, embedding_dim=16))  # v2, untrained
    return base


def test_images_mode_writes_consistent_outputs(setup, capsys, tmp_path):
    import curate
    import diagnose
    from curakit.imageio import read_image_folder

    out = tmp_path / "o"
    code = main([
        "diagnose", "--images", str(setup / "test"), "--model", str(setup / "reg"), "--out", str(out),
        "--train-images", str(setup / "train"), "--set", "clusters.n_epochs=30",
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.startswith("240 rows (240 images, model reg v1), baseline error")
    for name in ("diagnosis.json", "report.html", "slices.csv", "predictions.csv", "embeddings.npy"):
        assert (out / name).is_file(), name

    images, labels, paths = read_image_folder(setup / "test")
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == len(images) == 240
    assert list(preds.columns) == ["path", "class", "y_true", "y_pred"] + [f"proba_{k}" for k in range(10)]
    assert preds["path"].tolist() == paths and (preds["y_true"].to_numpy() == labels).all()
    model = curate.Registry(setup / "reg").load()
    proba = diagnose.predict_proba(model, images)
    np.testing.assert_allclose(preds[[f"proba_{k}" for k in range(10)]].to_numpy(), proba, atol=1e-6)
    assert (preds["y_pred"].to_numpy() == proba.argmax(1)).all()
    acc = float((preds["y_pred"] == preds["y_true"]).mean())
    assert acc == pytest.approx(float((proba.argmax(1) == labels).mean()))
    # a property, not a trained value: the 3-epoch CNN (v1) beats the same untrained architecture (v2) clearly
    untrained = diagnose.predict_proba(curate.Registry(setup / "reg").load("v2"), images)
    assert acc > float((untrained.argmax(1) == labels).mean()) + 0.15

    d = Diagnosis.load(out / "diagnosis.json")
    assert d.n_analysed == 240
    assert d.baseline_error_rate == pytest.approx(1 - acc)
    assert {"clusters", "confusion"} <= set(d.methods)
    assert len(pd.read_csv(out / "slices.csv")) == len(d.slices)
    emb = np.load(out / "embeddings.npy")
    np.testing.assert_allclose(emb, diagnose.embed(model, images), atol=1e-5)
    assert emb.shape == (240, 16)
    # cluster slices re-apply from the saved embeddings (what curakit augment --embeddings does)
    clusters = [s for s in d.slices if s.definition["kind"] == "centroid"]
    assert clusters
    for s in clusters:
        found = set(np.flatnonzero(s.contains(embeddings=emb)).tolist())
        # re-applied membership is better than chance (a property of nearest-centroid re-application,
        # not a UMAP/HDBSCAN value of one machine): members are found more often than rows at large
        assert len(found & set(s.indices.tolist())) / s.size > len(found) / len(emb)
    code = main([
        "augment", str(setup / "test"), "--pipeline", str(_pipeline(tmp_path)), "--diagnosis",
        str(out / "diagnosis.json"), "--slice", clusters[0].id, "--embeddings", str(out / "embeddings.npy"),
        "--n", "2", "--out", str(tmp_path / "aug"),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(pd.read_parquet(tmp_path / "aug" / "manifest.parquet")) == 2


def test_version_layer_and_augment_on_same_folder(setup, capsys, tmp_path):
    out = tmp_path / "o"
    code = main([
        "diagnose", "--images", str(setup / "test"), "--model", f"{setup / 'reg'}@v2", "--out", str(out),
        "--methods", "confusion", "--layer", "backbone.8",
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    assert "model reg v2" in text
    assert np.load(out / "embeddings.npy").shape == (240, 16 * 16)  # flattened 16 channels x 4x4 grid
    d = Diagnosis.load(out / "diagnosis.json")
    assert d.methods == ("confusion",) and d.slices
    # the diagnosis drives curakit augment on the same folder
    pipe = _pipeline(tmp_path)
    sid = d.slices[0].id
    code = main([
        "augment", str(setup / "test"), "--pipeline", str(pipe), "--diagnosis", str(out / "diagnosis.json"),
        "--slice", sid, "--n", "3", "--out", str(tmp_path / "aug"),
    ])  # fmt: skip
    text = capsys.readouterr()
    assert code == 0, text.err
    manifest = pd.read_parquet(tmp_path / "aug" / "manifest.parquet")
    assert len(manifest) == 3
    assert set(manifest["parent"]) <= set(d.slices[0].indices.tolist())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("missing", "Error: no such file or folder: "),
        ("version", "Error: No version 'v9' in the registry."),
        ("corrupt", "Error: Image file '0000.png' cannot be decoded (corrupt or not an image). Remove or replace it."),
        ("label", "Error: Image folder 'imgs' has class folder '12', which the model does not know (it has 10 outputs"),
        ("name", "Error: Image folder 'imgs' has 11 classes but the model has 10 outputs, so it does not know class 'cat'."),
        ("rgb", "Error: --images holds 3-channel images (shape (8, 8, 3)) but the model reg v1 expects 1 channel(s)."),
        ("noreg", "Error: no such file or folder: "),
    ],
)
def test_bad_input_exit_1_with_one_line(setup, digits, capsys, tmp_path, make, message):
    from curakit.imageio import write_png

    images, labels = digits
    folder, model = tmp_path / "imgs", str(setup / "reg")
    if make == "missing":
        folder = tmp_path / "nope"
    elif make == "version":
        folder, model = setup / "test", model + "@v9"
    elif make == "noreg":
        folder, model = setup / "test", str(tmp_path / "noreg")
    else:
        _write_folder(folder, images[:20], labels[:20])
        if make == "corrupt":
            (folder / "0" / "0000.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        elif make == "label":
            write_png((folder / "12").mkdir() or folder / "12" / "x.png", images[0])
        elif make == "name":
            write_png((folder / "cat").mkdir() or folder / "cat" / "x.png", images[0])
        elif make == "rgb":
            for p in folder.rglob("*.png"):
                write_png(p, np.repeat(images[0], 3, axis=-1))
    code = main(["diagnose", "--images", str(folder), "--model", model, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(message), err
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing written on failure
    assert not (tmp_path / "noreg").exists()  # a mistyped registry is not created


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["PRED", "--images", "IMG", "--model", "REG"], "pass either a PREDICTIONS file or --images/--model, not both."),
        (["--images", "IMG"], "--images and --model go together"),
        (["--model", "REG"], "--images and --model go together"),
        (["--images", "IMG", "--model", "REG", "--embeddings", "e.npy"], "--embeddings applies to a PREDICTIONS file"),
        (["PRED", "--layer", "head"], "--layer applies to --images/--model, not to a PREDICTIONS file."),
        ([], "pass a PREDICTIONS file, or --images FOLDER with --model REGISTRY."),
    ],
)
def test_mixing_modes_is_a_usage_error(setup, capsys, tmp_path, argv, message):
    subs = {"PRED": str(tmp_path / "p.csv"), "IMG": str(setup / "test"), "REG": str(setup / "reg")}
    with pytest.raises(SystemExit) as exc:
        main(["diagnose", *[subs.get(a, a) for a in argv], "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
