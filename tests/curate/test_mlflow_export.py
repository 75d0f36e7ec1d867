"""``curate.Registry.export_mlflow`` against a real MLflow (local sqlite store, no network).

The dev extra installs mlflow-skinny (+ sqlalchemy, alembic for the sqlite store), so these run in
CI; the tests that need it take the ``mlflow`` fixture, which skips them where it cannot be imported
(an install without the dev extra). The missing-dependency test runs everywhere (it makes the
import fail).
"""

import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import MissingDependencyError
from curate.models import SmallCNN


@pytest.fixture(scope="module")
def data():
    d = load_digits()
    return d.data / 16.0, d.target, torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # mlflow puts a sqlite store's artifacts in ./mlruns
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield mlflow
    mlflow.set_tracking_uri(None)


def _uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _lr_registry(tmp_path, data):
    X, y, _ = data
    model = LogisticRegression(max_iter=300).fit(X[:1000], y[:1000])
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model, metrics={"old": {"accuracy": 0.9, "n": 40}, "new": {"accuracy": 0.75}}, metric="accuracy",
                 strategy="continue_all", params={"C": 1.0, "classes": [0, 1]})
    return reg


def test_missing_mlflow_is_one_line_error(tmp_path, data, monkeypatch):
    reg = _lr_registry(tmp_path, data)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"^'mlflow' is needed for this step .*Install it with: "
                                                     r"pip install mlflow\.$") as err:
        reg.export_mlflow(tracking_uri=_uri(tmp_path))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "mlflow.db").exists()


def test_export_sklearn(mlflow, tmp_path, data):
    from mlflow.tracking import MlflowClient

    X, _, _ = data
    reg = _lr_registry(tmp_path, data)
    mv = reg.export_mlflow(name="digits-lr", tracking_uri=_uri(tmp_path))
    assert not mlflow.is_tracking_uri_set()  # the URI was set for the call only
    mlflow.set_tracking_uri(_uri(tmp_path))
    client = MlflowClient()
    assert (mv.name, str(mv.version)) == ("digits-lr", "1")
    assert client.get_model_version("digits-lr", "1").status == "READY"
    run = client.get_run(mv.run_id)
    assert run.info.run_name == "curakit-v1"
    assert run.data.params == {"curakit_version": "v1", "strategy": "continue_all", "training_set": "",
                               "recipe_hash": "", "model_format": reg.version().model_format,
                               "param.C": "1.0", "param.classes": "[0, 1]"}
    assert run.data.metrics == {"old_accuracy": 0.9, "old_n": 40.0, "new_accuracy": 0.75}
    assert run.data.tags["curakit.model_hash"] == reg.version().model_hash
    assert [a.path for a in client.list_artifacts(mv.run_id, "curakit")] == ["curakit/version.json"]
    back = mlflow.sklearn.load_model("models:/digits-lr/1")
    ref = reg.load()
    np.testing.assert_array_equal(back.predict(X[1000:]), ref.predict(X[1000:]))
    np.testing.assert_allclose(back.predict_proba(X[1000:]), ref.predict_proba(X[1000:]))
    pyfunc = mlflow.pyfunc.load_model("models:/digits-lr/1")
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(X[1000:])), ref.predict(X[1000:]))
    # a second export is version 2 of the same registered model
    assert str(reg.export_mlflow(name="digits-lr", tracking_uri=_uri(tmp_path)).version) == "2"


@pytest.mark.parametrize("with_example", [False, True], ids=["pickle", "input_example"])
def test_export_torch(mlflow, tmp_path, data, with_example):
    _, _, images = data
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=4).eval()
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model)
    example = images[:4].numpy() if with_example else None
    mv = reg.export_mlflow(name="digits-cnn", tracking_uri=_uri(tmp_path), input_example=example)
    mlflow.set_tracking_uri(_uri(tmp_path))
    assert mlflow.tracking.MlflowClient().get_model_version("digits-cnn", mv.version).status == "READY"
    back = mlflow.pytorch.load_model(f"models:/digits-cnn/{mv.version}")
    with torch.no_grad():
        ref = reg.load()(images[:100])
        got = back(images[:100])
    torch.testing.assert_close(got, ref)


def test_missing_skops_and_failed_export_leave_nothing(mlflow, tmp_path, data, monkeypatch):
    from mlflow.tracking import MlflowClient

    reg = _lr_registry(tmp_path, data)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "skops", None)
        m.setitem(sys.modules, "skops.io", None)
        with pytest.raises(MissingDependencyError, match=r"^'skops.io' is needed .*pip install skops\.$"):
            reg.export_mlflow(tracking_uri=_uri(tmp_path))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mlflow.sklearn, "log_model", boom)
    with pytest.raises(OSError, match="disk full"):
        reg.export_mlflow(name="never", tracking_uri=_uri(tmp_path))
    mlflow.set_tracking_uri(_uri(tmp_path))
    client = MlflowClient()
    assert client.search_registered_models() == []
    assert client.search_runs(["0"]) == []  # the failed run was deleted
