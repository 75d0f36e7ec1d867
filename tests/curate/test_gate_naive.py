import numpy as np
import pytest
from _retrain_fixtures import tabular
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import ParameterError
from curate._retrain import EvalPredictions


def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.arange(2))


def test_gate_vs_naive_needs_a_real_gain_over_naive():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    champ = _preds(y, np.where(rng.random(400) < 0.6, y, 1 - y))       # ~60% right
    cand = _preds(y, np.where(rng.random(400) < 0.9, y, 1 - y))        # ~90% right
    sets_c, sets_h = {"new": cand, "old": cand}, {"new": champ, "old": champ}
    assert curate.Gate().evaluate(sets_c, sets_h).passed                # off by default: naive not needed
    gate = curate.Gate(vs="naive")
    with pytest.raises(ParameterError, match=r"naive=table.results\['naive'\]"):
        gate.evaluate(sets_c, sets_h)
    same_as_naive = gate.evaluate(sets_c, sets_h, naive={"new": cand})  # no gain over naive: refused
    assert not same_as_naive.passed and same_as_naive.checks["vs_naive"]["observed"] == 0.0
    assert "gain over naive" in same_as_naive.reasons[-1]
    beats = gate.evaluate(sets_c, sets_h, naive={"new": champ})
    assert beats.passed and beats.checks["vs_naive"]["lower"] > 0
    with pytest.raises(ParameterError, match="'vs' parameter of Gate"):
        curate.Gate(vs="incumbent")
    assert curate.Gate.from_dict(gate.to_dict()) == gate


def test_promote_with_vs_naive_and_no_naive_leaves_the_registry_untouched(digits, tmp_path):
    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    table = curate.compare_strategies(model, ts, strategies=["continue_all"], eval_sets=evals)
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model)
    before = (tmp_path / "reg" / "registry.json").read_bytes()
    with pytest.raises(ParameterError, match="needs the naive baseline"):
        reg.promote_if_better(table.results["continue_all"], gate=curate.Gate(vs="naive"))
    assert (tmp_path / "reg" / "registry.json").read_bytes() == before
    promo = reg.promote_if_better(table.results["continue_all"], gate=curate.Gate(vs="naive", max_drop_old=0.05),
                                  naive=table.results["naive"])
    assert "vs_naive" in promo.decision["checks"]
    # naive is continue_all on the same plain rows here (no fills): no gain over it, so refused
    assert not promo.promoted and promo.decision["checks"]["vs_naive"]["observed"] == 0.0


def test_gate_reports_the_negative_flip_rate():
    y = np.zeros(100, int)
    champ = _preds(y, np.r_[np.zeros(90, int), np.ones(10, int)])     # 90 right
    cand = _preds(y, np.r_[np.ones(5, int), np.zeros(95, int)])       # breaks rows 0-4, fixes 90-99
    dec = curate.Gate().evaluate({"new": cand, "old": cand}, {"new": champ, "old": champ})
    assert dec.checks["new_gain"]["negative_flip_rate"] == 0.05 and dec.checks["old_drop"]["negative_flip_rate"] == 0.05
    assert all("negative flips 5.00%" in r for r in dec.reasons)


def test_gate_vs_naive_on_a_selection_split_judges_only_the_scoring_rows(digits):
    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    table = curate.compare_strategies(model, ts, strategies=["continue_all"], eval_sets=evals, selection_split=0.5)
    cand, naive = table.results["continue_all"], table.results["naive"]
    n_score = len(table.selection["rows"]["new"]["score"])
    dec = curate.Gate(vs="naive", max_slice_drop=None).evaluate(cand.predictions, cand.baseline_predictions,
                                                                naive=naive.predictions)
    assert dec.checks["vs_naive"]["n"] == dec.checks["new_gain"]["n"] == n_score < len(evals["new"])
    # the naive row is trained on the same plain rows with or without a split (the split only touches eval rows)
    assert naive.training_set == curate.compare_strategies(model, ts, strategies=["do_nothing"],
                                                           eval_sets=evals).results["naive"].training_set
