"""Registry metadata is data: editing or forging a version's files must not run code or swap the weights.

Each case measured in issue 9 item 3 is re-checked here with a payload that touches a canary file in the
test's temporary folder; the canary must never appear.
"""

import hashlib
import json
import os
import pickle
import sys
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import RegistryError


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _forge_registry(root, version="v1"):
    """What a forger who can write every file does: update registry.json's records to the files."""
    folder = root / "versions" / version
    state = json.loads((root / "registry.json").read_text())
    meta = json.loads((folder / "model.json").read_text())
    for v in state["versions"]:
        if v["version"] == version:
            v["sha256"] = _sha(folder / meta["file"])
            v["meta_sha256"] = _sha(folder / "model.json")
    (root / "registry.json").write_text(json.dumps(state))


class _Payload:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, canary):
        self.canary = str(canary)

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


def _estimator():
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    return LogisticRegression().fit(X, y), X


# -- torch: a model.json naming a function or an untrusted module -----------------------------------
def _torch_registry(tmp_path):
    pytest.importorskip("torch")
    from curate.models import SmallCNN

    reg = curate.Registry(tmp_path / "r")
    reg.register(SmallCNN(num_classes=3))
    return reg, tmp_path / "r" / "versions" / "v1" / "model.json"


def test_edited_model_json_is_refused_by_the_registry_hash(tmp_path):
    reg, meta_path = _torch_registry(tmp_path)
    canary = tmp_path / "ran"
    meta = json.loads(meta_path.read_text())
    meta["spec"]["class"] = "os:system"
    meta["spec"]["init_kwargs"] = {"command": f"touch {canary}"}
    meta_path.write_text(json.dumps(meta))
    weights = meta_path.parent / "model.pt"
    assert _sha(weights) == meta["sha256"]  # the weights are intact: only the metadata was edited
    with pytest.raises(RegistryError, match=r"model\.json.*sha256 recorded in registry\.json.*Restore"):
        reg.load()
    assert not canary.exists()


def test_forged_spec_naming_a_function_is_refused_and_not_called(tmp_path):
    reg, meta_path = _torch_registry(tmp_path)
    canary = tmp_path / "ran"
    meta = json.loads(meta_path.read_text())
    meta["spec"]["class"] = "os:system"
    meta["spec"]["init_kwargs"] = {"command": f"touch {canary}"}
    meta_path.write_text(json.dumps(meta))
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match="not trusted.*--trust os"):
        reg.load()
    assert not canary.exists()
    # an allowed module, but a function rather than a class: still refused, never called
    meta["spec"]["class"] = "torch.nn.functional:relu"
    meta_path.write_text(json.dumps(meta))
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match="not a torch nn.Module class"):
        reg.load()


def test_forged_spec_naming_an_untrusted_module_is_not_imported(tmp_path, monkeypatch):
    reg, meta_path = _torch_registry(tmp_path)
    canary = tmp_path / "imported"
    (tmp_path / "evilmod_h6.py").write_text(
        f"import pathlib\npathlib.Path({str(canary)!r}).touch()\nimport torch\nclass Net(torch.nn.Module):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    meta = json.loads(meta_path.read_text())
    meta["spec"]["class"] = "evilmod_h6:Net"
    meta_path.write_text(json.dumps(meta))
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match="evilmod_h6.*not trusted.*--trust evilmod_h6"):
        reg.load()
    assert not canary.exists() and "evilmod_h6" not in sys.modules


def test_a_users_own_torch_class_loads_once_its_module_is_trusted(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    (tmp_path / "mynet_h6.py").write_text(
        "import torch\nclass Net(torch.nn.Module):\n    def __init__(self, width=4):\n        super().__init__()\n"
        "        self.width = width\n        self.fc = torch.nn.Linear(3, width)\n"
        "    def forward(self, x):\n        return self.fc(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import mynet_h6

    net = mynet_h6.Net(width=5)
    reg = curate.Registry(tmp_path / "r")
    reg.register(net)
    with pytest.raises(RegistryError, match="not trusted.*--trust mynet_h6"):
        reg.load()
    back = reg.load(trusted=["mynet_h6"])
    assert torch.equal(back.fc.weight, net.fc.weight)
    monkeypatch.setenv("CURAKIT_TRUST", "mynet_h6")
    assert torch.equal(reg.load().fc.weight, net.fc.weight)


# -- scikit-learn: skops, not pickle; pickles only on request ---------------------------------------
def test_sklearn_versions_are_stored_with_skops_and_load_without_pickle(tmp_path):
    model, X = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    folder = tmp_path / "r" / "versions" / "v1"
    assert (folder / "model.skops").is_file() and not (folder / "model.pkl").exists()
    assert reg.version().model_format == "sklearn-skops"
    back = reg.load()
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_replaced_pickle_with_a_matching_model_json_is_refused(tmp_path):
    """The measured case: a malicious model.pkl with its hash updated in model.json."""
    model, _ = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    folder = tmp_path / "r" / "versions" / "v1"
    canary = tmp_path / "ran"
    (folder / "model.pkl").write_bytes(pickle.dumps(_Payload(canary)))
    meta = json.loads((folder / "model.json").read_text())
    meta.update(format="sklearn-pickle", file="model.pkl", sha256=_sha(folder / "model.pkl"))
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="registry.json"):
        reg.load(allow_pickle=True)
    assert not canary.exists()
    # a forger who rewrites registry.json too still meets the pickle refusal
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match="is a pickle.*allow_pickle=True"):
        reg.load()
    assert not canary.exists()


def test_replaced_weights_file_is_refused_against_both_records(tmp_path):
    model, X = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    folder = tmp_path / "r" / "versions" / "v1"
    import skops.io as sio

    other = LogisticRegression(C=0.5).fit(X, np.arange(len(X)) % 2 == 0)
    (folder / "model.skops").write_bytes(sio.dumps(other))
    with pytest.raises(RegistryError, match="does not match its recorded sha256"):
        reg.load()
    meta = json.loads((folder / "model.json").read_text())
    meta["sha256"] = _sha(folder / "model.skops")
    (folder / "model.json").write_text(json.dumps(meta))
    state = json.loads((tmp_path / "r" / "registry.json").read_text())
    state["versions"][0]["meta_sha256"] = _sha(folder / "model.json")  # forge only the metadata record
    (tmp_path / "r" / "registry.json").write_text(json.dumps(state))
    with pytest.raises(RegistryError, match="sha256 recorded in registry.json: it was replaced"):
        reg.load()


def test_a_skops_file_naming_an_untrusted_type_is_refused(tmp_path, monkeypatch):
    import skops.io as sio

    (tmp_path / "odd_h6.py").write_text("class Thing:\n    def __init__(self):\n        self.x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import odd_h6

    model, _ = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    folder = tmp_path / "r" / "versions" / "v1"
    model.extra_ = odd_h6.Thing()
    (folder / "model.skops").write_bytes(sio.dumps(model))
    meta = json.loads((folder / "model.json").read_text())
    meta["sha256"] = _sha(folder / "model.skops")
    (folder / "model.json").write_text(json.dumps(meta))
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match=r"odd_h6\.Thing.*--trust odd_h6"):
        reg.load()
    assert isinstance(reg.load(trusted=["odd_h6"]).extra_, odd_h6.Thing)


def test_an_old_pickle_version_loads_only_with_allow_pickle_and_a_warning(tmp_path, monkeypatch):
    model, X = _estimator()
    monkeypatch.setitem(sys.modules, "skops", None)  # as a registry written without skops
    reg = curate.Registry(tmp_path / "r")
    with pytest.warns(UserWarning, match="pickle.*allow_pickle"):
        reg.register(model)
    monkeypatch.delitem(sys.modules, "skops")
    assert reg.version().model_format == "sklearn-pickle"
    with pytest.raises(RegistryError, match=r"model\.pkl.*is a pickle.*allow_pickle=True.*--allow-pickle"):
        reg.load()
    with pytest.warns(UserWarning, match="runs any code"):
        back = reg.load(allow_pickle=True)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    monkeypatch.setenv("CURAKIT_ALLOW_PICKLE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (reg.load().coef_ == model.coef_).all()


def test_a_version_without_a_recorded_sha256_is_refused(tmp_path):
    model, _ = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    state = json.loads((tmp_path / "r" / "registry.json").read_text())
    state["versions"][0]["sha256"] = ""
    (tmp_path / "r" / "registry.json").write_text(json.dumps(state))
    with pytest.raises(RegistryError, match="records no sha256 for v1"):
        reg.load()


def test_registry_help_says_what_loading_someone_elses_registry_means(capsys):
    from curakit._cli import main

    with pytest.raises(SystemExit):
        main(["registry", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "can run code" in text and "--trust" in text and "--allow-pickle" in text


def test_cli_promote_needs_trust_for_a_users_class_and_imports_from_the_working_folder(tmp_path, digits, monkeypatch,
                                                                                      capsys):
    pytest.importorskip("torch")
    from curakit._cli import main

    (tmp_path / "mynet_cli_h6.py").write_text("from curate.models import SmallCNN\n\nclass Net(SmallCNN):\n    pass\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    import mynet_cli_h6

    images, labels = digits
    model = mynet_cli_h6.Net(num_classes=10, in_channels=1, width=4)
    ts = curate.TrainingSetBuilder((images[:200], labels[:200]), (images[200:300], labels[200:300]),
                                   target="digit").build(random_state=0)
    evals = {"old": (images[300:400], labels[300:400]), "new": (images[400:500], labels[400:500])}
    result = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals, epochs=1)
    result.save(tmp_path / "res")
    curate.Registry(tmp_path / "reg").register(model)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])  # the CLI must add it itself
    monkeypatch.delitem(sys.modules, "mynet_cli_h6")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CURAKIT_TRUST", "")
    capsys.readouterr()
    assert main(["registry", "promote", "reg", "res", "--n-bootstrap", "50"]) == 1
    err = capsys.readouterr().err
    assert "not trusted" in err and "--trust mynet_cli_h6" in err and "Traceback" not in err
    assert main(["registry", "promote", "reg", "res", "--n-bootstrap", "50", "--trust", "mynet_cli_h6"]) in (0, 3)
    assert [v.version for v in curate.Registry(tmp_path / "reg").versions()] == ["v1", "v2"]
    assert str(tmp_path) in sys.path  # the working folder was put on the import path by the command


def test_a_model_json_pointing_outside_its_folder_is_refused(tmp_path):
    model, _ = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    folder = tmp_path / "r" / "versions" / "v1"
    (tmp_path / "elsewhere.skops").write_bytes((folder / "model.skops").read_bytes())
    meta = json.loads((folder / "model.json").read_text())
    meta["file"] = "../../../elsewhere.skops"
    (folder / "model.json").write_text(json.dumps(meta))
    _forge_registry(tmp_path / "r")
    with pytest.raises(RegistryError, match="names a model file that is not in the version folder"):
        reg.load()


def test_a_version_name_leaving_the_registry_is_refused(tmp_path):
    model, _ = _estimator()
    reg = curate.Registry(tmp_path / "r")
    reg.register(model)
    other = curate.Registry(tmp_path / "elsewhere")
    other.register(model)
    state = json.loads((tmp_path / "r" / "registry.json").read_text())
    state["versions"][0]["version"] = state["champion"] = "../../elsewhere/versions/v1"
    (tmp_path / "r" / "registry.json").write_text(json.dumps(state))
    with pytest.raises(RegistryError, match="not a version folder name"):
        reg.load()
