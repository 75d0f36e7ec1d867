"""diagnose.explain is faithful: additivity checked, model-agnostic fallback, sensitive flags confirmed by effect."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import diagnose
from curakit.exceptions import ParameterError
from diagnose import _shap

pytest.importorskip("shap")


@pytest.fixture(scope="module")
def cancer_with_sex():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8].copy()
    # a categorical column the label does not depend on
    X["sex"] = np.random.default_rng(0).integers(0, 3, len(X))
    return X, y.to_numpy()


def _hgb(X, y):
    return HistGradientBoostingClassifier(categorical_features=["sex"], max_iter=50, random_state=0).fit(X, y)


def test_hgb_native_categorical_falls_back_and_does_not_flag_unused_sex(cancer_with_sex):
    X, y = cancer_with_sex
    model = _hgb(X, y)
    rep = diagnose.explain(model, X, sensitive="sex", max_rows=60, background=30, random_state=0)
    assert rep.explainer == "permutation" and "categorical" in rep.explainer_reason
    out = model.predict_proba(X.iloc[rep.rows])
    cls = model.predict(X.iloc[rep.rows])
    np.testing.assert_allclose(rep.base_values + rep.values.sum(1), out[np.arange(len(rep.rows)), cls], atol=1e-6)
    assert rep.additivity_error < 1e-6
    sens = rep.sensitive_frame().set_index("feature").loc["sex"]
    assert not sens["flagged"] and rep.flagged == []
    assert 0.0 <= sens["effect_share"] <= 1.0 and "of predictions" in sens["reason"]
    again = diagnose.explain(model, X, sensitive="sex", max_rows=60, background=30, random_state=0)
    assert again == rep  # seeded rows, background, permutations and effect
    d = rep.to_dict(include_values=False)
    assert d["explainer"] == "permutation" and d["explainer_reason"] and d["additivity_error"] < 1e-6


def test_sex_flagged_when_the_label_depends_on_it(cancer_with_sex):
    X, y = cancer_with_sex
    y_dep = np.where(X["sex"].to_numpy() == 1, 1 - y, y)  # sex == 1 flips the diagnosis
    model = _hgb(X, y_dep)
    rep = diagnose.explain(model, X, sensitive="sex", max_rows=60, background=30, random_state=0)
    sens = rep.sensitive_frame().set_index("feature").loc["sex"]
    assert sens["flagged"] and rep.flagged == ["sex"]
    assert sens["effect_share"] > 0.2 and sens["rank"] <= 3


def test_non_additive_tree_values_are_caught_by_the_check(cancer_with_sex, monkeypatch):
    # skip the up-front categorical test so TreeExplainer really runs on native categorical splits
    X, y = cancer_with_sex
    model = _hgb(X, np.where(X["sex"].to_numpy() == 1, 1 - y, y))
    monkeypatch.setattr(_shap, "_is_hgb_categorical", lambda m: False)
    rep = diagnose.explain(model, X, max_rows=40, background=20, random_state=0)
    assert rep.explainer == "permutation" and "not additive" in rep.explainer_reason
    assert rep.additivity_error < 1e-6


def test_random_forest_tree_values_are_additive(cancer_with_sex):
    X, y = cancer_with_sex
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    rep = diagnose.explain(rf, X, sensitive="sex")
    assert rep.explainer == "tree" and rep.explainer_reason == "tree model"
    out = rf.predict_proba(X)[np.arange(len(X)), rf.predict(X)]
    assert rep.additivity_error <= 1e-3 * np.std(out)
    assert not rep.sensitive_frame().set_index("feature").loc["sex", "flagged"]


def test_pipeline_uses_the_model_agnostic_explainer(cancer_with_sex):
    X, y = cancer_with_sex
    X = X.assign(sex=pd.Series(X["sex"]).map({0: "f", 1: "m", 2: "x"}))
    pipe = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(), ["sex"])], remainder="passthrough"),
        RandomForestClassifier(n_estimators=10, random_state=0),
    ).fit(X, y)
    rep = diagnose.explain(pipe, X, sensitive="sex", max_rows=20, background=10)
    assert rep.explainer == "permutation" and "not a tree model" in rep.explainer_reason
    assert rep.additivity_error < 1e-6 and "effect_share" in rep.sensitive_frame()


def test_explicit_tree_on_native_categoricals_and_bad_effect_threshold(cancer_with_sex):
    X, y = cancer_with_sex
    model = _hgb(X, y)
    with pytest.raises(ParameterError, match="cannot represent the native categorical splits"):
        diagnose.explain(model, X, explainer="tree")
    with pytest.raises(ParameterError, match="'effect_threshold' parameter of explain"):
        diagnose.explain(model, X, effect_threshold=0)
