import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import curate


def test_fit_torch_learns_digits_and_is_reproducible(digits):
    torch = pytest.importorskip("torch")
    from curate.models import SmallCNN

    images, labels = digits
    X, y = images[:600], labels[:600]
    torch.manual_seed(123)  # must not matter: curate.fit seeds its own initialisation-free training
    a, hist = curate.fit(SmallCNN(), X, y, epochs=3, lr=3e-3, random_state=0)
    assert len(hist) >= 1 and hist[-1]["val_accuracy"] is not None
    from curakit.adapters import predict_proba

    acc = (predict_proba(a, images[600:900]).argmax(1) == labels[600:900]).mean()
    assert acc > 0.6
    torch.manual_seed(0)
    m1 = SmallCNN()
    m2 = SmallCNN()
    m2.load_state_dict(m1.state_dict())
    curate.fit(m1, X, y, epochs=2, random_state=5)
    curate.fit(m2, X, y, epochs=2, random_state=5)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)


def test_fit_sklearn_and_errors(digits):
    images, labels = digits
    X = images.reshape(len(images), -1)[:300] / 255.0
    model, hist = curate.fit(LogisticRegression(max_iter=200), X, labels[:300])
    assert hasattr(model, "coef_") and hist[0]["train_accuracy"] > 0.9
    with pytest.raises(ValueError, match="X and y differ in length \\(300 vs 299\\)"):
        curate.fit(LogisticRegression(), X, labels[:299])
    with pytest.raises(ValueError, match="must be a torch nn.Module or a scikit-learn estimator. Got str"):
        curate.fit("model", X, labels[:300])


def test_fit_progress_bar_is_a_deprecated_alias(digits):
    import warnings

    from curakit.exceptions import ParameterError

    images, labels = digits
    X, y = images[:200].reshape(200, -1), labels[:200]
    with pytest.warns(FutureWarning, match="'progress_bar' parameter of fit is renamed 'progress'"):
        curate.fit(LogisticRegression(max_iter=50), X, y, progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        curate.fit(LogisticRegression(max_iter=50), X, y, progress=False)
    with pytest.raises(ParameterError, match="pass only 'progress'"):
        curate.fit(LogisticRegression(max_iter=50), X, y, progress_bar=False, progress=False)


def test_fit_refuses_bad_labels_and_images_in_one_line(digits):
    torch = pytest.importorskip("torch")
    from curakit.exceptions import DataError
    from curate.models import SmallCNN

    images, labels = digits
    X, y = images[:40], labels[:40]
    torch.manual_seed(0)
    with pytest.raises(DataError, match=r"^images have 3 channel\(s\) but 1 are expected"):
        curate.fit(SmallCNN(in_channels=1), np.repeat(X, 3, axis=-1), y, epochs=1)
    with pytest.raises(DataError, match=r"^labels of fit holds 1 missing \(NaN or None\) label\(s\) among 40 rows"):
        curate.fit(SmallCNN(), X, np.where(np.arange(40) == 3, np.nan, y.astype(float)), epochs=1)
    with pytest.raises(DataError, match=r"^labels hold class indices outside 0\.\.9 but the model has 10 outputs"):
        curate.fit(SmallCNN(), X, y + 10, epochs=1)
    with pytest.raises(DataError, match=r"^labels of fit must be one label per row"):
        curate.fit(LogisticRegression(), X.reshape(40, -1), "abc")


def test_predict_proba_of_an_unfitted_estimator_is_one_line():
    from curakit.adapters import predict_proba
    from curakit.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match=r"^The LogisticRegression passed to predict_proba is not fitted"):
        predict_proba(LogisticRegression(), np.zeros((3, 2)))


def test_predict_proba_on_inputs_the_model_cannot_take_is_one_line():
    torch = pytest.importorskip("torch")
    from curakit.adapters import predict_proba
    from curakit.exceptions import DataError

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(DataError, match=r"^The model cannot run on inputs shaped \(10, 10, 1\) \(.*\)\. Pass inputs of the size"):
        predict_proba(net, np.zeros((2, 10, 10, 1), dtype=np.uint8))
    assert predict_proba(net, np.zeros((2, 8, 8, 1), dtype=np.uint8)).shape == (2, 3)
