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


# -- intervals, figures, the report as data (issue 14) ----------------------------------------
def _legend_clear_of_plots(fig):
    """Every legend's box, as drawn, overlaps no bar and no plotting area of the figure."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for leg in legends:
        box = leg.get_window_extent(r)
        bars = [p.get_window_extent(r) for ax in fig.axes for p in ax.patches if p.get_width() > 0]
        assert bars and not any(box.overlaps(b) for b in bars), "legend drawn over a bar"
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(r)), "legend drawn over a plot"


@pytest.fixture(scope="module")
def sliced(tab):
    ts, evals, model, _ = tab
    few = np.zeros(len(evals["new"]), dtype=bool)
    few[:5] = True
    masks = {"threes": {"new": (evals["new"]["digit"] == 3).to_numpy(), "old": (evals["old"]["digit"] == 3).to_numpy()},
             "first five": {"new": few, "old": np.zeros(len(evals["old"]), dtype=bool)}}
    return curate.compare_strategies(model, ts, strategies=["scratch_all"], eval_sets=evals, slices=masks)


def test_intervals_hold_every_score_with_its_row_count(sliced, tab):
    _, evals, _, _ = tab
    iv = sliced.intervals()
    assert list(iv.columns) == ["strategy", "eval_set", "slice", "slice_name", "n", "score", "low", "high"]
    whole = iv[iv["slice"] == ""].set_index(["strategy", "eval_set"])
    f = sliced.frame.set_index("strategy")
    for (name, s), row in whole.iterrows():
        assert row["n"] == len(evals[s]) and row["score"] == f.loc[name, s]
        assert 0.0 <= row["low"] <= row["score"] <= row["high"] <= 1.0
    five = iv[(iv["slice"] == "first five") & (iv["eval_set"] == "new")]
    assert (five["n"] == 5).all()
    # an interval on 5 rows is far wider than one on the whole holdout
    assert ((five["high"] - five["low"]) > 2 * (whole["high"] - whole["low"]).max()).all()
    empty = iv[(iv["slice"] == "first five") & (iv["eval_set"] == "old")]
    assert (empty["n"] == 0).all() and empty["low"].isna().all()


def test_wilson_matches_the_closed_form():
    from curate._compare_figures import wilson

    lo, hi = wilson(0.8, 100)
    assert lo == pytest.approx(0.7112, abs=1e-4) and hi == pytest.approx(0.8666, abs=1e-4)
    assert wilson(1.0, 5)[1] == 1.0 and wilson(0.0, 5)[0] == 0.0
    assert all(np.isnan(wilson(0.5, 0)))


def test_figures_keep_legends_off_the_bars(sliced, table):
    import matplotlib.pyplot as plt

    for fig in (sliced.figure(), table.figure(), sliced.slice_figure()):
        _legend_clear_of_plots(fig)
        plt.close(fig)
    fig = sliced.slice_figure()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "first five (new, n=5)" in labels and not any("(old, n=0)" in lab for lab in labels)
    assert len(fig.axes[0].patches) == 2 * len(labels)  # before and after per slice
    plt.close(fig)
    assert table.slice_figure() is None  # no slices compared


def test_report_content_as_data(sliced):
    import json

    out = json.loads(sliced.to_json())
    assert out["slice_names"] == {"threes": "threes", "first five": "first five"}
    assert len(out["intervals"]) == len(sliced.intervals()) and out["rows"][0]["strategy"] == "do_nothing"
    assert "threes (new)" in sliced.to_frame().columns and "slice:threes:new" in sliced.frame.columns
    html = sliced.to_html()
    assert "Slices before and after" in html and "slice:threes" not in html.split("<table")[1]


def test_gate_checks_are_a_pass_fail_table(table):
    import re

    from curakit.html import escape
    from curate._gate import Gate

    decision = Gate(max_drop_old=0.02).evaluate(table.results["scratch_all"].predictions,
                                                table.results["do_nothing"].predictions)
    html = table.to_html(decision=decision)
    gate = html.split('id="gate"')[1]
    rows = re.findall(r'<tr><td class="text">([^<]+)</td><td class="text">(pass|fail)</td>', gate)
    assert rows == [(k.replace("_", " "), "pass" if c["passed"] else "fail") for k, c in decision.checks.items()]
    assert ("gate: pass" if decision.passed else "gate: fail") in html.split("</header>")[0]
    assert all(escape(r) in html for r in decision.reasons) and "Regressions found" in gate
    # the registry's dict form reads the same
    assert table.to_html(decision=decision.to_dict()).split('id="gate"')[1].count("<tr>") == gate.count("<tr>")


def test_best_can_leave_the_naive_baseline_out(table):
    f = table.frame.set_index("strategy")
    pick = table.best("new", baselines=False)
    assert pick != "naive" and f.loc[pick, "new"] == f.drop(index="naive")["new"].max()
    assert table.best("new") == f["new"].idxmax()


# -- issue 11: a fair comparison (same rule for naive) and a pick not judged on its own rows ---------
@pytest.fixture(scope="module")
def split_table(tab):
    ts, evals, model, _ = tab
    masks = {"threes": {"new": (evals["new"]["digit"] == 3).to_numpy(), "old": (evals["old"]["digit"] == 3).to_numpy()}}
    return curate.compare_strategies(model, ts, strategies=["continue_new", "continue_all"], eval_sets=evals,
                                     slices=masks, selection_split=0.5, random_state=3)


def test_selection_split_partitions_every_holdout_stratified(split_table, tab):
    _, evals, _, _ = tab
    for name, value in evals.items():
        rows = split_table.selection["rows"][name]
        sel, score = np.asarray(rows["select"]), np.asarray(rows["score"])
        assert not set(sel) & set(score) and sorted([*sel, *score]) == list(range(len(value)))
        y = value["digit"].to_numpy()
        for label in np.unique(y):  # every class on both sides, about half each
            k, n = (y[sel] == label).sum(), (y == label).sum()
            assert k >= 1 and (y[score] == label).sum() >= 1 and abs(k - n / 2) <= 1
        for r in split_table.results.values():  # the results (and so the gate) see only the scoring part
            assert len(r.predictions[name].y_true) == len(score)
            assert np.array_equal(r.predictions[name].y_true, y[score])
            assert np.array_equal(r.predictions[f"select_{name}"].y_true, y[sel])
    scoring = split_table.scoring_sets(evals)
    assert {k: len(v) for k, v in scoring.items()} == {k: len(r["score"]) for k, r in split_table.selection["rows"].items()}
    f = split_table.frame.set_index("strategy")
    threes = (evals["new"]["digit"] == 3).to_numpy()
    r = split_table.results["continue_all"].metrics["slices"]["threes"]
    assert r["new"]["n"] + r["select_new"]["n"] == threes.sum() and "slice:threes:select_new" in f.columns
    assert f.loc["do_nothing", "select_forgetting"] == 0.0
    assert split_table.to_dict()["selection"]["fraction"] == 0.5
    n_sel, n_score = len(split_table.selection["rows"]["new"]["select"]), len(split_table.selection["rows"]["new"]["score"])
    assert f"new: {n_sel} selection / {n_score} scoring rows" in split_table.to_html()


def test_selection_split_is_seeded(tab, split_table):
    ts, evals, model, _ = tab
    again = curate.compare_strategies(model, ts, strategies=["continue_new", "continue_all"], eval_sets=evals,
                                      selection_split=0.5, random_state=3)
    assert again.selection == split_table.selection
    other = curate.compare_strategies(model, ts, strategies=["do_nothing"], eval_sets=evals, selection_split=0.5,
                                      random_state=4)
    assert other.selection["rows"]["new"] != split_table.selection["rows"]["new"]


def test_best_picks_on_the_selection_part_and_judges_on_the_scoring_part(split_table, table):
    f = split_table.frame.set_index("strategy")
    assert split_table.best("new") == split_table.best("new", on="selection") == f["select_new"].idxmax()
    assert split_table.best("new", on="holdout") == f["new"].idxmax()
    rule = split_table.best("new", max_forgetting=0.0)
    assert f.loc[rule, "select_forgetting"] <= 0.0  # the rule is checked on the selection part too
    with pytest.raises(ParameterError, match=r"selection_split=0.5"):
        table.best("new", on="selection")  # no split: one-line error with the fix
    with pytest.raises(ParameterError, match="'on' parameter of ComparisonTable.best"):
        split_table.best("new", on="score")
    with pytest.raises(ParameterError, match="'by' parameter"):
        split_table.best("select_new")
    assert table.best("new") == table.best("new", on="holdout")  # tables without a split: unchanged


def test_bad_selection_split(tab):
    ts, evals, model, _ = tab
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError, match="'selection_split' parameter must be a share between 0 and 1"):
            curate.compare_strategies(model, ts, strategies=["do_nothing"], eval_sets=evals, selection_split=bad)
    with pytest.raises(ParameterError, match="starts with 'select_'"):
        curate.compare_strategies(model, ts, strategies=["do_nothing"], selection_split=0.5,
                                  eval_sets={**evals, "select_x": evals["new"]})


def _rule_table(naive_forgets: float):
    import pandas as pd

    frame = pd.DataFrame({"strategy": ["do_nothing", "continue_new", "continue_all", "naive"],
                          "old": [0.90, 0.80, 0.89, 0.90 - naive_forgets], "new": [0.40, 0.95, 0.80, 0.93],
                          "forgetting": [0.0, 0.10, 0.01, naive_forgets]})
    return curate.ComparisonTable(frame=frame)


def test_naive_is_held_to_the_same_forgetting_rule():
    strict = _rule_table(naive_forgets=0.05)
    picks = strict.fair_picks("new", max_forgetting=0.02)
    # the curated flow keeps the rule (continue_all forgets 0.01); naive forgets 0.05 > 0.02, so a user
    # following the rule could not pick naive either: the naive flow is the incumbent
    assert picks["curated"] == "continue_all" and picks["naive"] == "do_nothing"
    assert picks["naive_keeps_rule"] is False and picks["naive_forgetting"] == pytest.approx(0.05)
    assert strict.best("new", max_forgetting=0.02) == "continue_all"  # best holds naive to the rule too
    assert strict.fair_picks("new", max_forgetting=0.0)["curated"] == "do_nothing"  # nothing curated keeps 0
    lenient = _rule_table(naive_forgets=0.0).fair_picks("new", max_forgetting=0.02)
    assert lenient["naive"] == "naive" and lenient["naive_keeps_rule"] is True
    free = strict.fair_picks("new")
    assert free["curated"] == "continue_new" and free["naive"] == "naive"


def test_fair_picks_on_real_data_agree_with_the_table(split_table):
    f = split_table.frame.set_index("strategy")
    for rule in (None, 0.0, 0.02):
        p = split_table.fair_picks("new", max_forgetting=rule)
        forgot = f.loc["naive", "select_forgetting"]
        assert p["naive_forgetting"] == pytest.approx(forgot)
        assert p["naive_keeps_rule"] == (rule is None or forgot <= rule)
        assert p["naive"] == ("naive" if p["naive_keeps_rule"] else "do_nothing")
        assert p["curated"] != "naive" and (rule is None or f.loc[p["curated"], "select_forgetting"] <= rule)


def test_vs_naive_reads_a_rows_naive_columns(table):
    """One reader for the vs_naive:<set>[:low/:high] columns (the demo and the recipe run use it):
    the same values as the frame, None where a strategy, a set or a value is missing."""
    from curate._compare import vs_naive

    f = table.frame.set_index("strategy")
    for name in f.index:
        d = table.vs_naive(name)
        assert set(d) == {f"vs_naive:{s}{x}" for s in ("new", "old") for x in ("", ":low", ":high")}
        for col, value in d.items():
            assert value == pytest.approx(float(f.loc[name, col]))
    assert table.vs_naive("naive")["vs_naive:new"] == 0.0
    assert set(vs_naive(table.frame, "no_such_strategy").values()) == {None}
    assert vs_naive(table.frame, "do_nothing", sets=("nope",)) == {"vs_naive:nope": None, "vs_naive:nope:low": None,
                                                                   "vs_naive:nope:high": None}
    failed = table.frame.copy()
    failed.loc[failed["strategy"] == "do_nothing", "vs_naive:new"] = np.nan  # a strategy whose value is missing
    assert vs_naive(failed, "do_nothing")["vs_naive:new"] is None


def test_scoring_slices_leave_the_selection_parts_out(split_table, table):
    """With a split, a result's named-slice masks also cover select_<set>; scoring_slices keeps the scored sets
    only (what the demo and the recipe give the gate), with the same masks; without a split nothing changes."""
    res = split_table.results["continue_all"]
    assert {"select_new", "select_old"} <= set(res.slice_masks["threes"])
    kept = split_table.scoring_slices("continue_all")
    assert set(kept["threes"]) == {"new", "old"}
    for name in ("new", "old"):
        assert np.array_equal(kept["threes"][name], res.slice_masks["threes"][name])
        assert len(kept["threes"][name]) == len(res.predictions[name].y_true)
    plain = table.results["continue_all"].slice_masks
    assert table.scoring_slices("continue_all").keys() == plain.keys()
    assert split_table.scoring_slices("no_such_strategy") == {}
