"""The 'rules' diagnoser: a planted weak region on real breast-cancer features is found as a
readable rule, re-applies with Slice.contains, is deterministic and validates its inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from diagnose import DIAGNOSERS, DataError, ParameterError, Slice, UnknownNameError
from diagnose._diagnosers import AnalysisInput
from diagnose._rules import rule_slices
from diagnose._stats import bh_adjust, wilson_bounds

SEARCHES = ["lattice", "tree", "both"]


@pytest.fixture(scope="module")
def case():
    """Breast-cancer features; errors are planted in 'mean radius > 15 and mean texture <= 18'
    (about 7% of rows, 80% error) over a 4% background error rate."""
    X = load_breast_cancer(as_frame=True).data
    rng = np.random.default_rng(0)
    planted = ((X["mean radius"] > 15.0) & (X["mean texture"] <= 18.0)).to_numpy()
    errors = np.where(planted, rng.random(len(X)) < 0.8, rng.random(len(X)) < 0.04)
    X = X.copy()
    X["site"] = np.where(rng.random(len(X)) < 0.5, "north", "south")  # a categorical column
    y_true = np.zeros(len(X), dtype=int)
    return X, planted, AnalysisInput(y_true=y_true, y_pred=errors.astype(int), errors=errors, features=X)


def _jaccard(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("search", SEARCHES)
def test_planted_region_is_found_first(case, search):
    X, planted, inp = case
    slices = rule_slices(inp, search=search, min_support=10)
    assert slices and all(isinstance(s, Slice) for s in slices)
    top = slices[0]
    assert _jaccard(top.mask(), planted) >= 0.6
    assert top.method == "rules" and top.definition["kind"] == "rule"
    feats = {c["feature"] for c in top.definition["conditions"]}
    assert feats & {"mean radius", "mean texture", "mean perimeter", "mean area", "worst radius"}
    # the description reads like the definition
    for cond in top.definition["conditions"]:
        assert cond["feature"] in top.description
    assert " and " in top.description or len(top.definition["conditions"]) == 1
    # re-applying the rule on the same rows gives back its members
    np.testing.assert_array_equal(top.contains(features=X), top.mask())
    # statistics
    assert top.error_rate > 3 * top.baseline_error_rate
    lo, hi = top.error_ci
    assert lo <= top.error_rate <= hi
    assert 0.0 <= top.p_value <= top.q_value <= 1.0 and top.q_value < 1e-6
    assert top.evidence["support"] == top.size and top.evidence["errors"] == round(top.error_rate * top.size)
    severities = [s.severity for s in slices]
    assert severities == sorted(severities, reverse=True)
    assert all(s.size >= 10 for s in slices)


def test_ranked_slices_are_not_restatements(case):
    _, _, inp = case
    slices = rule_slices(inp, min_support=10, redundancy=0.8)
    masks = [s.mask() for s in slices]
    for i in range(len(masks)):
        for j in range(i):
            assert _jaccard(masks[i], masks[j]) < 0.8


def test_categorical_rule_and_contains_on_new_rows():
    rng = np.random.default_rng(1)
    n = 600
    X = pd.DataFrame({"age": rng.integers(18, 90, n), "colour": rng.choice(["red", "green", "blue"], n)})
    errors = ((X["colour"] == "blue") & (X["age"] > 64)).to_numpy() & (rng.random(n) < 0.9)
    errors |= rng.random(n) < 0.03
    inp = AnalysisInput(y_true=np.zeros(n), y_pred=errors.astype(int), errors=errors, features=X)
    top = rule_slices(inp, min_support=15)[0]
    assert "colour == 'blue'" in top.description and "age >" in top.description
    new = pd.DataFrame({"age": [70, 70, 30], "colour": ["blue", "red", "blue"]})
    assert top.contains(features=new).tolist() == [True, False, False]


def test_train_share_measures_representation(case):
    X, _, inp = case
    train = X.iloc[::3]
    inp2 = AnalysisInput(y_true=inp.y_true, y_pred=inp.y_pred, errors=inp.errors, features=X, train_features=train)
    for s in rule_slices(inp2, min_support=10)[:3]:
        assert s.train_share == pytest.approx(s.contains(features=train).mean())
        assert s.representation == pytest.approx(s.train_share / s.share)


def test_deterministic_and_json_round_trip(case):
    _, _, inp = case
    a = rule_slices(inp, search="both", min_support=10)
    b = rule_slices(inp, search="both", min_support=10)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    for s in a:
        assert Slice.from_json(s.to_json()) == s


def test_no_errors_gives_no_slices(case):
    X, _, inp = case
    zero = np.zeros(len(X), dtype=bool)
    assert rule_slices(AnalysisInput(y_true=inp.y_true, y_pred=inp.y_true, errors=zero, features=X)) == []


def test_registered_with_its_requirements():
    assert "rules" in DIAGNOSERS
    assert DIAGNOSERS.meta("rules")["requires"] == ("features",)
    assert DIAGNOSERS.get("rules") is rule_slices


def test_statistics_helpers():
    # Benjamini-Hochberg on a textbook example (q = min over later ranks of p * m / rank)
    p = np.array([0.01, 0.04, 0.03, 0.20])
    np.testing.assert_allclose(bh_adjust(p), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])
    lo, hi = wilson_bounds(np.array([0, 5, 10]), np.array([10, 10, 10]))
    assert lo[0] == 0.0 and 0.0 < hi[0] < 0.35
    assert lo[1] == pytest.approx(1 - hi[1]) and hi[2] == pytest.approx(1.0)


def _inp(features, errors):
    n = len(errors)
    return AnalysisInput(
        y_true=np.zeros(n), y_pred=np.asarray(errors, int), errors=np.asarray(errors, bool), features=features
    )


def test_bad_inputs(case):
    X, _, inp = case
    errors = inp.errors
    bad = X.copy()
    bad.iloc[3, 0] = np.nan
    with pytest.raises(
        DataError, match=r"features column 'mean radius' contains 1 NaN or inf value\(s\). Remove or impute"
    ):
        rule_slices(_inp(bad, errors))
    bad.iloc[3, 0] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        rule_slices(_inp(bad, errors))
    with pytest.raises(DataError, match=r"Inputs differ in length \(features=568, y_true=569\)"):
        rule_slices(_inp(X.iloc[1:], errors))
    with pytest.raises(DataError, match=r"features is empty \(shape \(0, 31\)\)"):
        rule_slices(_inp(X.iloc[:0], errors[:0]))
    with pytest.raises(DataError, match="Rule slices need at least 2 analysed rows. Got 1."):
        rule_slices(_inp(X.iloc[:1], errors[:1]))
    with pytest.raises(DataError, match="features must be a pandas DataFrame"):
        rule_slices(_inp(X.to_numpy(), errors))
    with pytest.raises(
        ParameterError, match=r"The 'min_support' parameter of the 'rules' diagnoser must be an int >= 1"
    ):
        rule_slices(inp, min_support=0)
    with pytest.raises(
        ParameterError,
        match=r"The 'alpha' parameter of the 'rules' diagnoser must be a float in the range \(0.0, 1.0\]. Got 2",
    ):
        rule_slices(inp, alpha=2)
    with pytest.raises(ParameterError, match="Did you mean 'lattice'"):
        rule_slices(inp, search="latice")
    missing = X.drop(columns=["site"])
    with pytest.raises(DataError, match=r"train_features lack 1 column\(s\) of features \(site\)"):
        rule_slices(
            AnalysisInput(y_true=inp.y_true, y_pred=inp.y_pred, errors=errors, features=X, train_features=missing)
        )
    assert issubclass(UnknownNameError, ValueError)
