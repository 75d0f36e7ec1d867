"""diagnose.explain: tree and permutation SHAP on real data, the sensitive-feature flag, per-slice
drivers, multi-class handling, round trips, reports and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import diagnose
from diagnose import DataError, ParameterError, Slice
from diagnose._shap import ShapReport


@pytest.fixture(scope="module")
def cancer():
    """Breast-cancer features plus 'sex' (a leaky copy of the label, 90% agreement) and 'race'
    (independent noise): a forest leans on 'sex' and ignores 'race'."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    X = X.iloc[:, :8].copy()
    X["sex"] = np.where(rng.random(len(y)) < 0.9, y, 1 - y)
    X["race"] = rng.integers(0, 4, len(y))
    model = RandomForestClassifier(20, max_depth=6, random_state=0).fit(X, y)
    return X, y.to_numpy(), model


@pytest.fixture(scope="module")
def cancer_report(cancer):
    X, y, model = cancer
    errors = model.predict(X) != y
    rule = Slice(
        id="rules-test",
        method="rules",
        description="mean radius > 15",
        indices=np.flatnonzero(X["mean radius"].to_numpy() > 15),
        n_analysed=len(X),
        error_rate=0.0,
        baseline_error_rate=0.0,
        definition={"kind": "rule", "conditions": [{"feature": "mean radius", "op": ">", "value": 15.0}]},
    )
    return diagnose.explain(
        model, X, sensitive=["sex", "race"], slices=[rule, X["race"].to_numpy() == 0], errors=errors
    )


def test_tree_explainer_importance_and_sensitive_flag(cancer, cancer_report):
    X, _, model = cancer
    rep = cancer_report
    assert rep.explainer == "tree" and len(rep.rows) == len(X)
    frame = rep.to_frame()
    assert list(frame.columns) == ["feature", "rank", "mean_abs_shap", "share", "sensitive", "flagged"]
    assert frame["share"].sum() == pytest.approx(1.0)
    assert frame["mean_abs_shap"].is_monotonic_decreasing
    sens = rep.sensitive_frame().set_index("feature")
    assert sens.loc["sex", "flagged"] and sens.loc["sex", "rank"] <= 3 and sens.loc["sex", "share"] > 0.1
    assert not sens.loc["race", "flagged"] and sens.loc["race", "share"] < 0.05
    assert "share" in sens.loc["race", "reason"]
    assert rep.flagged == ["sex"]
    # additivity: base value + attributions = probability of the explained (predicted) class
    proba = model.predict_proba(X)
    cls = proba.argmax(1)
    np.testing.assert_allclose(rep.base_values + rep.values.sum(1), proba[np.arange(len(X)), cls], atol=1e-6)
    assert rep.explained_class == model.classes_[cls].tolist()


def test_slices_report_their_error_drivers(cancer, cancer_report):
    X, _, _ = cancer
    rep = cancer_report
    by_name = {s["name"]: s for s in rep.slices}
    rule = by_name["rules-test"]
    assert rule["n_rows"] == int((X["mean radius"] > 15).sum())
    assert rule["share"] and sum(rule["share"].values()) == pytest.approx(1.0)
    assert rule["n_errors"] is not None and set(rule["drivers"]) <= set(rep.feature_names)
    mask = by_name["mask-1"]
    assert mask["n_rows"] == int((X["race"] == 0).sum())
    sf = rep.slice_frame()
    assert set(sf["slice"]) == {"rules-test", "mask-1"} and len(sf) == 2 * X.shape[1]


def test_multiclass_true_class_and_permutation_explainer():
    X, y = load_wine(return_X_y=True, as_frame=True)
    X = X / X.max()
    lr = LogisticRegression(max_iter=500).fit(X, y)
    a = diagnose.explain(lr, X, max_rows=12, background=20, random_state=3, y=y, explained_class="true")
    b = diagnose.explain(lr, X, max_rows=12, background=20, random_state=3, y=y, explained_class="true")
    assert a.explainer == "permutation" and len(a.rows) == 12
    assert a == b  # seeded rows, background and permutations
    assert a.explained_class == y.to_numpy()[a.rows].tolist()
    with pytest.warns(FutureWarning, match="'target' parameter of explain is renamed 'explained_class'"):
        old = diagnose.explain(lr, X, max_rows=12, background=20, random_state=3, y=y, target="true")
    assert old == a
    with pytest.raises(ParameterError, match="got both 'target' and its new name 'explained_class'"):
        diagnose.explain(lr, X, y=y, target="true", explained_class="true")
    # permutation SHAP is exactly additive against the background mean
    proba = lr.predict_proba(X.iloc[a.rows])
    cls = np.array(a.explained_class)
    np.testing.assert_allclose(a.base_values + a.values.sum(1), proba[np.arange(12), cls], atol=1e-6)
    # a forest explained for its predicted class, three classes
    rf = RandomForestClassifier(10, random_state=0).fit(X, y)
    r = diagnose.explain(rf, X, max_rows=40)
    assert r.values.shape == (40, 13) and set(r.explained_class) <= {0, 1, 2}


def test_permutation_shap_is_exact_for_a_linear_model():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = LinearRegression().fit(X, y)
    rep = diagnose.explain(reg, X, max_rows=15, background=30, n_permutations=1)
    # for f(x) = w.x + c with an independent background, SHAP_j = w_j * (x_j - mean_background_j)
    assert rep.explainer == "permutation" and rep.values.shape == (15, 10)
    Xe = X.to_numpy()[rep.rows]
    bg_mean = Xe - rep.values / reg.coef_  # recovered background mean, identical for every row
    np.testing.assert_allclose(bg_mean, np.broadcast_to(bg_mean[0], bg_mean.shape), atol=1e-8)
    np.testing.assert_allclose(rep.base_values + rep.values.sum(1), reg.predict(X.iloc[rep.rows]), rtol=1e-9)


def test_round_trip_and_html(cancer_report, tmp_path):
    again = ShapReport.from_json(cancer_report.to_json())
    assert again == cancer_report
    np.testing.assert_allclose(again.values, cancer_report.values)
    light = cancer_report.to_dict(include_values=False)
    assert light["values"] is None and light["importance"] == cancer_report.to_dict()["importance"]
    with pytest.raises(DataError, match="saved without its values"):
        ShapReport.from_dict(light)
    path = tmp_path / "shap.html"
    html = cancer_report.to_html(path)
    assert path.read_text() == html and html.count("data:image/png;base64") >= 3
    assert "Sensitive features" in cancer_report._repr_html_()


def test_bad_inputs(cancer):
    X, y, model = cancer
    with pytest.raises(
        DataError, match=r"Sensitive column\(s\) 'gender' not in X. Available columns: mean radius, mean texture"
    ):
        diagnose.explain(model, X, sensitive="gender")
    bad = X.copy()
    bad.iloc[2, 1] = np.nan
    with pytest.raises(DataError, match=r"X column 'mean texture' contains 1 NaN or inf value\(s\)"):
        diagnose.explain(model, bad)
    with pytest.raises(DataError, match="X has a single row; explain needs at least 2 rows"):
        diagnose.explain(model, X.iloc[:1])
    with pytest.raises(DataError, match=r"X is empty \(shape \(0, 10\)\)"):
        diagnose.explain(model, X.iloc[:0])
    with pytest.raises(DataError, match=r"Inputs differ in length \(errors=5, X=569\)"):
        diagnose.explain(model, X, errors=np.zeros(5, bool))
    with pytest.raises(DataError, match=r"Inputs differ in length \(slices\[0\]=3, X=569\)"):
        diagnose.explain(model, X, slices=[np.zeros(3, bool)])
    with pytest.raises(DataError, match=r"X lacks 1 column\(s\) the model was fitted on \(race\)"):
        diagnose.explain(model, X.drop(columns=["race"]))
    with pytest.raises(ParameterError, match="explained_class='true' explains each row's true class and needs y="):
        diagnose.explain(model, X, explained_class="true")
    with pytest.raises(ParameterError, match="Did you mean 'permutation'"):
        diagnose.explain(model, X, explainer="permutaton")
    with pytest.raises(ParameterError, match="The 'max_rows' parameter of explain must be an int >= 2 or None. Got 1"):
        diagnose.explain(model, X, max_rows=1)
