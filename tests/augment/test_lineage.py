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
