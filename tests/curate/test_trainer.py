import numpy as np
import pandas as pd
import pytest
import torch
from _retrain_fixtures import digits_drift
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier

from curakit.adapters import predict_proba as torch_predict_proba
from curakit.exceptions import DataError, ParameterError, StrategyError
from curate._trainer import (
    TrainConfig,
    can_continue,
    fit_torch,
    reset_parameters,
    sk_continue,
    sk_fit,
)
from curate.models import SmallCNN


@pytest.fixture(scope="module")
def data(digits):
    d = digits_drift(digits)
    X, y = d["images"][d["old_train"]], d["labels"][d["old_train"]]
    return X, y


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.dtype.is_floating_point])


def test_training_learns_and_traces_every_epoch(data):
    X, y = data
    model = reset_parameters(SmallCNN(width=8), 0)  # seeded weights: the test does not depend on test order
    untrained = (torch_predict_proba(model, X[400:]).argmax(1) == y[400:]).mean()
    hist = fit_torch(model, X[:400], y[:400], config=TrainConfig(epochs=3, lr=1e-2), seed=0,
                     X_val=X[400:], y_val=y[400:], )
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"} <= set(hist[0])
    # compared with the same model before training (same machine), with margins wide enough for any
    # CPU: over initial weights seeded 0-7 the loss fell to 0.10-0.15 of the first epoch's and the
    # held-out accuracy rose by 0.27-0.82
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    acc = (torch_predict_proba(model, X[400:]).argmax(1) == y[400:]).mean()
    assert acc > untrained + 0.2


def test_same_seed_same_weights_other_seed_differs(data):
    X, y = data
    runs = []
    for seed in (0, 0, 1):
        m = reset_parameters(SmallCNN(width=8), 5)
        h = fit_torch(m, X[:200], y[:200], config=TrainConfig(epochs=1, lr=1e-2), seed=seed)
        runs.append((_weights(m), h[0]["train_loss"]))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0], runs[2][0])


def test_early_stopping_restores_the_best_epoch(data):
    X, y = data
    model = SmallCNN(width=8)
    # validation labels that disagree with training: val loss rises as training fits
    hist = fit_torch(model, X[:300], y[:300], config=TrainConfig(epochs=20, lr=1e-2, patience=2), seed=0,
                     X_val=X[300:400], y_val=(y[300:400] + 1) % 10)
    assert len(hist) < 20
    best = [h for h in hist if h.get("best")]
    assert len(best) == 1
    assert best[0]["val_loss"] == min(h["val_loss"] for h in hist)
    # the restored model has the best epoch's validation loss
    proba = torch_predict_proba(model, X[300:400])
    loss = -np.log(np.clip(proba[np.arange(100), (y[300:400] + 1) % 10], 1e-12, 1)).mean()
    assert loss == pytest.approx(best[0]["val_loss"], rel=1e-5)


def test_zero_weight_rows_do_not_change_the_weights(data):
    X, y = data
    w = np.ones(200)
    w[::3] = 0.0
    y_noisy = y[:200].copy()
    y_noisy[::3] = (y_noisy[::3] + 3) % 10
    out = []
    for labels in (y[:200], y_noisy):
        m = reset_parameters(SmallCNN(width=8), 1)
        fit_torch(m, X[:200], labels, config=TrainConfig(epochs=1, lr=1e-2), seed=0, sample_weight=w)
        out.append(_weights(m))
    assert torch.allclose(out[0], out[1], atol=1e-6)


def test_tabular_torch_model_trains_on_a_dataframe():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    fit_torch(model, X, y.to_numpy(), config=TrainConfig(epochs=30, lr=3e-2, batch_size=32), seed=0)
    assert (torch_predict_proba(model, X).argmax(1) == y.to_numpy()).mean() > 0.9


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"epochs": 0}, r"The 'epochs' parameter of retrain must be an int in the range \[1, inf\)\. Got 0 instead\."),
        ({"lr": -1.0}, r"The 'lr' parameter of retrain must be a float in the range \(0\.0, inf\)\. Got -1\.0 instead\."),
        ({"batch_size": 2.5}, r"The 'batch_size' parameter of retrain must be an int"),
        ({"patience": 0}, r"The 'patience' parameter of retrain must be an int"),
        ({"weight_decay": -0.1}, r"The 'weight_decay' parameter of retrain must be a float"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kw)


def test_bad_weights_and_empty_rows(data):
    X, y = data
    with pytest.raises(DataError, match="Sample weights must be 10 finite non-negative numbers"):
        fit_torch(SmallCNN(width=8), X[:10], y[:10], config=TrainConfig(epochs=1), seed=0, sample_weight=-np.ones(10))
    with pytest.raises(DataError, match="No training rows"):
        fit_torch(SmallCNN(width=8), X[:0], y[:0], config=TrainConfig(epochs=1), seed=0)


def test_reset_parameters_is_seeded_and_resets():
    a, b = SmallCNN(width=8), SmallCNN(width=8)
    before = _weights(a).clone()
    reset_parameters(a, 3)
    reset_parameters(b, 3)
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.equal(before, _weights(a))
    with pytest.raises(StrategyError, match="has no submodule with reset_parameters"):
        reset_parameters(torch.nn.ReLU(), 0)


def test_sklearn_adapters(digits):
    X = digits[0].reshape(len(digits[1]), -1).astype(float) / 255
    y = digits[1]
    sgd = SGDClassifier(random_state=0).fit(X[:500], y[:500])
    assert can_continue(sgd) == "partial_fit"
    hist = sk_continue(sgd, X[500:900], y[500:900], epochs=3, seed=0, X_val=X[900:1000], y_val=y[900:1000])
    assert [h["epoch"] for h in hist] == [1, 2, 3] and hist[-1]["val_accuracy"] > 0.8

    rf = RandomForestClassifier(n_estimators=4, warm_start=True, random_state=0).fit(X[:500], y[:500])
    assert can_continue(rf) == "warm_start"
    sk_continue(rf, X[500:900], y[500:900], extra_estimators=3)
    assert len(rf.estimators_) == 7

    with pytest.raises(StrategyError, match="1 label value"):
        sk_continue(SGDClassifier(random_state=0).fit(X[:300], np.minimum(y[:300], 8)), X[:50], y[:50] * 0 + 9)

    knn = KNeighborsClassifier()
    assert can_continue(knn) is None
    with pytest.raises(ParameterError, match="KNeighborsClassifier.fit does not accept sample_weight"):
        sk_fit(knn, X[:100], y[:100], sample_weight=np.linspace(0.5, 1, 100))
    hist = sk_fit(knn, X[:100], y[:100], sample_weight=np.ones(100))  # uniform weights need no support
    assert hist[0]["train_accuracy"] > 0.8
    assert isinstance(pd.DataFrame(hist), pd.DataFrame)


def test_predict_proba_on_no_rows_keeps_the_class_axis():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model.train()
    proba = torch_predict_proba(model, np.zeros((0, 4), dtype=np.float32))
    assert proba.shape == (0, 3) and proba.dtype == np.float64
    assert model.training  # mode restored
