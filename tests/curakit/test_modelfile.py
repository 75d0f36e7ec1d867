"""curakit.modelfile.load_model: every --model form, and one-line errors for the bad ones."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from curakit.exceptions import CurakitError
from curakit.modelfile import load_model

torch = pytest.importorskip("torch")

_MODULE = '''
import torch
from torch import nn

class TinyNet(nn.Module):
    def __init__(self, width=4, n_classes=3):
        super().__init__()
        self.width = width
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.fc = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))
'''


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    name = f"usermod_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def _net(name, **kw):
    import importlib
    import os

    sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()
    torch.manual_seed(0)
    return importlib.import_module(name).TinyNet(**kw)


def _same(a, b):
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        return torch.allclose(a(x), b(x))


def test_state_dict_with_class_and_kwargs(tmp_path, user_module):
    net = _net(user_module, width=6)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    sys.modules.pop(user_module)
    loaded = load_model("w.pt", f"{user_module}:TinyNet", '{"width": 6}')
    assert _same(net, loaded)


def test_state_dict_errors_are_one_line(tmp_path, user_module):
    net = _net(user_module, width=6)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    cases = [
        (("w.pt",), "--model-class"),  # state dict without a class
        (("w.pt", "nosuchmod:TinyNet"), "cannot be imported"),
        (("w.pt", f"{user_module}:Nope"), "Nope"),
        (("w.pt", f"{user_module}:TinyNet"), "does not fit"),  # width 4 != 6
        (("w.pt", f"{user_module}:TinyNet", "{bad"), "not valid JSON"),
        (("w.pt", f"{user_module}:TinyNet", '{"nope": 1}'), "init arguments"),
    ]
    for args, fix in cases:
        with pytest.raises(CurakitError) as info:
            load_model(*args)
        assert fix in str(info.value) and "\n" not in str(info.value)


def test_whole_module_torchscript_export(tmp_path, user_module, caplog):
    net = _net(user_module)
    torch.save(net, tmp_path / "whole.pt")
    with caplog.at_level("WARNING"):
        assert _same(net, load_model("whole.pt"))
    assert "runs any code" in caplog.text
    torch.jit.save(torch.jit.script(net), tmp_path / "ts.pt")
    assert _same(net, load_model("ts.pt"))
    prog = torch.export.export(net.eval(), (torch.rand(2, 1, 8, 8),))
    torch.export.save(prog, tmp_path / "m.pt2")
    assert _same(net, load_model("m.pt2"))


def test_sklearn_files_and_garbage(tmp_path, monkeypatch):
    import joblib
    from sklearn.linear_model import LogisticRegression

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    est = LogisticRegression().fit(x, y)
    joblib.dump(est, "m.joblib")
    np.testing.assert_array_equal(load_model("m.joblib").predict(x), est.predict(x))
    sio = pytest.importorskip("skops.io")
    sio.dump(est, "m.skops")
    np.testing.assert_array_equal(load_model("m.skops").predict(x), est.predict(x))
    (tmp_path / "bad.pt").write_bytes(b"not a model at all")
    (tmp_path / "bad.joblib").write_bytes(b"garbage")
    (tmp_path / "m.xyz").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    for spec, fix in (("bad.pt", "Check the file"), ("bad.joblib", "joblib.dump"), ("m.xyz", "unknown model file"),
                      ("folder", "not a curakit registry")):
        with pytest.raises(CurakitError) as info:
            load_model(spec)
        assert fix in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CurakitError, match="state dict"):
        load_model("m.joblib", "a:B")
