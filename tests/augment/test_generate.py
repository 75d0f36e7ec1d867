"""augment.generate: conditional VAE fills for tables and images, lineage, replay, quality checks."""

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import augment  # noqa: E402
import curate  # noqa: E402
from curakit.exceptions import DataError, ParameterError  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine

    w = load_wine(as_frame=True)
    X = w.data.copy()
    X["grade"] = pd.Series(np.where(X["alcohol"] > 13.0, "high", "low"), dtype=object)
    X["magnesium"] = X["magnesium"].round().astype("int64")
    return X, w.target.to_numpy()


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.r_[np.flatnonzero(d.target < 4)][:400]
    images = (d.images[idx] * 16).clip(0, 255).astype(np.uint8)[..., None]
    return images, d.target[idx]


def _table(wine, **kw):
    X, y = wine
    return augment.generate(X, y, select={"classes": [2]}, n=12, epochs=40, random_state=3, **kw)


def test_table_rows_keep_dtypes_categories_ranges_and_label(wine):
    X, y = wine
    X2, y2, prov = _table(wine)
    assert 0 < len(X2) <= 12 and len(y2) == len(prov) == len(X2)
    assert list(X2.columns) == list(X.columns) and (y2 == 2).all()
    assert X2["magnesium"].dtype == np.int64 and set(X2["grade"]) <= {"high", "low"}
    for c in X.columns.drop("grade"):
        assert X2[c].between(X[c].min(), X[c].max()).all(), c
    assert set(prov.origin) == {"synthetic"} and set(prov.operation) == {"vae"}
    p = json.loads(prov.params.iloc[0])
    assert p["method"] == "vae" and len(p["weights_sha256"]) == 64 and len(p["train_fingerprint"]) == 64
    assert p["latent_seed"] == prov.seed.iloc[0] and p["temperature"] == 1.0
    parents = [int(json.loads(v)[0]) for v in prov.parent_ids]
    assert all(y[q] == 2 for q in parents)
    q = prov.attrs["quality"]
    assert 0 <= q["groups"]["2"]["auc"] <= 1 and len(q["groups"]["2"]["auc_interval"]) == 2


def test_table_is_deterministic_and_replays_bit_for_bit(wine, tmp_path):
    X, y = wine
    X2, y2, prov = _table(wine)
    X3, y3, prov3 = _table(wine)
    pd.testing.assert_frame_equal(X2, X3)
    assert prov.equals(prov3)
    gen = augment.VAEGenerator.fit(X, y, kind="table", random_state=3, epochs=40)
    assert gen.weights_sha256 == json.loads(prov.params.iloc[0])["weights_sha256"]
    pd.testing.assert_frame_equal(gen.replay(X, y, prov), X2)
    loaded = augment.VAEGenerator.load(gen.save(tmp_path / "gen"))
    assert not list(tmp_path.glob("gen/*.pkl")) and loaded.weights_sha256 == gen.weights_sha256
    pd.testing.assert_frame_equal(loaded.replay(X, y, prov), X2)


def test_copy_guard_refuses_rows_equal_to_exclude_rows(wine):
    X, y = wine
    X2, _, _ = _table(wine)
    # the same call with its own output as eval rows: every first-round candidate is now an exact copy
    X3, _, prov = _table(wine, exclude=X2.iloc[:3])
    refused = pd.DataFrame(prov.attrs["refused"])
    assert (refused["eval_set"] == "exclude").sum() >= 3
    assert not pd.concat([X3, X2.iloc[:3]]).duplicated().any()
    assert set(refused["match"]) <= {"near-copy", "label"}


def test_everything_refused_is_one_line_error(wine):
    X, y = wine
    with pytest.raises(DataError, match="refused by the quality checks"):
        augment.generate(X, y, select={"classes": [2]}, n=4, epochs=5, temperature=0.0, copy_quantile=0.999)


def test_table_fill_goes_into_builder(wine):
    X, y = wine
    old = X.assign(target=y)
    new = old.iloc[:20].reset_index(drop=True)
    X2, y2, prov = _table(wine)
    ts = curate.TrainingSetBuilder(old, new, target="target").add((X2, y2, prov)).build()
    syn = ts.manifest[ts.manifest.origin == "synthetic"]
    assert len(syn) == len(X2) and all(p.startswith("old:") for ids in syn.parent_ids for p in json.loads(ids))


def test_images_augmented_set_deterministic_replay_and_builder(digits):
    images, labels = digits
    sl = np.flatnonzero(labels == 3)[:12]
    kw = dict(select=sl, n=10, epochs=8, random_state=1)
    out = augment.generate(images, labels, **kw)
    again = augment.generate(images, labels, **kw)
    assert isinstance(out, augment.AugmentedSet) and out.images.dtype == np.uint8
    assert out.images.shape[1:] == images.shape[1:] and (out.labels == 3).all()
    assert np.array_equal(out.images, again.images) and out.manifest.equals(again.manifest)
    assert set(out.manifest.parent) <= set(sl.tolist())
    gen = augment.VAEGenerator.fit(images, labels, kind="image", random_state=1, epochs=8)
    assert np.array_equal(gen.replay(images, labels, out.manifest), out.images)
    ts = curate.TrainingSetBuilder((images, labels), (images[:30], labels[:30]), target="label").add(out).build()
    assert (ts.manifest.origin == "synthetic").sum() == len(out)


def test_bad_input_is_one_line_error(wine, digits):
    X, y = wine
    images, labels = digits
    with pytest.raises(ParameterError, match="positive int"):
        augment.generate(X, y, n=0)
    with pytest.raises(DataError, match="at least 2"):
        augment.generate(X, y, select=[5], n=3)
    with pytest.raises(DataError, match="one value only.*Drop it"):
        augment.generate(X.assign(const=1.0), y, n=3, epochs=1)
    with pytest.raises(DataError, match="different sizes.*Resize"):
        augment.generate([images[0], images[1][:4]], labels[:2], n=3)
    with pytest.raises(ParameterError, match="method='vae'"):
        augment.generate(X, y, n=3, method="gan")


def test_incumbent_decides_label_consistency(wine):
    X, y = wine

    class Says:
        def __init__(self, label):
            self.label = label

        def predict(self, rows):
            return np.full(len(rows), self.label)

    X2, y2, prov = augment.generate(X, y, select={"classes": [2]}, n=4, epochs=5, incumbent=Says(2))
    assert "label" not in prov.attrs["quality"]["groups"]["2"]["refused_by"] and (y2 == 2).all()
    with pytest.raises(DataError, match="refused by the quality checks"):
        augment.generate(X, y, select={"classes": [2]}, n=4, epochs=5, incumbent=Says(0))


def test_condition_on_slice_membership_replays_bit_for_bit(wine):
    X, y = wine
    members = np.flatnonzero((y == 1) & (X["alcohol"].to_numpy() < 12.3))  # a thin region of class 1
    kw = dict(select=members, n=6, epochs=40, random_state=3, condition="class+slice")
    X2, y2, prov = augment.generate(X, y, **kw)
    X3, _, prov3 = augment.generate(X, y, **kw)
    assert 0 < len(X2) <= 6 and (y2 == 1).all() and X2.equals(X3) and prov.equals(prov3)
    params = [json.loads(p) for p in prov["params"]]
    assert {p["cond"] for p in params} == {"1|in_slice=1"}  # sampled with the slice's own conditioning code
    gen = augment.VAEGenerator.fit(X, np.array([f"{v}|in_slice={int(k in set(members))}" for k, v in enumerate(y)],
                                               dtype=object), kind="table", random_state=3, epochs=40)
    assert gen.weights_sha256 == params[0]["weights_sha256"]  # the same fit: class and membership labels
    pd.testing.assert_frame_equal(gen.replay(X, y, prov), X2)
    with pytest.raises(ParameterError, match="condition"):
        augment.generate(X, y, select=members, n=3, condition="slice")
