"""Tabular over/under-sampling: equality with imbalanced-learn, exact parents, slice targeting,
lineage, leakage guard, imbalanced-learn's estimator checks, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from imblearn.utils.estimator_checks import estimator_checks_generator
from sklearn.datasets import load_breast_cancer, make_classification

import augment
from augment import OVERSAMPLERS
from augment._lineage import LINEAGE_COLUMNS, LineageRow, lineage_frame, lineage_rows
from augment._oversample import fast_lineage_frame
from diagnose import Slice

PEERS = {
    "smote": SMOTE,
    "smotenc": SMOTENC,
    "borderline": BorderlineSMOTE,
    "adasyn": ADASYN,
    "random_over": RandomOverSampler,
    "random_under": RandomUnderSampler,
}


def test_every_registry_entry_has_a_peer():
    assert set(OVERSAMPLERS.names()) == set(PEERS)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=500, n_classes=3, n_informative=4, weights=[0.15, 0.3, 0.55], random_state=0
    )
    cat = np.where(X[:, 0] > 0, "hi", "lo")
    return X, y, cat


def _inputs(name, data):
    X, y, cat = data
    if name == "smotenc":
        frame = pd.DataFrame(X[:, :5], columns=[f"f{i}" for i in range(5)])
        frame["c"] = cat
        return frame, y, {"categorical_features": ["c"]}
    return X, y, {}


@pytest.mark.parametrize("name", OVERSAMPLERS.names())
def test_same_rows_as_imbalanced_learn_and_exact_parents(name, data):
    X, y, extra = _inputs(name, data)
    ours = OVERSAMPLERS.get(name)(random_state=7, **extra)
    peer = PEERS[name](random_state=7, **extra)
    Xa, ya = ours.fit_resample(X, y)
    Xb, yb = peer.fit_resample(X, y)
    pd.testing.assert_frame_equal(Xa, Xb) if isinstance(Xa, pd.DataFrame) else np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    P, lam, syn = ours.parents_, ours.steps_, ours.synthetic_
    assert P.shape == (len(ya), 2) and lam.shape == syn.shape == (len(ya),)
    prov = ours.provenance_
    assert list(prov.columns) == list(LINEAGE_COLUMNS) and len(prov) == len(ya)
    Xn = X[["f0", "f1", "f2", "f3", "f4"]].to_numpy() if isinstance(X, pd.DataFrame) else X
    Xo = Xa[["f0", "f1", "f2", "f3", "f4"]].to_numpy() if isinstance(Xa, pd.DataFrame) else Xa
    if OVERSAMPLERS.meta(name)["interpolates"]:
        assert syn.sum() > 0
        a, b, s = P[syn, 0], P[syn, 1], lam[syn][:, None]
        np.testing.assert_array_equal(Xo[syn], Xn[a] + s * (Xn[b] - Xn[a]))  # bit for bit
        assert (y[a] == y[b]).all() and (ya[syn] == y[a]).all()
        params = [json.loads(t) for t in prov["params"][syn]]
        assert [p["lambda"] for p in params] == lam[syn].tolist()
        assert [json.loads(t) for t in prov["parent_ids"][syn]] == [[str(i), str(j)] for i, j in zip(a, b)]
    else:
        np.testing.assert_array_equal(Xo, Xn[P[:, 0]])
        np.testing.assert_array_equal(ya, y[P[:, 0]])
        assert hasattr(ours, "sample_indices_")
    origins = set(prov["origin"])
    assert origins <= {"old", "synthetic"}
    assert (prov["operation"][~syn] == "original").all() and (prov["operation"][syn] == name).all()
    if syn.any():
        assert prov["row_id"][syn].str.match(r"aug:\d:\d+$").all()
        assert (prov["seed"][syn] == 7).all() and prov["seed"][~syn].isna().all()


def test_slice_targeting_interpolates_only_between_slice_members():
    bc = load_breast_cancer(as_frame=True)
    X, y = bc.data, bc.target.to_numpy()
    s = Slice(
        id="rules-0badc0de", method="rules", description="mean radius > 15 and mean texture <= 21",
        indices=np.array([0]), n_analysed=1, error_rate=0.4, baseline_error_rate=0.1,
        definition={"kind": "rule", "conditions": [
            {"feature": "mean radius", "op": ">", "value": 15.0},
            {"feature": "mean texture", "op": "<=", "value": 21.0},
        ]},
    )
    member = s.contains(features=X)
    X2, y2, prov = augment.oversample(X, y, select=s, n=30, k_neighbors=3, random_state=0)
    syn = (prov["origin"] == "synthetic").to_numpy()
    present = np.unique(y[member])
    assert len(present) == 2 and syn.sum() == 30 * len(present)
    parents = np.array([[int(p) for p in json.loads(t)] for t in prov["parent_ids"][syn]])
    assert member[parents].all(), "parents must both lie in the slice"
    assert (y[parents[:, 0]] == y[parents[:, 1]]).all() and (y2[syn] == y[parents[:, 0]]).all()
    lam = np.array([json.loads(t)["lambda"] for t in prov["params"][syn]])[:, None]
    Xv = X.to_numpy()
    np.testing.assert_array_equal(X2.to_numpy()[syn], Xv[parents[:, 0]] + lam * (Xv[parents[:, 1]] - Xv[parents[:, 0]]))
    assert set(prov["slice_ids"][syn]) == {json.dumps([s.id])}
    assert prov["row_id"][syn].iloc[0] == f"aug:{s.id}:0"
    np.testing.assert_array_equal(X2.iloc[: len(X)].to_numpy(), Xv)  # input rows first, unchanged
    # the same seed gives the same rows, another seed other rows
    again = augment.oversample(X, y, select=s, n=30, k_neighbors=3, random_state=0)
    pd.testing.assert_frame_equal(again[0], X2)
    pd.testing.assert_frame_equal(again[2], prov)
    other = augment.oversample(X, y, select=s, n=30, k_neighbors=3, random_state=1)
    assert not other[0].equals(X2)
    # per-class quota inside the slice, and the indices form
    _, y3, prov3 = augment.oversample(X, y, select=np.flatnonzero(member), n={int(present[0]): 4}, k_neighbors=3)
    assert (prov3["origin"] == "synthetic").sum() == 4 and prov3["row_id"].iloc[-1] == "aug:selected:3"


@pytest.mark.parametrize("method", ["smote", "borderline", "adasyn", "random_over"])
def test_targeted_methods_take_slice_and_class_as_the_minority(method, data):
    X, y, _ = data
    mask = (X[:, 1] > 0) & (y != 2)
    X2, y2, prov = augment.oversample(X, y, method=method, select=mask, n=60, k_neighbors=3, random_state=0)
    syn = (prov["origin"] == "synthetic").to_numpy()
    assert syn.sum() > 0
    parents = [[int(p) for p in json.loads(t)] for t in prov["parent_ids"][syn]]
    flat = np.array([p for ps in parents for p in ps])
    assert mask[flat].all()
    assert set(np.unique(y2[syn])) <= set(np.unique(y[mask]))


def test_random_under_with_a_target_keeps_n_rows_of_each_class(data):
    X, y, _ = data
    mask = X[:, 2] > 0.5
    X2, y2, prov = augment.oversample(X, y, method="random_under", select=mask, n=5, random_state=0)
    kept = np.array([int(r.split(":")[1]) for r in prov["row_id"]])
    assert (~mask[kept]).sum() == (~mask).sum()  # rows outside the target are all kept
    for c in np.unique(y[mask]):
        assert (mask[kept] & (y[kept] == c)).sum() == 5
    np.testing.assert_array_equal(X2, X[kept])
    with pytest.raises(ValueError, match="random_under with select= needs n="):
        augment.oversample(X, y, method="random_under", select=mask)


def test_class_quotas_without_a_target(data):
    X, y, _ = data
    _, y2, prov = augment.oversample(X, y, n={0: 10, 1: 3}, random_state=0)
    syn = (prov["origin"] == "synthetic").to_numpy()
    assert (y2[syn] == 0).sum() == 10 and (y2[syn] == 1).sum() == 3
    _, y3, _ = augment.oversample(X, y, select={"classes": [0]}, n=6, random_state=0)
    assert len(y3) == len(y) + 6 and (y3[len(y):] == 0).all()


def test_too_small_slice_names_the_fix(data):
    X, y, _ = data
    s = Slice(
        id="cluster-3", method="clusters", description="a thin cluster", indices=np.flatnonzero(y == 0)[:5],
        n_analysed=len(y), error_rate=0.6, baseline_error_rate=0.1,
    )
    msg = r"^Slice 'cluster-3' has 5 rows but SMOTE\(k_neighbors=6\) needs at least 7\. Lower k_neighbors or use method='random_over'\.$"
    with pytest.raises(ValueError, match=msg):
        augment.oversample(X, y, select=s, k_neighbors=6)
    X2, y2, prov = augment.oversample(X, y, method="random_over", select=s, n=4)
    assert (prov["origin"] == "synthetic").sum() == 4
    with pytest.raises(ValueError, match=r"^Class 0 has 5 rows but ADASYN\(n_neighbors=6\) needs at least 7"):
        augment.oversample(X[np.r_[np.flatnonzero(y == 0)[:5], np.flatnonzero(y != 0)]],
                           y[np.r_[np.flatnonzero(y == 0)[:5], np.flatnonzero(y != 0)]], method="adasyn", k_neighbors=6)


def test_leakage_guard_drops_synthetic_duplicates_of_evaluation_rows(data):
    X, y, _ = data
    X2, y2, prov = augment.oversample(X, y, random_state=0)
    syn = np.flatnonzero((prov["origin"] == "synthetic").to_numpy())
    holdout = pd.DataFrame(X2[syn[[0, 5, 9]]])
    X3, y3, prov3 = augment.oversample(X, y, random_state=0, eval_sets={"holdout": (holdout, np.zeros(3))})
    refused = pd.DataFrame(prov3.attrs["refused"])
    assert sorted(refused["row_id"]) == sorted(prov["row_id"].iloc[syn[[0, 5, 9]]])
    assert len(X3) == len(X2) - 3 and len(prov3) == len(X3) and not set(refused["row_id"]) & set(prov3["row_id"])
    assert set(refused["match"]) == {"exact"}
    near = pd.DataFrame(X2[syn[[1]]] + 1e-4)
    _, _, prov4 = augment.oversample(X, y, random_state=0, eval_sets={"near": near})
    assert [r["match"] for r in prov4.attrs["refused"]] == ["near"]
    assert prov4.attrs["refused"][0]["row_id"] == prov["row_id"].iloc[syn[1]]
    with pytest.raises(augment.LeakageError, match="1 generated rows duplicate evaluation rows"):
        augment.oversample(X, y, random_state=0, eval_sets={"near": near}, on_leak="raise")


def test_fast_lineage_frame_matches_lineage_frame():
    rows = [
        LineageRow(row_id="old:0", origin="old", source="old", reason="original row"),
        LineageRow(
            row_id="aug:3:0", origin="synthetic", source="old", parent_ids=("4", "9"), operation="smote",
            params={"lambda": 0.25, "k_neighbors": 5}, slice_ids=("rules-1",), seed=3, reason="smote to fill class 3",
        ),
    ]
    fast = fast_lineage_frame(
        row_ids=["old:0", "aug:3:0"], origin=["old", "synthetic"], source="old", parent_ids=["[]", '["4", "9"]'],
        operation=["original", "smote"], params=["{}", json.dumps({"k_neighbors": 5, "lambda": 0.25})],
        slice_ids=["[]", '["rules-1"]'], seed=np.array([-1, 3]), reason=["original row", "smote to fill class 3"],
    )
    pd.testing.assert_frame_equal(fast, lineage_frame(rows))
    assert lineage_rows(fast) == rows


def test_provenance_round_trips_through_parquet(data, tmp_path):
    X, y, _ = data
    _, _, prov = augment.oversample(X, y, method="borderline", random_state=0)
    prov.attrs.clear()
    prov.to_parquet(tmp_path / "m.parquet")
    back = pd.read_parquet(tmp_path / "m.parquet")
    assert lineage_rows(back) == lineage_rows(prov)


def test_bad_inputs(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"Unknown oversampling method 'smtoe'\. Did you mean 'smote'\?"):
        augment.oversample(X, y, method="smtoe")
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    frame["colour"] = np.where(y == 0, "red", "blue")
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \(first: 'colour'\).*method='smotenc' with categorical"):
        augment.oversample(frame, y)
    X2, _, _ = augment.oversample(frame, y, method="smotenc", categorical=["colour"], random_state=0)
    assert set(X2["colour"]) == {"red", "blue"}
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X has 1 NaN or inf value\(s\).*Impute them first"):
        augment.oversample(Xn, y)
    with pytest.raises(ValueError, match=r"The 'categorical' parameter of oversample names SMOTE-NC"):
        augment.oversample(X, y, categorical=[0])
    with pytest.raises(ValueError, match=r"without select= pass n as \{class: count\}"):
        augment.oversample(X, y, n=10)
    with pytest.raises(ValueError, match=r"The 'n' parameter of oversample must be a non-negative int"):
        augment.oversample(X, y, select=y == 0, n=-1)
    with pytest.raises(ValueError, match=r"X and y differ in length \(500 vs 499\)"):
        augment.oversample(X, y[:-1])


def _expected_failures(est):
    if isinstance(est, augment.LineageSMOTENC):
        return {"check_samplers_string": "SMOTE-NC needs numerical columns besides the categorical ones (as upstream)"}
    return {}


_ESTIMATORS = [
    augment.LineageSMOTE(random_state=0),
    augment.LineageSMOTENC(categorical_features=[0], random_state=0),
    augment.LineageBorderlineSMOTE(random_state=0),
    augment.LineageADASYN(random_state=0),
    augment.LineageRandomOverSampler(random_state=0),
    augment.LineageRandomUnderSampler(random_state=0),
]
_CHECKS = [
    item
    for est in _ESTIMATORS
    for item in estimator_checks_generator(est, mark="xfail", expected_failed_checks=_expected_failures(est))
]


def _check_id(value):
    if hasattr(value, "fit_resample"):
        return type(value).__name__
    func = getattr(value, "func", value)
    return getattr(func, "__name__", str(value))


def test_every_sampler_class_is_checked():
    assert {type(e).__name__ for e in _ESTIMATORS} == {OVERSAMPLERS.get(n).__name__ for n in OVERSAMPLERS.names()}


@pytest.mark.parametrize("estimator, check", _CHECKS, ids=_check_id)
def test_imbalanced_learn_estimator_checks(estimator, check):
    check(estimator)


def test_vectorised_params_text_is_exactly_json_dumps():
    from augment._oversample import _params_texts

    steps = np.concatenate([np.random.default_rng(0).random(5000), [0.0, 1e-6, 2.5e-5, 0.5, 0.1]])
    for extra in ({}, {"k_neighbors": 5}, {"kind": "borderline-1", "k_neighbors": 5}, {"n_neighbors": 5}):
        fast = _params_texts(extra, steps).to_pylist()
        assert fast == [json.dumps({**extra, "lambda": s}, sort_keys=True) for s in steps.tolist()]


# -- select= (formerly target=) -----------------------------------------------------------------
def test_select_equals_the_deprecated_target(data):
    X, y, _ = data
    mask = (y == 0) & (X[:, 0] > np.median(X[:, 0]))
    X1, y1, p1 = augment.oversample(X, y, select=mask, n=20, k_neighbors=3, random_state=4)
    with pytest.warns(FutureWarning, match="'target' parameter of oversample is renamed 'select'"):
        X2, y2, p2 = augment.oversample(X, y, target=mask, n=20, k_neighbors=3, random_state=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    pd.testing.assert_frame_equal(p1, p2)


def test_target_and_select_together_are_refused(data):
    X, y, _ = data
    from curakit.exceptions import ParameterError

    with pytest.raises(ParameterError, match="both 'target' and its new name 'select'"):
        augment.oversample(X, y, select=y == 0, target=y == 0, n=5)


def test_sampler_classes_take_select_and_the_deprecated_target(data):
    X, y, _ = data
    from curakit.exceptions import ParameterError

    mask = y == 0
    a = augment.LineageSMOTE(select=mask, n=10, random_state=0)
    b = augment.LineageSMOTE(target=mask, n=10, random_state=0)
    Xa, ya = a.fit_resample(X, y)
    with pytest.warns(FutureWarning, match="'target' parameter of LineageSMOTE is renamed 'select'"):
        Xb, yb = b.fit_resample(X, y)
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    with pytest.raises(ParameterError, match="both 'target' and its new name 'select'"):
        augment.LineageSMOTE(select=mask, target=mask, n=10).fit_resample(X, y)
