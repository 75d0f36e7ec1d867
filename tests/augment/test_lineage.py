import pandas as pd
import pytest

from augment import LineageRow, lineage_frame, lineage_rows


def test_manifest_round_trip_through_parquet(tmp_path):
    rows = [
        LineageRow(row_id="old:0", origin="old", source="old", reason="old data"),
        LineageRow(
            row_id="aug:c3:0", origin="augmented", source="new", parent_ids=("new:5",), operation="albumentations",
            params={"Rotate": {"angle": 7.5}}, slice_ids=("clusters-ab",), seed=42, reason="fill",
        ),
    ]
    frame = lineage_frame(rows)
    assert list(frame.columns)[:3] == ["row_id", "origin", "source"]
    frame.to_parquet(tmp_path / "m.parquet")
    back = lineage_rows(pd.read_parquet(tmp_path / "m.parquet"))
    assert back == rows
    assert back[1].params["Rotate"]["angle"] == 7.5 and back[0].seed is None


def test_bad_origin_and_missing_columns():
    with pytest.raises(ValueError, match="The 'origin' of LineageRow must be one of"):
        LineageRow(row_id="x", origin="mystery")
    with pytest.raises(ValueError, match="Manifest lacks column\\(s\\)"):
        lineage_rows(pd.DataFrame({"row_id": ["a"]}))


# -- the Lineage samplers' own row generation (augment._interpolation) against imbalanced-learn ------------
import json  # noqa: E402

import numpy as np  # noqa: E402
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from augment import LineageADASYN, LineageBorderlineSMOTE, LineageSMOTE  # noqa: E402

CASES = [
    (LineageSMOTE, SMOTE, {}),
    (LineageSMOTE, SMOTE, {"k_neighbors": NearestNeighbors(n_neighbors=4)}),
    (LineageBorderlineSMOTE, BorderlineSMOTE, {"kind": "borderline-1"}),
    (LineageBorderlineSMOTE, BorderlineSMOTE, {"kind": "borderline-2", "m_neighbors": 8}),
    (LineageADASYN, ADASYN, {"n_neighbors": 4}),
]


def _data():
    X, y = make_classification(n_samples=400, n_classes=3, n_informative=4, weights=[0.15, 0.3, 0.55],
                               class_sep=0.6, random_state=3)
    return X, y


@pytest.mark.parametrize("seed", [11, "instance"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize(("ours", "peer", "kw"), CASES, ids=lambda c: getattr(c, "__name__", None) or str(c)[:24])
def test_own_generation_equals_imbalanced_learn_and_parents_rebuild_each_row(ours, peer, kw, fmt, seed):
    X, y = _data()
    Xin = sparse.csr_matrix(X) if fmt == "csr" else X
    rs = (lambda: np.random.RandomState(5)) if seed == "instance" else (lambda: seed)
    a = ours(random_state=rs(), **kw)
    Xa, ya = a.fit_resample(Xin, y)
    # imbalanced-learn 0.14's Borderline-SMOTE-2 fails on sparse input; ours equals its dense result
    peer_in = X if kw.get("kind") == "borderline-2" else Xin
    Xb, yb = peer(random_state=rs(), **kw).fit_resample(peer_in, y)
    dense_a = Xa.toarray() if sparse.issparse(Xa) else Xa
    dense_b = Xb.toarray() if sparse.issparse(Xb) else Xb
    np.testing.assert_array_equal(dense_a, dense_b)
    np.testing.assert_array_equal(ya, yb)
    syn = a.synthetic_
    assert syn.sum() > 0 and (~syn[: len(y)]).all()
    p, q, lam = a.parents_[syn, 0], a.parents_[syn, 1], a.steps_[syn]
    factor = np.ones(int(syn.sum()))
    if kw.get("kind") == "borderline-2":
        factor = np.array([json.loads(t).get("factor", 1.0) for t in a.provenance_["params"][syn]])
        assert (factor < 1).any() and (y[q] != y[p]).any()  # partners of another class, scaled differences
    else:
        assert (y[q] == y[p]).all()
    rebuilt = X[p] + (lam * factor)[:, None] * (X[q] - X[p])
    np.testing.assert_allclose(dense_a[syn], rebuilt, rtol=0, atol=1e-12)
    assert (ya[syn] == y[p]).all()


def _nc_inputs(kind):
    import pandas as pd

    X, y = _data()
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=len(y))
    size = np.where(X[:, 1] > 0, "L", "S")
    if kind == "frame-names":
        frame = pd.DataFrame(X[:, :4], columns=list("abcd")).assign(colour=colour, size=size)
        return frame, y, ["colour", "size"]
    if kind == "frame-auto":
        frame = pd.DataFrame(X[:, :4], columns=list("abcd"))
        frame.insert(1, "colour", pd.Categorical(colour))
        return frame, y, "auto"
    if kind == "object-mask":
        arr = np.column_stack([X[:, :3], colour, X[:, 3]]).astype(object)
        return arr, y, [False, False, False, True, False]
    if kind == "constant-in-a-class":  # median std 0 in class 0: the categories keep their encoding
        Xc = X[:, :3].copy()
        Xc[y == 0] = 1.5
        return np.column_stack([Xc, rng.integers(0, 3, len(y))]).astype(float), y, [3]
    return sparse.csr_matrix(np.column_stack([X[:, :3], rng.integers(0, 4, len(y))])), y, [-1]  # "csr"


@pytest.mark.parametrize("seed", [13, "instance"])
@pytest.mark.parametrize("kind", ["frame-names", "frame-auto", "object-mask", "constant-in-a-class", "csr"])
def test_own_smotenc_equals_imbalanced_learn(kind, seed):
    import pandas as pd
    from imblearn.over_sampling import SMOTENC

    from augment import LineageSMOTENC

    X, y, cats = _nc_inputs(kind)
    rs = (lambda: np.random.RandomState(2)) if seed == "instance" else (lambda: seed)
    ours = LineageSMOTENC(cats, random_state=rs())
    Xa, ya = ours.fit_resample(X, y)
    Xb, yb = SMOTENC(cats, random_state=rs()).fit_resample(X, y)
    if isinstance(Xa, pd.DataFrame):
        pd.testing.assert_frame_equal(Xa, Xb)
    elif sparse.issparse(Xa):
        np.testing.assert_array_equal(Xa.toarray(), Xb.toarray())
    else:
        np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    syn = ours.synthetic_
    p, q, lam = ours.parents_[syn, 0], ours.parents_[syn, 1], ours.steps_[syn]
    assert syn.sum() > 0 and (y[p] == y[q]).all() and (ya[syn] == y[p]).all()
    cont = ours.continuous_features_
    src = np.asarray(X.toarray() if sparse.issparse(X) else X)[:, cont].astype(float)
    out = np.asarray(Xa.toarray() if sparse.issparse(Xa) else Xa)[:, cont].astype(float)
    np.testing.assert_allclose(out[syn], src[p] + lam[:, None] * (src[q] - src[p]), rtol=0, atol=1e-12)


def test_the_samplers_use_no_private_imbalanced_learn_or_sklearn_helper():
    """Only imbalanced-learn's public extension point (_fit_resample) is implemented: no override or
    call of its private helpers, no scikit-learn private import (why the version pin can be a range)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "augment"
    private = ("_make_samples", "_generate_samples", "_validate_estimator", "_in_danger_noise",
               "_validate_column_types", "_safe_indexing", "_get_column_indices", "csr_mean_variance_axis0")
    for name in ("_oversample.py", "_interpolation.py"):
        text = (root / name).read_text()
        found = [p for p in private if re.search(rf"\b{p}\b", text)]
        assert not found, f"augment/{name} uses {found}"
