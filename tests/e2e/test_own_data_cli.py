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


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("curakit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "curakit"]
    env = {**os.environ, "PYTHONPATH": ""}
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
    r = _cli(user, "diagnose", "--images", "new", "--model", "reg", "--out", "diag")
    assert r.returncode == 0, r.stderr
    pred = pd.read_csv(user / "diag" / "predictions.csv")
    assert set(pred["class"]) == set(CLASSES)
    for name, idx in zip(CLASSES, range(3)):
        assert (pred.loc[pred["class"] == name, "y_true"] == idx).all()
    assert (pred["y_true"] == pred["y_pred"]).mean() > 0.6  # a trained 3-class CNN, far above chance
    assert (user / "diag" / "diagnosis.json").is_file()
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
