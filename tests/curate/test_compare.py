import numpy as np
import pytest
from _retrain_fixtures import images, tabular, trained_cnn
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import ParameterError, StrategyError
from curate._strategies import supported_strategies


@pytest.fixture(scope="module")
def tab(digits):
    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    return ts, evals, model, columns


@pytest.fixture(scope="module")
def table(tab):
    ts, evals, model, _ = tab
    return curate.compare_strategies(model, ts, eval_sets=evals)


def test_default_runs_every_supported_strategy(tab, table):
    _, _, model, _ = tab
    assert list(table.frame["strategy"]) == [*supported_strategies(model), "naive"]
    assert set(table.results) == {*supported_strategies(model), "naive"}
    f = table.frame.set_index("strategy")
    assert {"old", "new", "forgetting", "gain_new", "train_time", "n_train"} <= set(table.frame.columns)
    assert f.loc["do_nothing", "forgetting"] == 0.0 and f.loc["do_nothing", "gain_new"] == 0.0
    for name, r in table.results.items():
        assert f.loc[name, "new"] == r.metrics["new"]["accuracy"]
        assert f.loc[name, "forgetting"] == pytest.approx(
            table.results["do_nothing"].metrics["old"]["accuracy"] - r.metrics["old"]["accuracy"])
    # new rows help on the new holdout
    assert f.loc["scratch_all", "new"] > f.loc["do_nothing", "new"]


def test_same_as_single_retrain(tab, table):
    ts, evals, model, _ = tab
    r = curate.retrain(model, ts, strategy="continue_new", eval_sets=evals, random_state=0)
    assert r.candidate_hash == table.results["continue_new"].candidate_hash


def test_best(table):
    f = table.frame.set_index("strategy")
    assert table.best("new") == f["new"].idxmax()
    tight = table.best("new", max_forgetting=0.0)
    assert f.loc[tight, "forgetting"] <= 0.0
    with pytest.raises(ParameterError, match=r"The 'by' parameter of ComparisonTable.best must be one of"):
        table.best("newest")


def test_html_report(table, tmp_path):
    html = table.to_html(tmp_path / "cmp.html")
    assert (tmp_path / "cmp.html").read_text() == html
    assert "data:image/png;base64," in html and "continue_new" in html
    assert "<table" in table._repr_html_()
    assert table.to_dict()["rows"][0]["strategy"] == "do_nothing"


def test_chosen_strategies_always_include_do_nothing_and_slices(digits):
    ts, evals, d = images(digits)
    model = trained_cnn(digits, epochs=1)
    mask = {"threes": {"new": evals["new"][1] == 3, "old": evals["old"][1] == 3}}
    t = curate.compare_strategies(model, ts, strategies=["finetune_head", "continue_new"], eval_sets=evals,
                                  slices=mask, epochs=1, lr=1e-2, params={"continue_new": {"replay": 0.2}})
    assert list(t.frame["strategy"]) == ["do_nothing", "finetune_head", "continue_new", "naive"]
    assert "slice:threes:new" in t.frame.columns
    assert t.results["continue_new"].params["strategy_params"] == {"epochs": 1, "lr": 0.01, "replay": 0.2}
    assert np.isfinite(t.frame["train_time"]).all()


def test_bad_choices(tab):
    ts, evals, model, _ = tab
    plain = LogisticRegression(max_iter=100).fit(evals["old"][ts.features], evals["old"]["digit"])
    with pytest.raises(StrategyError, match=r"Strategies that fit: do_nothing, scratch_new"):
        curate.compare_strategies(plain, ts, strategies=["continue_all"], eval_sets=evals)
    with pytest.raises(ParameterError, match=r"No compared strategy takes the parameter 'epoch'\. Did you mean 'epochs'\?"):
        curate.compare_strategies(model, ts, strategies=["scratch_all"], eval_sets=evals, epoch=3)
    with pytest.raises(ParameterError, match=r"params names strategy 'continue_all', which is not compared"):
        curate.compare_strategies(model, ts, strategies=["scratch_all"], eval_sets=evals,
                                  params={"continue_all": {"epochs": 1}})


def test_a_strategy_that_cannot_run_on_this_data_is_recorded_or_raised(tab):
    ts, evals, model, _ = tab
    # the new rows hold only digits 0-4: a warm_start fit on them cannot keep 10 classes
    keep = ~((ts.origins == "new") & (ts.y >= 5))
    few = ts.subset(keep)
    with pytest.raises(StrategyError, match=r"The training rows hold 5 of the 10 classes the LogisticRegression knows"):
        curate.compare_strategies(model, few, strategies=["continue_new"], eval_sets=evals)
    t = curate.compare_strategies(model, few, strategies=["continue_new", "continue_all"], eval_sets=evals,
                                  errors="record")
    f = t.frame.set_index("strategy")
    assert np.isnan(f.loc["continue_new", "new"]) and "warm_start fit re-learns" in f.loc["continue_new", "error"]
    assert set(t.results) == {"do_nothing", "continue_all", "naive"} and t.best("new") == "continue_all"
    assert "data:image/png" in t.to_html()
    # replay of old rows of every class makes it possible
    r = curate.retrain(model, few, strategy="continue_new", eval_sets=evals, replay=1.0)
    assert r.metrics["new"]["n"] == len(evals["new"])


def test_naive_row_trains_on_plain_old_and_new(tab, table):
    ts, _, _, _ = tab
    f = table.frame.set_index("strategy")
    naive = table.results["naive"]
    plain = ((ts.manifest["operation"].astype(str) == "original")
             & ts.manifest["origin"].astype(str).isin(["old", "new"])).sum()
    assert naive.strategy in ("continue_all", "scratch_all")
    assert naive.info["n_train"] <= plain
    # the naive row against itself: exactly zero difference, zero-width interval
    assert f.loc["naive", "vs_naive:new"] == 0.0 and f.loc["naive", "vs_naive:new:low"] == 0.0
    for name in f.index:
        assert f.loc[name, "vs_naive:new:low"] <= f.loc[name, "vs_naive:new"] <= f.loc[name, "vs_naive:new:high"]
        assert f.loc[name, "vs_naive:new"] == pytest.approx(f.loc[name, "new"] - f.loc["naive", "new"])


def test_naive_skips_fills(digits):
    from curate._naive import naive_training_set

    ts, _, _, _, _ = tabular(digits)
    man = ts.manifest.copy()
    man["operation"] = man["operation"].astype(str)
    man.loc[man.index[:5], "operation"] = "smote"
    man["weight"] = 2.0
    sub = naive_training_set(curate.TrainingSet(kind=ts.kind, target=ts.target, frame=ts.frame, manifest=man,
                                                features=ts.features, time=ts.time, info=ts.info))
    assert len(sub) == len(ts) - 5 and (sub.weights == 1.0).all()


def test_progress_bar_is_a_deprecated_alias(tab):
    ts, evals, model, _ = tab
    with pytest.warns(FutureWarning, match="progress"):
        t = curate.compare_strategies(model, ts, strategies=["do_nothing"], eval_sets=evals, progress_bar=False)
    assert list(t.frame["strategy"]) == ["do_nothing", "naive"]
    with pytest.raises(ParameterError, match="progress"):
        curate.compare_strategies(model, ts, strategies=["do_nothing"], eval_sets=evals, progress_bar=False,
                                  progress=True)


def test_negative_flip_rate_next_to_each_score(table):
    f = table.frame.set_index("strategy")
    assert f.loc["do_nothing", "negative_flips:new"] == 0.0 and f.loc["do_nothing", "negative_flips:old"] == 0.0
    for name, r in table.results.items():
        p, b = r.predictions["old"], r.baseline_predictions["old"]
        flips = ((b.y_pred == b.y_true) & (p.y_pred != p.y_true)).mean()
        assert f.loc[name, "negative_flips:old"] == pytest.approx(flips)
        # accuracy change = positive flips - negative flips, so the drop never exceeds the flip rate
        assert f.loc[name, "forgetting"] <= f.loc[name, "negative_flips:old"] + 1e-12
