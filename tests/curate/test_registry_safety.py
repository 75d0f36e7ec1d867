"""Registry metadata is data: editing model.json must not run code or swap the weights."""

import json
import pickle

import pytest
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import RegistryError


def test_a_spec_naming_a_function_is_refused_and_not_called(tmp_path):
    torch = pytest.importorskip("torch")
    from curate.models import SmallCNN

    reg = curate.Registry(tmp_path / "r")
    reg.register(SmallCNN(num_classes=3))
    meta_path = tmp_path / "r" / "versions" / "v1" / "model.json"
    meta = json.loads(meta_path.read_text())
    canary = tmp_path / "ran"
    meta["spec"]["class"] = "os:system"
    meta["spec"]["init_kwargs"] = {"command": f"touch {canary}"}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="not a torch nn.Module class|not trusted"):
        reg.load()
    assert not canary.exists()
    assert torch  # imported for the model


def test_replaced_weights_with_a_matching_model_json_are_refused(tmp_path):
    import numpy as np

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    reg = curate.Registry(tmp_path / "r")
    reg.register(LogisticRegression().fit(X, y))
    folder = tmp_path / "r" / "versions" / "v1"
    (folder / "model.pkl").write_bytes(pickle.dumps(LogisticRegression(C=0.5).fit(X, 1 - y)))
    meta = json.loads((folder / "model.json").read_text())
    import hashlib

    meta["sha256"] = hashlib.sha256((folder / "model.pkl").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="recorded in registry.json"):
        reg.load()
