"""A new user's walkthrough, each step as the README and --help texts describe it: own data
(class-name image folders, CSV tables), own models saved the way users save them (TorchScript,
torch.export, joblib / pickle), through the console script. Each test is a failure found by
following the README as a new user (2026-12-03) and fixed.

The console script runs as a subprocess with the test's folder as working folder, so the user's
module imports as it does for a real user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

_MODULE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=8, n_classes=3, in_channels=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1)
        self.fc = nn.Linear(width * 16, n_classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.flatten(1))
'''

CLASSES = ["one", "three", "zero"]  # sorted names -> indices 0, 1, 2
DIGITS = {"one": 1, "three": 3, "zero": 0}


def _cli(cwd: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("curakit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "curakit"]
    env = {**os.environ, "PYTHONPATH": "", **env_extra}
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("WARNING", "INFO"))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def images_user(tmp_path_factory):
    """digits 0/1/3 as class-name folders of PNGs; a small CNN trained on old, saved as a state dict,
    as TorchScript (torch.jit.save) and as a torch.export program (.pt2)."""
    from sklearn.datasets import load_digits

    from curakit.imageio import write_png

    tmp = tmp_path_factory.mktemp("images_user")
    (tmp / "tinycnn.py").write_text(_MODULE)
    d = load_digits()
    keep = np.isin(d.target, list(DIGITS.values()))
    x = (d.images[keep] * (255 / 16)).astype(np.uint8)[..., None]
    inverse = {v: k for k, v in DIGITS.items()}
    names = [inverse[int(t)] for t in d.target[keep]]
    half = len(x) // 2
    for folder, part in (("old", slice(0, half)), ("new", slice(half, None))):
        for k, (img, name) in enumerate(zip(x[part], names[part])):
            (tmp / folder / name).mkdir(parents=True, exist_ok=True)
            write_png(tmp / folder / name / f"{k:04d}.png", img)
    sys.path.insert(0, str(tmp))
    try:
        import tinycnn
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("tinycnn", None)
    torch.manual_seed(0)
    net = tinycnn.Net()
    xt = torch.tensor(x[:half, None, :, :, 0] / 255.0, dtype=torch.float32)
    yt = torch.tensor([CLASSES.index(n) for n in names[:half]])
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), tmp / "weights.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        torch.jit.save(torch.jit.script(net), tmp / "scripted.pt")
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(net, (xt[:2],), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp / "exported.pt2")
    return tmp


@pytest.mark.parametrize("model", ["scripted.pt", "exported.pt2"])
def test_diagnose_a_torchscript_or_exported_model(images_user, model):
    """Was: TorchScript -> "RecursiveScriptModule has no nn.Linear layer" (exit 1); torch.export ->
    "cannot run on images shaped (8, 8, 1) (Calling eval() is not supported yet.)" (exit 1). Their layers
    take no hooks, so the model's outputs are embedded, with a warning saying so."""
    out = f"diag_{Path(model).stem}"
    r = _cli(images_user, "diagnose", "--images", "new", "--train-images", "old", "--model", model, "--out", out,
             "--methods", "confusion,coverage")
    assert r.returncode == 0, r.stderr
    assert "outputs (logits) are embedded" in r.stderr
    pred = pd.read_csv(images_user / out / "predictions.csv")
    ref = _cli(images_user, "diagnose", "--images", "new", "--model", "weights.pt", "--model-class", "tinycnn:Net",
               "--out", f"ref_{Path(model).stem}", "--methods", "confusion")
    assert ref.returncode == 0, ref.stderr
    ref_pred = pd.read_csv(images_user / f"ref_{Path(model).stem}" / "predictions.csv")
    # the same network in three file forms predicts the same classes (float rounding aside: probabilities close)
    np.testing.assert_array_equal(pred["y_pred"].to_numpy(), ref_pred["y_pred"].to_numpy())
    np.testing.assert_allclose(pred["proba_0"].to_numpy(), ref_pred["proba_0"].to_numpy(), atol=1e-5)
    emb = np.load(images_user / out / "embeddings.npy")
    assert emb.shape == (len(pred), 3)  # the logits: one column per class


def test_embed_and_predict_on_loaded_torchscript_and_export(images_user):
    import diagnose
    from curakit.adapters import predict_proba
    from curakit.exceptions import ParameterError
    from curakit.modelfile import load_model

    imgs = np.zeros((4, 8, 8, 1), dtype=np.uint8)
    imgs[:, 2:6, 3:5] = 255
    for name in ("scripted.pt", "exported.pt2"):
        model = load_model(str(images_user / name))
        proba = predict_proba(model, imgs)
        assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1.0)
        emb = diagnose.embed(model, imgs)
        assert emb.shape == (4, 3)
        # the embedded outputs are the logits: their softmax is predict_proba's
        soft = np.exp(emb - emb.max(1, keepdims=True))
        np.testing.assert_allclose(soft / soft.sum(1, keepdims=True), proba, atol=1e-5)
        with pytest.raises(ParameterError, match="takes no forward hooks"):
            diagnose.embed(model, imgs, layer="fc")


@pytest.fixture(scope="module")
def table_user(tmp_path_factory):
    """breast cancer as CSV files (old / new with a recalibrated scanner, a date and a sex column), a forest
    saved with joblib and pickle, a pipeline with joblib, and a forest fitted on a bare numpy array."""
    import pickle

    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    tmp = tmp_path_factory.mktemp("table_user")
    df = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    rng = np.random.default_rng(0)
    df["sex"] = rng.choice(["F", "M"], size=len(df), p=[0.9, 0.1])
    df["date"] = pd.date_range("2024-01-01", periods=len(df), freq="D").strftime("%Y-%m-%d")
    df = df.sample(frac=1, random_state=0).reset_index(drop=True)
    old, new = df.iloc[:300].copy(), df.iloc[300:].copy()
    new["mean_radius"] *= 1.1
    old.to_csv(tmp / "old.csv", index=False)
    new.to_csv(tmp / "new.csv", index=False)
    feats = [c for c in df.columns if c not in ("target", "sex", "date")]
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(old[feats], old["target"])
    joblib.dump(rf, tmp / "rf.joblib")
    with open(tmp / "rf.pkl", "wb") as f:
        pickle.dump(rf, f)
    bare = RandomForestClassifier(n_estimators=10, random_state=0).fit(old[feats].to_numpy(), old["target"])
    joblib.dump(bare, tmp / "bare.joblib")
    return tmp, rf, feats, new


@pytest.mark.parametrize("model", ["rf.joblib", "rf.pkl"])
def test_diagnose_a_csv_with_its_estimator(table_user, model):
    """Was: no way to diagnose a table with its model from the command line ("pass either a PREDICTIONS
    file or --images/--model, not both"); the user had to write y_true / y_pred columns first."""
    tmp, rf, feats, new = table_user
    out = f"diag_{Path(model).stem}_{Path(model).suffix[1:]}"
    r = _cli(tmp, "diagnose", "--features", "new.csv", "--model", model, "--target", "target",
             "--train-features", "old.csv", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "unpickles it" in r.stderr  # the code-running warning
    pred = pd.read_csv(tmp / out / "predictions.csv")
    np.testing.assert_array_equal(pred["y_pred"].to_numpy(), rf.predict(new[feats]))
    np.testing.assert_array_equal(pred["y_true"].to_numpy(), new["target"].to_numpy())
    np.testing.assert_allclose(pred[["proba_0", "proba_1"]].to_numpy(), rf.predict_proba(new[feats]))
    slices = pd.read_csv(tmp / out / "slices.csv")
    # the scanner recalibration (mean_radius x 1.1) leaves new rows where the old had none: a coverage slice
    coverage = slices[slices["method"] == "coverage"]["description"]
    assert coverage.str.contains("radius|perimeter|area").any(), list(coverage)
    # rules use the model's columns only (not the unused sex / date columns)
    import diagnose

    d = diagnose.Diagnosis.load(tmp / out / "diagnosis.json")
    assert d.n_analysed == len(new)
    text = " ".join(s.description for s in d.slices)
    assert "date" not in text and "sex" not in text
    assert "model " + model in r.stdout


def test_table_mode_mistakes_are_one_line(table_user):
    tmp = table_user[0]
    # a forest fitted on a bare array: it has no column names, and the table has extra columns
    r = _cli(tmp, "diagnose", "--features", "new.csv", "--model", "bare.joblib", "--target", "target", "--out", "b")
    assert r.returncode == 1
    assert "fitted on 30 unnamed columns" in _one_error_line(r)
    r = _cli(tmp, "diagnose", "--features", "new.csv", "--model", "rf.joblib", "--target", "label", "--out", "b")
    assert r.returncode == 1
    assert "no column 'label'" in _one_error_line(r) and "--target" in r.stderr
    cut = pd.read_csv(tmp / "new.csv").drop(columns=["mean_radius"])
    cut.to_csv(tmp / "cut.csv", index=False)
    r = _cli(tmp, "diagnose", "--features", "cut.csv", "--model", "rf.joblib", "--target", "target", "--out", "b")
    assert r.returncode == 1
    assert "'mean_radius'" in _one_error_line(r)
    # usage errors (exit 2): a table and a model need --target; --target alone needs both
    r = _cli(tmp, "diagnose", "--features", "new.csv", "--model", "rf.joblib", "--out", "b")
    assert r.returncode == 2 and "--target COLUMN" in r.stderr
    r = _cli(tmp, "diagnose", "--features", "new.csv", "--target", "target", "--out", "b")
    assert r.returncode == 2 and "--model MODEL" in r.stderr
    assert not (tmp / "b").exists()


def test_registry_list_shows_dashes_not_nan(images_user):
    """Was: a version registered without metrics listed as 'nan nan nan nan' once another had metrics."""
    r = _cli(images_user, "registry", "register", "reg", "--model", "weights.pt", "--model-class", "tinycnn:Net")
    assert r.returncode == 0, r.stderr
    r = _cli(images_user, "registry", "register", "reg", "--model", "weights.pt", "--model-class", "tinycnn:Net",
             "--metric", "accuracy", "--metrics", '{"old": {"accuracy": 0.9}, "new": {"accuracy": 0.8}}')
    assert r.returncode == 0, r.stderr
    r = _cli(images_user, "registry", "list", "reg")
    assert r.returncode == 0, r.stderr
    assert "nan" not in r.stdout.lower()
    v1 = next(ln for ln in r.stdout.splitlines() if " v1 " in ln)
    assert v1.split()[-5:-1] == ["-", "-", "-", "-"]
    assert "0.9000" in r.stdout and "accuracy" in r.stdout


def test_cluster_slices_name_the_class(tmp_path):
    """Was: cluster slices read "mostly true 5" next to confusion slices reading "true 'Sandal' ...":
    the class_names the CLI passes for class-name folders now name the cluster's main class too."""
    import diagnose

    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, size=(4, 8))
    sizes = [120, 120, 120, 40]
    X = np.vstack([centers[i] + rng.normal(size=(s, 8)) for i, s in enumerate(sizes)])
    blob = np.repeat(np.arange(4), sizes)
    y = blob % 3
    errors = rng.random(len(y)) < 0.05
    errors[blob == 3] = rng.random(40) < 0.7  # a planted error cluster, mostly class 0
    pred = np.where(errors, (y + 1) % 3, y)
    names = ["zero", "one", "two"]
    d = diagnose.find_slices(y, pred, embeddings=X, methods=["clusters"], random_state=0,
                             clusters={"n_epochs": 60, "class_names": names})
    assert d.slices, "the planted error cluster must be reported"
    for s in d.slices:
        assert "mostly true '" in s.description
        main = s.description.split("mostly true ")[1].split(" (")[0]
        assert main.strip("'") in names, s.description
    top = d.slices[0]
    assert (blob[top.indices] == 3).mean() > 0.8 and "mostly true 'zero'" in top.description


def test_no_ipywidgets_warning_in_jupyter(tmp_path):
    """Was: the first cluster diagnosis in a notebook printed tqdm's "TqdmWarning: IProgress not found.
    Please update jupyter and ipywidgets" (umap imports tqdm.auto; curakit draws no widget there)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = ("import numpy as np\nfrom diagnose._clusters import cluster_embeddings\n"
            "X = np.random.default_rng(0).normal(size=(120, 5))\n"
            "res = cluster_embeddings(X, n_epochs=20, random_state=0)\nprint('clusters', len(res.labels))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert any("clusters 120" in o.get("text", "") for o in outputs), outputs
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress" not in stderr and "TqdmWarning" not in stderr, stderr


def test_gray_folder_into_a_model_trained_with_torchvision_imagefolder(images_user):
    """torchvision's ImageFolder loader converts every PNG to RGB, so a model trained the torchvision way on
    grayscale PNGs takes 3 channels. Was: "--images holds 1-channel images ... expects 3 channel(s). Convert
    the images" (the user has no tool for that in the CLI). Now the gray channel is repeated, with a warning,
    and the predictions are the ones torchvision's own loader gives."""
    datasets = pytest.importorskip("torchvision.datasets")
    transforms = pytest.importorskip("torchvision.transforms")
    sys.path.insert(0, str(images_user))
    try:
        import tinycnn
    finally:
        sys.path.remove(str(images_user))
        sys.modules.pop("tinycnn", None)
    old = datasets.ImageFolder(str(images_user / "old"), transform=transforms.ToTensor())
    assert old.classes == CLASSES and old[0][0].shape[0] == 3
    torch.manual_seed(0)
    net = tinycnn.Net(in_channels=3)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for x, y in torch.utils.data.DataLoader(old, batch_size=64, shuffle=True):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), images_user / "rgb.pt")
    new = datasets.ImageFolder(str(images_user / "new"), transform=transforms.ToTensor())
    with torch.no_grad():
        want = torch.cat([net(x).softmax(1) for x, _ in torch.utils.data.DataLoader(new, batch_size=256)]).numpy()
    r = _cli(images_user, "diagnose", "--images", "new", "--model", "rgb.pt", "--model-class", "tinycnn:Net",
             "--model-kwargs", '{"in_channels": 3}', "--methods", "confusion", "--out", "diag_rgb")
    assert r.returncode == 0, r.stderr
    assert "repeated to RGB" in r.stderr
    pred = pd.read_csv(images_user / "diag_rgb" / "predictions.csv")
    # the same files in the same order (class folder, then file name) as ImageFolder's samples
    assert list(pred["path"]) == [str(Path(p).relative_to(images_user / "new")) for p, _ in new.samples]
    np.testing.assert_allclose(pred[[f"proba_{k}" for k in range(3)]].to_numpy(), want, atol=1e-5)


def test_folder_names_vs_predicted_indices_error_names_the_fix(images_user):
    """In Python, read_images gives the folder names as labels while the model predicts indices: the error
    names curakit.imageio.class_indices, and following it works."""
    import diagnose
    from curakit.exceptions import DataError
    from curakit.imageio import class_indices, read_images
    from curakit.modelfile import load_model

    images, labels, _ = read_images(images_user / "new")
    model = load_model(str(images_user / "scripted.pt"))
    pred = diagnose.predict_proba(model, images).argmax(1)
    with pytest.raises(DataError, match=r"curakit\.imageio\.class_indices\(labels, folder\)"):
        diagnose.find_slices(labels, pred, methods=["confusion"])
    y, classes = class_indices(labels, images_user / "new")
    assert classes == CLASSES
    d = diagnose.find_slices(y, pred, methods=["confusion"])
    assert d.n_analysed == len(images) and d.baseline_error_rate < 0.5
