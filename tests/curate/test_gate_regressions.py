import numpy as np
import pytest

import curate
from curakit.exceptions import DataError
from curate._retrain import EvalPredictions


def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.arange(10))


@pytest.fixture(scope="module")
def rows(digits):
    images, labels = digits
    return images.reshape(len(images), -1).astype(float), labels


def _gate(cand, champ, X):
    sets_c, sets_h = {"new": cand, "old": cand}, {"new": champ, "old": champ}
    return curate.Gate(max_drop_old=1.0, min_gain_new=-1.0).evaluate(sets_c, sets_h, features={"new": X})


def test_planted_harm_is_found_and_refused(rows):
    X, y = rows
    champ = _preds(y, y)
    harmed = y == 0
    cand = _preds(y, np.where(harmed, 1, y))          # breaks every 0, nothing else
    dec = _gate(cand, champ, X)
    assert not dec.passed and dec.regressions
    top = dec.regressions[0]
    got = set(top.indices.tolist())
    truth = set(np.flatnonzero(harmed).tolist())
    assert len(got & truth) / len(got | truth) > 0.5
    assert top.method == "regressions" and top.q_value <= 0.05 and top.evidence["drop"] > 0.05
    d = dec.to_dict()["regressions"][0]
    assert d["eval_set"] == "new" and d["indices"] == sorted(got)


def test_harmless_scattered_flips_are_not_refused(rows):
    X, y = rows
    rng = np.random.default_rng(1)
    champ = _preds(y, y)
    flip = rng.random(len(y)) < 0.01               # 1% of rows broken, spread everywhere
    cand = _preds(y, np.where(flip, (y + 1) % 10, y))
    dec = _gate(cand, champ, X)
    assert dec.regressions == () and dec.checks["regressions"]["passed"]
    assert dec.to_dict()["regressions"] == []


def test_same_seed_same_regressions(rows):
    X, y = rows
    cand = _preds(y, np.where(y == 3, 5, y))
    a, b = _gate(cand, _preds(y, y), X), _gate(cand, _preds(y, y), X)
    assert [s.indices.tolist() for s in a.regressions] == [s.indices.tolist() for s in b.regressions]


def test_bad_features_are_one_line_errors(rows):
    X, y = rows
    p = _preds(y, y)
    with pytest.raises(DataError, match=r"features of eval set 'new' have shape \(10, 64\)"):
        _gate(p, p, X[:10])
    with pytest.raises(DataError, match="no predictions for both models"):
        curate.Gate().evaluate({"new": p, "old": p}, {"new": p, "old": p}, features={"other": X})
    short = _preds(y[:100], y[:100])
    with pytest.raises(DataError, match="not on the same rows"):
        curate.Gate().evaluate({"new": p, "old": p}, {"new": short, "old": p}, features={"new": X})
    off = curate.Gate(max_slice_drop=None).evaluate({"new": p, "old": p}, {"new": p, "old": p}, features={"new": X})
    assert "regressions" not in off.checks


def test_promote_with_features_searches_regressions_and_bad_input_leaves_registry(digits, tmp_path):
    from _retrain_fixtures import tabular
    from sklearn.linear_model import LogisticRegression

    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    result = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals)
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model)
    before = (tmp_path / "reg" / "registry.json").read_bytes()
    with pytest.raises(DataError, match="features of eval set 'new' have shape"):
        reg.promote_if_better(result, features={"new": evals["new"][columns].to_numpy()[:5]})
    assert (tmp_path / "reg" / "registry.json").read_bytes() == before
    promo = reg.promote_if_better(result, gate=curate.Gate(max_drop_old=0.05),
                                  features={k: evals[k][columns].to_numpy() for k in ("old", "new")})
    assert "regressions" in promo.decision and "regressions" in promo.decision["checks"]
    for r in promo.decision["regressions"]:
        assert r["eval_set"] in ("old", "new") and max(r["indices"]) < len(evals[r["eval_set"]])
