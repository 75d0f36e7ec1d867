"""diagnose.drift and diagnose.should_retrain: real shifts are found, exchangeable sets are not,
reports round-trip, decisions carry their reasons, bad input fails with one line."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.metrics import roc_auc_score

import diagnose
from diagnose import DataError, ParameterError
from diagnose._drift import Decision, DriftReport, delong_auc, psi


@pytest.fixture(scope="module")
def wine():
    X = load_wine(as_frame=True).data
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    ref, cur = X.iloc[idx[:90]].reset_index(drop=True), X.iloc[idx[90:]].reset_index(drop=True)
    return ref, cur


@pytest.fixture(scope="module")
def shifted(wine):
    """Current rows with alcohol shifted by one standard deviation and a categorical site column."""
    ref, cur = wine
    rng = np.random.default_rng(1)
    ref = ref.assign(site=rng.choice(["a", "b", "c"], len(ref), p=[0.6, 0.3, 0.1]))
    cur = cur.assign(
        alcohol=cur["alcohol"] + ref["alcohol"].std(),
        site=rng.choice(["a", "b", "c"], len(cur), p=[0.1, 0.3, 0.6]),
    )
    return ref, cur, diagnose.drift(ref, cur, cv=3)


def test_shift_is_found_per_feature_and_by_the_domain_classifier(shifted):
    _, _, rep = shifted
    frame = rep.to_frame()
    assert set(frame.columns) >= {"feature", "test", "statistic", "p_value", "q_value", "psi", "drifted"}
    drifted = set(rep.drifted_features)
    assert {"alcohol", "site"} <= drifted
    assert len(drifted) <= 4  # the other 12 wine features are exchangeable splits
    row = frame.set_index("feature")
    assert row.loc["site", "test"] == "chi2" and row.loc["alcohol", "test"] == "ks"
    assert row.loc["alcohol", "psi"] > 0.25 and row.loc["alcohol", "psi_level"] == "major"
    assert (frame["q_value"] >= frame["p_value"] - 1e-12).all()
    assert rep.domain["auc"] > 0.75 and rep.domain["drifted"]
    assert rep.domain["ci_low"] < rep.domain["auc"] < rep.domain["ci_high"]
    assert rep.drifted


def test_exchangeable_split_shows_no_drift(wine):
    ref, cur = wine
    rep = diagnose.drift(ref, cur, cv=3)
    assert rep.drifted_features == []
    assert not rep.domain["drifted"] and rep.domain["ci_low"] < 0.5 + rep.domain["margin"]
    assert not rep.drifted


def test_embeddings_as_arrays_and_determinism():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(300, 4))
    cur = rng.normal(size=(250, 4))
    cur[:, 2] *= 2.0
    a = diagnose.drift(ref, cur, cv=3, random_state=5)
    b = diagnose.drift(ref, cur, cv=3, random_state=5)
    assert a.to_dict() == b.to_dict()
    assert [f["feature"] for f in a.features] == ["f0", "f1", "f2", "f3"]
    top = a.to_frame().iloc[0]
    assert top["feature"] == "f2" and top["drifted"] and top["q_value"] < 1e-4
    only = diagnose.drift(ref, cur, features=["f0", "f1"], domain_classifier=False)
    assert only.domain is None and [f["feature"] for f in only.features] == ["f0", "f1"]


def test_report_round_trip_and_html(shifted, tmp_path):
    _, _, rep = shifted
    again = DriftReport.from_json(rep.to_json())
    assert again == rep
    path = tmp_path / "drift.html"
    html = rep.to_html(path)
    assert path.read_text() == html and "data:image/png;base64" in html and "alcohol" in html
    assert "Per-feature tests" in rep._repr_html_()


def test_delong_matches_sklearn_auc_and_psi():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = rng.normal(size=400) + y
    auc, se, lo, hi = delong_auc(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s))
    assert 0 < se < 0.05 and lo < auc < hi
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * np.log(1.8) - 0.4 * np.log(0.2), rel=1e-6)


def test_drift_bad_inputs(wine):
    ref, cur = wine
    bad = cur.copy()
    bad.iloc[0, 1] = np.nan
    with pytest.raises(
        DataError, match=r"current column 'malic_acid' contains 1 NaN or inf value\(s\). Remove or impute"
    ):
        diagnose.drift(ref, bad)
    with pytest.raises(DataError, match=r"current lacks 1 column\(s\) to test \(proline\)"):
        diagnose.drift(ref, cur.drop(columns=["proline"]))
    with pytest.raises(DataError, match=r"reference is empty \(shape \(0, 13\)\)"):
        diagnose.drift(ref.iloc[:0], cur)
    with pytest.raises(DataError, match="current has a single row; drift tests need at least 2 rows"):
        diagnose.drift(ref, cur.iloc[:1])
    with pytest.raises(DataError, match=r"must be a DataFrame or a 2-d array .* Got shape \(5,\)"):
        diagnose.drift(np.zeros(5), cur)
    with pytest.raises(
        ParameterError, match=r"The 'alpha' parameter of drift must be a float in the range \(0.0, 1.0\). Got 1.5"
    ):
        diagnose.drift(ref, cur, alpha=1.5)


NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_should_retrain_combines_triggers(shifted, wine):
    _, _, rep = shifted
    d = diagnose.should_retrain(performance=0.82, baseline=0.90, threshold=0.05)
    assert d.retrain and d.triggers["performance"]["fired"]
    assert d.reasons == ["performance: metric dropped by 0.08 (from 0.9 to 0.82), more than the allowed 0.05"]
    ok = diagnose.should_retrain(performance=0.88, baseline=0.90, threshold=0.05, drift=False)
    assert not ok.retrain and ok.reasons[0].startswith("no trigger fired (performance: metric 0.88 is within 0.05")
    loss = diagnose.should_retrain(
        performance=0.40, baseline=0.30, threshold=0.05, higher_is_better=False, metric="log_loss"
    )
    assert loss.retrain and "log_loss rose by 0.1" in loss.reasons[0]
    floor = diagnose.should_retrain(performance=0.70, min_performance=0.75)
    assert floor.retrain and "below the floor 0.75" in floor.reasons[0]

    drifted = diagnose.should_retrain(drift=rep)
    assert drifted.retrain and drifted.reasons[0].startswith("drift: data drift:")
    assert "alcohol" in drifted.triggers["drift"]["drifted_features"]

    due = diagnose.should_retrain(last_trained="2026-01-01", interval="30D", now=NOW)
    assert due.retrain and due.triggers["interval"]["age_days"] == pytest.approx(59.0)
    fresh = diagnose.should_retrain(last_trained=dt.datetime(2026, 2, 20), interval=dt.timedelta(days=30), now=NOW)
    assert not fresh.retrain

    veto = diagnose.should_retrain(performance=0.5, baseline=0.9, manual=False, now=NOW)
    assert not veto.retrain and veto.reasons[0] == "manual override: retraining is on hold (overrides: performance)"
    forced = diagnose.should_retrain(manual=True, now=NOW)
    assert forced.retrain and forced.reasons == ["manual override: retrain requested"]


def test_decision_json_round_trip():
    d = diagnose.should_retrain(performance=0.8, baseline=0.9, last_trained="2026-01-01", interval=10, now=NOW)
    again = Decision.from_json(d.to_json())
    assert again == d and again.retrain is True and again.decided_at == "2026-03-01T00:00:00+00:00"
    with pytest.raises(dataclasses_frozen_error()):
        d.retrain = False


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_should_retrain_bad_inputs():
    with pytest.raises(ParameterError, match="should_retrain got no trigger to check"):
        diagnose.should_retrain()
    with pytest.raises(ParameterError, match="Pass baseline= .* and/or min_performance="):
        diagnose.should_retrain(performance=0.9)
    with pytest.raises(ParameterError, match="needs both last_trained= and interval="):
        diagnose.should_retrain(last_trained="2026-01-01")
    with pytest.raises(ParameterError, match="The 'interval' parameter of should_retrain must be a positive duration"):
        diagnose.should_retrain(last_trained="2026-01-01", interval="-3D", now=NOW)
    with pytest.raises(ParameterError, match="The 'drift' parameter of should_retrain must be a DriftReport"):
        diagnose.should_retrain(drift="yes")
    with pytest.raises(ParameterError, match="The 'performance' parameter of should_retrain must be a finite number"):
        diagnose.should_retrain(performance=float("nan"), baseline=0.9)


def _planted_drift():
    from _planted import planted_split

    X, _, ref, cur, region, _ = planted_split(0)
    return X.iloc[ref].reset_index(drop=True), X.iloc[cur].reset_index(drop=True), region[cur]


def test_drift_says_where_and_should_retrain_cites_it():
    from diagnose._slice import MEMBERSHIP

    ref, cur, region = _planted_drift()
    rep = diagnose.drift(ref, cur, random_state=0)
    assert rep.drifted and rep.new_regions
    top = rep.new_regions[0]
    mask = MEMBERSHIP.get("rule")({"kind": "rule", "conditions": top["conditions"]}, slice_id="t", features=cur)
    assert (mask & region).sum() / (mask | region).sum() >= 0.5
    assert top["train_share_ci"][1] < top["share_ci"][0]
    assert "under-represented in training" in top["description"]
    assert "new data lives where" in rep.summary()
    again = DriftReport.from_json(rep.to_json())
    assert again.where == json.loads(json.dumps(rep.where))
    dec = diagnose.should_retrain(drift=rep)
    assert dec.retrain and any("Where:" in r for r in dec.reasons)
    assert dec.triggers["drift"]["regions"]
    assert diagnose.drift(ref, cur, random_state=0, where=0).where == []
    with pytest.raises(ParameterError, match="where"):
        diagnose.drift(ref, cur, where=-1)


def test_arrays_of_different_widths_are_refused():
    with pytest.raises(DataError, match="reference has 3 columns but current has 4"):
        diagnose.drift(np.zeros((50, 3)), np.zeros((50, 4)))
