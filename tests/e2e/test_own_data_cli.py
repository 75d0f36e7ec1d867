"""A new user's loop through the console script: own image folders, own CNN module, state dict.

Runs ``curakit`` as a subprocess with the test's temporary folder as working folder, so the
user's module (``tinycnn.py`` there) imports the way it does for a real user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

_MODULE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=8, n_classes=3):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
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
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=240, env=env)


def _write_folder(root: Path, images: np.ndarray, names: list[str]) -> None:
    from curakit.imageio import write_png

    for k, (img, name) in enumerate(zip(images, names)):
        (root / name).mkdir(parents=True, exist_ok=True)
        write_png(root / name / f"{k:04d}.png", img)


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("user")
    (tmp / "tinycnn.py").write_text(_MODULE)
    d = load_digits()
    keep = np.isin(d.target, list(DIGITS.values()))
    x = (d.images[keep] * (255 / 16)).astype(np.uint8)[..., None]
    inverse = {v: k for k, v in DIGITS.items()}
    names = [inverse[int(t)] for t in d.target[keep]]
    half = len(x) // 2
    _write_folder(tmp / "old", x[:half], names[:half])
    _write_folder(tmp / "new", x[half:], names[half:])
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
    torch.save(net.state_dict(), tmp / "weights.pt")
    return tmp


def test_register_then_diagnose_class_name_folders(user):
    r = _cli(user, "registry", "register", "reg", "--model", "weights.pt", "--model-class", "tinycnn:Net")
    assert r.returncode == 0, r.stderr
    assert "registered v1 (champion)" in r.stdout
    # the registry's metadata names the user's class: loading it imports tinycnn, so the user trusts it (issue 9)
    r = _cli(user, "diagnose", "--images", "new", "--model", "reg", "--out", "diag", CURAKIT_TRUST="tinycnn")
    assert r.returncode == 0, r.stderr
    pred = pd.read_csv(user / "diag" / "predictions.csv")
    assert set(pred["class"]) == set(CLASSES)
    for name, idx in zip(CLASSES, range(3)):
        assert (pred.loc[pred["class"] == name, "y_true"] == idx).all()
    assert (pred["y_true"] == pred["y_pred"]).mean() > 1 / 3 + 0.15  # a trained 3-class CNN, well above chance
    assert (user / "diag" / "diagnosis.json").is_file()
    # confusion slices are described with the folder names, never the bare indices (issue 12)
    slices = pd.read_csv(user / "diag" / "slices.csv")
    confusion = slices[slices["method"] == "confusion"]["description"]
    assert all(any(f"'{name}'" in text for name in CLASSES) for text in confusion), list(confusion)
    assert "true class 0" not in " ".join(confusion) and "true 0 " not in " ".join(confusion)
    # the same model straight from the state dict gives the same predictions
    r = _cli(user, "diagnose", "--images", "new", "--model", "weights.pt", "--model-class", "tinycnn:Net",
             "--out", "diag2")
    assert r.returncode == 0, r.stderr
    pred2 = pd.read_csv(user / "diag2" / "predictions.csv")
    np.testing.assert_array_equal(pred["y_pred"].to_numpy(), pred2["y_pred"].to_numpy())


def test_bad_inputs_are_one_line_errors(user):
    extra = user / "new_extra"
    shutil.copytree(user / "new", extra, dirs_exist_ok=True)
    (extra / "seven").mkdir(exist_ok=True)
    shutil.copy(next((user / "new" / "one").iterdir()), extra / "seven" / "x.png")
    cases = [
        (["diagnose", "--images", "new_extra", "--model", "weights.pt", "--model-class", "tinycnn:Net",
          "--out", "bad1"], "does not know"),
        (["diagnose", "--images", "new", "--model", "weights.pt", "--model-class", "tinycnn:Net",
          "--model-kwargs", '{"width": 4}', "--out", "bad2"], "does not fit"),
        (["diagnose", "--images", "new", "--model", "weights.pt", "--out", "bad3"], "--model-class"),
        (["diagnose", "--images", "new", "--model", "weights.pt", "--model-class", "nosuch:Net",
          "--out", "bad4"], "cannot be imported"),
        (["registry", "register", "reg2", "--model", "tinycnn.py"], "unknown model file kind"),
    ]
    for argv, fix in cases:
        r = _cli(user, *argv)
        assert r.returncode == 1, (argv, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and fix in lines[0], (argv, r.stderr)
        assert not (user / argv[-1]).exists() or argv[0] == "registry"


def _copy_some(src: Path, dst: Path, per_class: int) -> None:
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        (dst / folder.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(folder.iterdir())[:per_class]:
            shutil.copy(f, dst / folder.name / f.name)


def test_augment_build_retrain_promote_an_image_folder(user):
    """After diagnose: fill a class with the default pipeline, build old + new + the fill, retrain the
    user's CNN from the registry, promote through the gate: all from the command line."""
    import json

    _copy_some(user / "old", user / "old_test", 15)
    _copy_some(user / "new", user / "new_test", 15)
    if not (user / "reg").exists():
        assert _cli(user, "registry", "register", "reg", "--model", "weights.pt", "--model-class",
                    "tinycnn:Net").returncode == 0
    r = _cli(user, "augment", "new", "--pipeline", "default", "--classes", "three", "--n", "12", "--out", "fills")
    assert r.returncode == 0, r.stderr
    assert "12 new image(s)" in r.stdout and len(list((user / "fills" / "images" / "three").glob("*.png"))) == 12
    r = _cli(user, "build", "--old", "old", "--new", "new", "--add", "fills", "--eval", "old_test",
             "--eval", "new_test", "--validation", "0.1", "--out", "ts")
    assert r.returncode == 0, r.stderr
    import curate

    ts = curate.TrainingSet.load(user / "ts")
    assert ts.kind == "images" and ts.info["classes"] == CLASSES
    aug = ts.manifest["origin"] == "augmented"
    # up to 12: a fill the pipeline left unchanged copies its parent, and a parent in new_test is excluded with it
    assert 0 < aug.sum() <= 12 and (ts.frame.loc[aug, "label"] == CLASSES.index("three")).all()
    from curakit.imageio import read_images

    _, new_names, _ = read_images(user / "new")  # the parents are rows of new, all of class "three"
    parents = [int(json.loads(ids)[0].split(":")[1]) for ids in ts.manifest.loc[aug, "parent_ids"]]
    assert all(ids.startswith('["new:') for ids in ts.manifest.loc[aug, "parent_ids"])
    assert {new_names[p] for p in parents} == {"three"}
    matches = ts.info["leakage"]["matches_by_eval_set"]
    assert matches["old_test"] >= 45 and matches["new_test"] >= 45  # the held-out images are not trained on
    r = _cli(user, "retrain", "ts", "--model", "reg", "--trust", "tinycnn", "--eval", "old=old_test", "--eval",
             "new=new_test", "--strategy", "continue_all", "--param", "epochs=2", "--out", "res")
    assert r.returncode == 0, r.stderr
    assert "new: accuracy" in r.stdout and "model/model.pt" in r.stdout
    # the retrained model is a plain state dict: the user loads it into their own class
    sys.path.insert(0, str(user))
    try:
        import tinycnn

        net = tinycnn.Net()
        net.load_state_dict(torch.load(user / "res" / "model" / "model.pt", weights_only=True))
    finally:
        sys.path.remove(str(user))
        sys.modules.pop("tinycnn", None)
    r = _cli(user, "registry", "promote", "reg", "res", "--max-drop-old", "0.5", "--n-bootstrap", "200",
             CURAKIT_TRUST="tinycnn")
    assert r.returncode in (0, 3), r.stderr  # 3: the gate refused, with its reasons
    assert r.stdout.startswith("v2: ") and ("promoted to champion" in r.stdout) == (r.returncode == 0)
    # a second build into the same folder replaces curakit's own output; a user's folder is refused
    (user / "notes").mkdir()
    (user / "notes" / "todo.txt").write_text("mine")
    r = _cli(user, "build", "--old", "old", "--new", "new", "--out", "notes")
    assert r.returncode == 1 and "--force" in r.stderr and (user / "notes" / "todo.txt").read_text() == "mine"


def test_run_a_recipe_on_the_same_folders_and_model_file(user):
    """`curakit run` on a recipe naming the user's folders and state dict (its module trusted in the recipe)."""
    import json

    import yaml

    A = pytest.importorskip("albumentations")
    for part, per_class in (("old", 15), ("new", 15)):
        if not (user / f"{part}_test").exists():
            _copy_some(user / part, user / f"{part}_test", per_class)
    pipeline = A.to_dict(A.Compose([A.Affine(rotate=(-10, 10), p=1.0)]))
    recipe = {
        "name": "own_images",
        "data": {"old": "old", "new": "new", "eval_old": "old_test", "eval_new": "new_test"},
        "model": {"file": "weights.pt", "class": "tinycnn:Net"},
        "trusted_modules": ["tinycnn"],
        "diagnose": {"methods": ["confusion"], "max_slices": 1},
        "fill": {"n": 10, "pipeline": pipeline},
        "retrain": {"strategies": ["continue_all"], "params": {"epochs": 1}},
        "gate": {"n_bootstrap": 200, "max_drop_old": 0.5},
        "registry": "reg_recipe",
        "output": "run_out",
    }
    (user / "own.yaml").write_text(yaml.safe_dump(recipe))
    r = _cli(user, "run", "own.yaml", "--check")
    assert r.returncode == 0 and r.stdout.startswith("ok: recipe 'own_images'"), r.stderr
    r = _cli(user, "run", "own.yaml")
    assert r.returncode == 0, r.stderr
    assert "chosen: " in r.stdout and (user / "run_out" / "comparison.html").is_file()
    run = json.loads((user / "run_out" / "run.json").read_text())
    assert run["rows_by_origin"]["old"] + run["rows_by_origin"]["new"] > 0
    import curate

    ts = curate.TrainingSet.load(user / "run_out" / "training_set")
    assert ts.info["classes"] == CLASSES and ts.kind == "images"
    assert (ts.manifest["origin"] == "augmented").sum() == run["rows_by_origin"].get("augmented", 0)
    assert json.loads((user / "reg_recipe" / "registry.json").read_text())  # the incumbent (and maybe v2) registered
