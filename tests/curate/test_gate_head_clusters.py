"""Gate(layer=..., head_clusters=True): the k-means clusters of the head's input join the regression
search of another layer's space, in one BH family (a harm the head separates, the layer does not)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import curate
from curakit.exceptions import DataError, ParameterError
from curate._retrain import EvalPredictions


@pytest.fixture(scope="module")
def hidden_zero():
    """Digits with coarse labels (0-4 -> 0): the candidate breaks every 0 and fixes 150 other rows of
    class 0 that the champion got wrong, so class 0 as a whole drops by only about 0.03."""
    d = load_digits()
    fine, y = d.target, (d.target >= 5).astype(np.int64)
    rng = np.random.default_rng(0)
    fixed = rng.choice(np.flatnonzero((y == 0) & (fine != 0)), 150, replace=False)
    champ_pred, cand_pred = y.copy(), y.copy()
    champ_pred[fixed] = 1
    cand_pred[fine == 0] = 1
    half = rng.permutation(len(y)) % 2 == 0
    sets = {"old": half, "new": ~half}

    def preds(pred):
        return {k: EvalPredictions(y_true=y[m], y_pred=pred[m], proba=None, classes=np.arange(2)) for k, m in sets.items()}

    noise = rng.normal(size=(len(y), 16))  # a layer whose features know nothing of the zeros
    return (preds(cand_pred), preds(champ_pred), {k: noise[m] for k, m in sets.items()},
            {k: d.data[m].astype(float) for k, m in sets.items()}, {k: fine[m] == 0 for k, m in sets.items()})


def _gate(**kw):
    return curate.Gate(min_gain_new=-1.0, max_drop_old=1.0, n_bootstrap=200, class_clusters=0, layer="backbone.8", **kw)


def test_the_head_clusters_find_a_harm_the_layer_does_not_separate(hidden_zero):
    cand, champ, layer_feats, head_feats, harmed = hidden_zero
    alone = _gate().evaluate(cand, champ, features=layer_feats)
    assert alone.checks["regressions"]["passed"]
    dec = _gate(head_clusters=True).evaluate(cand, champ, features=layer_feats, head_features=head_feats)
    assert not dec.passed and dec.regressions
    regions = dec.checks["regressions"]["regions"]
    assert len(regions) == len(alone.checks["regressions"]["regions"]) + 8  # 8 clusters of the head's input
    top = dec.regressions[0]
    assert top.evidence["region"].endswith("of the head's input")
    truth = set(np.flatnonzero(harmed[top.evidence["eval_set"]]).tolist())
    got = set(top.indices.tolist())
    assert len(got & truth) / len(got | truth) > 0.4
    assert dec.gate["head_clusters"] is True


def test_one_space_twice_tests_no_region_twice(hidden_zero):
    cand, champ, _, head_feats, _ = hidden_zero
    once = _gate().evaluate(cand, champ, features=head_feats)
    twice = _gate(head_clusters=True).evaluate(cand, champ, features=head_feats, head_features=head_feats)
    assert [r["region"] for r in once.checks["regressions"]["regions"]] == [
        r["region"] for r in twice.checks["regressions"]["regions"]]


def test_head_clusters_bad_input_is_one_line(hidden_zero):
    cand, champ, layer_feats, head_feats, _ = hidden_zero
    with pytest.raises(ParameterError, match=r"^Gate\(head_clusters=True\) adds the head's input .* layer="):
        curate.Gate(head_clusters=True)
    with pytest.raises(ParameterError, match=r"^The 'head_clusters' parameter of Gate must be True or False"):
        curate.Gate(layer="backbone.8", head_clusters="yes")
    with pytest.raises(ParameterError, match=r"needs head_features="):
        _gate(head_clusters=True).evaluate(cand, champ, features=layer_feats)
    with pytest.raises(DataError, match=r"head's features cover eval sets \['new'\]"):
        _gate(head_clusters=True).evaluate(cand, champ, features=layer_feats, head_features={"new": head_feats["new"]})
