"""Feature-space SMOTE on digits: a thin class is filled in a frozen backbone's embedding space
and a new head trained on it recognises that class better than a head trained without."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import augment  # noqa: E402
from curate.models import SmallCNN  # noqa: E402
from diagnose import Slice  # noqa: E402
from diagnose._embed import embed  # noqa: E402

THIN = 3


@pytest.fixture(scope="module")
def setting(digits):
    images, labels = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    train, test = order[:1200], order[1200:]
    # the training set: class THIN kept to 8 images (a thin class)
    keep = np.flatnonzero(labels[train] != THIN)
    thin = np.flatnonzero(labels[train] == THIN)[:8]
    head_rows = train[np.concatenate([keep, thin])]
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10)
    x = torch.from_numpy(images[head_rows]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels[head_rows])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(6):
        for idx in torch.randperm(len(y), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model, images, labels, head_rows, test


def _recall(model, images, labels, rows, cls):
    with torch.no_grad():
        pred = model(torch.from_numpy(images[rows]).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    sel = labels[rows] == cls
    return float((pred[sel] == cls).mean())


def test_feature_smote_fills_a_thin_class_and_the_new_head_recalls_it_better(setting):
    model, images, labels, rows, test = setting
    X, y = images[rows], labels[rows]
    Z2, y2, prov = augment.feature_smote(model, X, y, select={"classes": [THIN]}, n=150, k_neighbors=3, random_state=0)
    Z = embed(model, X)
    assert Z2.shape == (len(y) + 150, Z.shape[1]) and (y2[len(y):] == THIN).all()
    np.testing.assert_allclose(Z2[: len(y)], Z, rtol=1e-6)
    syn = (prov["origin"] == "synthetic").to_numpy()
    parents = np.array([[int(p) for p in json.loads(t)] for t in prov["parent_ids"][syn]])
    assert (y[parents] == THIN).all()
    params = [json.loads(t) for t in prov["params"][syn]]
    assert all(p["space"] == "embedding" for p in params)
    lam = np.array([p["lambda"] for p in params])[:, None]
    Zd = Z.astype(np.float64)
    np.testing.assert_allclose(Z2[syn], Zd[parents[:, 0]] + lam * (Zd[parents[:, 1]] - Zd[parents[:, 0]]), rtol=1e-12)

    plain = augment.fit_head(Z, y, model=model, num_classes=10, random_state=0)
    filled = augment.fit_head(Z2, y2, model=model, num_classes=10, random_state=0)
    r_orig = _recall(model, images, labels, test, THIN)
    r_plain = _recall(plain, images, labels, test, THIN)
    r_filled = _recall(filled, images, labels, test, THIN)
    # measured: original head 0.70, new head on the thin data 0.83, new head on the filled data 0.91
    assert r_filled > r_plain + 0.03 and r_filled > r_orig + 0.1, (r_orig, r_plain, r_filled)
    # the other classes do not pay much for it
    others = test[labels[test] != THIN]
    with torch.no_grad():
        def acc(m):
            p = m(torch.from_numpy(images[others]).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
            return float((p == labels[others]).mean())
        assert acc(filled) > acc(plain) - 0.05
    # the frozen backbone is shared, untouched
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(filled.backbone.state_dict()[k], v)


def test_cluster_slice_is_re_applied_in_embedding_space(setting):
    model, images, labels, rows, _ = setting
    X, y = images[rows], labels[rows]
    Z = embed(model, X).astype(np.float64)
    members = np.flatnonzero(y == 3)[:20]
    centroid = Z[members].mean(0, keepdims=True)
    radius = float(np.linalg.norm(Z[members] - centroid, axis=1).max())
    s = Slice(id="clusters-3c", method="clusters", description="a cluster of threes", indices=np.array([0]),
              n_analysed=5, error_rate=0.3, baseline_error_rate=0.1,
              definition={"kind": "centroid", "centroids": centroid.tolist(), "member": [0], "radius": radius})
    inside = s.contains(embeddings=Z)
    _, y2, prov = augment.feature_smote(model, X, y, select=s, embeddings=Z, n=10, k_neighbors=3, random_state=0)
    syn = (prov["origin"] == "synthetic").to_numpy()
    parents = np.array([[int(p) for p in json.loads(t)] for t in prov["parent_ids"][syn]])
    assert inside[parents].all() and set(prov["slice_ids"][syn]) == {'["clusters-3c"]'}
    assert prov["row_id"][syn].iloc[0] == "aug:clusters-3c:0"


def test_fit_head_errors_and_seed():
    Z = np.random.default_rng(0).normal(size=(30, 4))
    y = np.arange(30) % 3
    a = augment.fit_head(Z, y, epochs=20, random_state=1)
    b = augment.fit_head(Z, y, epochs=20, random_state=1)
    torch.testing.assert_close(a.weight, b.weight)
    with pytest.raises(ValueError, match="y must hold class indices"):
        augment.fit_head(Z, y.astype(float))
    with pytest.raises(ValueError, match="needs a model with a 'head' child"):
        augment.fit_head(Z, y, model=torch.nn.Linear(4, 3))


def test_feature_smote_select_equals_the_deprecated_target(setting):
    model, images, labels, rows, _ = setting
    X, y = images[rows], labels[rows]
    Z = embed(model, X).astype(np.float64)
    sel = {"classes": [3]}
    Z1, y1, p1 = augment.feature_smote(model, X, y, select=sel, embeddings=Z, n=10, k_neighbors=3, random_state=2)
    with pytest.warns(FutureWarning, match="'target' parameter of feature_smote is renamed 'select'"):
        Z2, y2, p2 = augment.feature_smote(model, X, y, target=sel, embeddings=Z, n=10, k_neighbors=3, random_state=2)
    np.testing.assert_array_equal(Z1, Z2)
    np.testing.assert_array_equal(y1, y2)
    assert p1.equals(p2)
    from curakit.exceptions import ParameterError

    with pytest.raises(ParameterError, match="both 'target' and its new name 'select'"):
        augment.feature_smote(model, X, y, select=sel, target=sel, embeddings=Z, n=10)
