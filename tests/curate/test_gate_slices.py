"""Named slices in the gate: a diagnosis' slices / retrain's ``slices=`` are checked for a drop above max_slice_drop."""

import numpy as np
import pytest

import curate
from curakit.exceptions import DataError, ParameterError
from curate._retrain import EvalPredictions
from diagnose import Slice


def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.arange(10))


def _slice(sid, rows, n):
    rows = np.asarray(rows, dtype=np.int64)
    return Slice(id=sid, method="rules", description=sid, indices=rows, n_analysed=n, error_rate=0.0,
                 baseline_error_rate=0.0)


@pytest.fixture(scope="module")
def labels(digits):
    return digits[1]


def _evaluate(cand, champ, slices, **gate):
    return curate.Gate(max_drop_old=1.0, min_gain_new=-1.0, **gate).evaluate(
        {"new": cand, "old": cand}, {"new": champ, "old": champ}, slices=slices)


def test_a_named_slice_that_drops_is_refused_and_named(labels):
    y = labels
    sevens = np.flatnonzero(y == 7)
    cand = _preds(y, np.where(y == 7, 1, y))  # breaks every 7; nothing else changes
    champ = _preds(y, y)
    diagnosis = [_slice("sevens", sevens, len(y)), _slice("threes", np.flatnonzero(y == 3), len(y))]
    dec = _evaluate(cand, champ, {"new": diagnosis})
    assert not dec.passed and not dec.checks["named_slices"]["passed"]
    records = {r["slice"]: r for r in dec.checks["named_slices"]["slices"]}
    assert records["sevens"]["drop"] == pytest.approx(1.0) and not records["sevens"]["passed"]
    assert records["sevens"]["lower"] > 0.05 and records["sevens"]["q"] <= 0.05
    assert records["threes"]["passed"] and records["threes"]["drop"] == 0.0
    (bad,) = dec.regressions
    assert bad.method == "named" and bad.evidence["slice"] == "sevens" and set(bad.indices) == set(sevens)
    assert any("named slice 'sevens'" in r and r.endswith("fail") for r in dec.reasons)
    d = dec.to_dict()["regressions"][0]
    assert d["eval_set"] == "new" and d["indices"] == sorted(sevens.tolist())


def test_mask_form_and_a_small_drop_within_the_allowance_pass(labels):
    y = labels
    rng = np.random.default_rng(0)
    fours = y == 4
    # 2% of the fours broken: a real drop, but well within max_slice_drop=0.2
    broken = fours & (rng.random(len(y)) < 0.02)
    dec = _evaluate(_preds(y, np.where(broken, 0, y)), _preds(y, y), {"fours": {"new": fours, "old": fours}},
                    max_slice_drop=0.2)
    assert dec.checks["named_slices"]["passed"] and dec.checks["named_slices"]["n"] == 2 and dec.regressions == ()
    assert dec.reasons[-1].startswith("named slices: 2 checked") and dec.reasons[-1].endswith("pass")


def test_named_slices_off_and_bad_input(labels):
    y = labels
    p = _preds(y, y)
    off = curate.Gate(max_slice_drop=None).evaluate({"new": p, "old": p}, {"new": p, "old": p},
                                                     slices={"new": [_slice("a", [0, 1, 2], len(y))]})
    assert "named_slices" not in off.checks
    with pytest.raises(DataError, match=r"found on 1807 rows, but eval set 'new' has 1797"):
        _evaluate(p, p, {"new": [_slice("a", [len(y) + 5], len(y) + 10)]})  # a diagnosis of other rows
    with pytest.raises(DataError, match="names eval set 'later'"):
        _evaluate(p, p, {"later": [_slice("a", [0], len(y))]})
    with pytest.raises(DataError, match=r"boolean mask of \d+ rows"):
        _evaluate(p, p, {"s": {"new": np.ones(5, dtype=bool)}})
    with pytest.raises(ParameterError, match="diagnosis or a list of diagnose.Slice"):
        _evaluate(p, p, {"new": [1, 2]})


def test_promote_checks_the_results_own_slices_and_computes_table_features(digits, tmp_path):
    from _retrain_fixtures import tabular
    from sklearn.linear_model import LogisticRegression

    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    masks = {"nines": {k: (evals[k]["digit"] == 9).to_numpy() for k in ("old", "new")}}
    result = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals, slices=masks)
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model)
    promo = reg.promote_if_better(result, gate=curate.Gate(max_drop_old=0.05, n_bootstrap=200), eval_sets=evals)
    checks = promo.decision["checks"]
    assert checks["named_slices"]["n"] == 2 and {r["slice"] for r in checks["named_slices"]["slices"]} == {"nines"}
    assert sorted(checks["regressions"]["searched"]) == ["new", "old"]  # features computed from the eval tables
    # the same features passed by hand give the same decision
    reg2 = curate.Registry(tmp_path / "reg2")
    reg2.register(model)
    feats = {k: evals[k][columns].to_numpy(dtype=float) for k in ("old", "new")}
    if result.preprocessor is not None:
        feats = {k: np.asarray(result.preprocessor.transform(evals[k][columns]), dtype=float) for k in feats}
    by_hand = reg2.promote_if_better(result, gate=curate.Gate(max_drop_old=0.05, n_bootstrap=200), features=feats)
    assert by_hand.decision["checks"] == promo.decision["checks"] and by_hand.promoted == promo.promoted


def test_eval_sets_without_the_features_are_one_line_errors_and_leave_the_registry(digits, tmp_path):
    from _retrain_fixtures import tabular
    from sklearn.linear_model import LogisticRegression

    from curate._gate import regression_features

    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    result = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals)
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model)
    before = (tmp_path / "reg" / "registry.json").read_bytes()
    with pytest.raises(DataError, match=r"eval set 'new' lacks the model's feature columns"):
        reg.promote_if_better(result, eval_sets={"new": evals["new"].drop(columns=columns[:3])})
    with pytest.raises(DataError, match="eval set 'new' is not a table"):
        reg.promote_if_better(result, eval_sets={"new": (np.zeros((3, 8, 8, 1)), np.zeros(3))})
    assert (tmp_path / "reg" / "registry.json").read_bytes() == before and len(reg.versions()) == 1
    pytest.importorskip("torch")
    from curate.models import SmallCNN

    with pytest.raises(DataError, match="holds no images to embed"):
        regression_features(SmallCNN(num_classes=10, in_channels=1), {"new": evals["new"]})


def test_cli_promote_checks_named_slices_unless_turned_off(digits, tmp_path, capsys):
    from _retrain_fixtures import tabular
    from sklearn.linear_model import LogisticRegression

    from curakit._cli import main

    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    masks = {"nines": {k: (evals[k]["digit"] == 9).to_numpy() for k in ("old", "new")}}
    curate.retrain(model, ts, strategy="continue_all", eval_sets=evals, slices=masks).save(tmp_path / "res")
    checks = {}
    for name, extra in (("on", []), ("off", ["--max-slice-drop", "none"])):
        curate.Registry(tmp_path / name).register(model)
        code = main(["registry", "promote", str(tmp_path / name), str(tmp_path / "res"), "--n-bootstrap", "100",
                     "--max-drop-old", "0.5", *extra])
        assert code in (0, 3)
        checks[name] = curate.Registry(tmp_path / name).version("v2").gate["checks"]
    assert checks["on"]["named_slices"]["n"] == 2 and "named_slices" not in checks["off"]
    with pytest.raises(SystemExit):
        main(["registry", "promote", str(tmp_path / "on"), str(tmp_path / "res"), "--max-slice-drop", "lots"])
    assert "expected a number in [0, 1] or 'none'" in capsys.readouterr().err
