"""The regression search's test statistic (Tango's score test on paired flips), its bounds, pooling
of a region's rows over the eval sets, and Benjamini-Hochberg over the regions."""

import math

import numpy as np
import pytest

import curate
from curakit.exceptions import DataError
from curate._regressions import _bh, drop_bounds, paired_drop, score_z
from curate._retrain import EvalPredictions


def test_score_z_exact_values_on_hand_counts():
    # margin 0: McNemar's z, (b - c) / sqrt(b + c)
    assert score_z(9, 1, 50, 0.0) == pytest.approx(8 / math.sqrt(10), rel=1e-12)
    # 10 negative, 0 positive flips of 72, margin 0.05: restricted q = 3.3 / 144, var = 72 * (2q + 0.0475) = 6.72
    assert score_z(10, 0, 72, 0.05) == pytest.approx(6.4 / math.sqrt(6.72), rel=1e-12)
    # 17 negative, 4 positive of 71, margin 0.05: q is the root of 142 q^2 - 14.55 q - 0.19 = 0
    q = (14.55 + math.sqrt(14.55 ** 2 + 4 * 142 * 0.19)) / (2 * 142)
    assert score_z(17, 4, 71, 0.05) == pytest.approx(9.45 / math.sqrt(71 * (2 * q + 0.0475)), rel=1e-12)
    assert score_z(17, 4, 71, 0.05) == pytest.approx(2.1352, abs=1e-4)
    # symmetry: the drop against -m is the gain against m
    assert score_z(3, 10, 72, -0.05) == pytest.approx(-score_z(10, 3, 72, 0.05), rel=1e-12)
    assert score_z(0, 0, 40, 0.0) == 0.0  # no discordant pair: no evidence


def test_restricted_q_maximises_the_likelihood_under_the_margin():
    neg, pos, n, m = 17, 4, 71, 0.05
    q = (14.55 + math.sqrt(14.55 ** 2 + 4 * 142 * 0.19)) / (2 * 142)

    def loglik(qq):
        return neg * math.log(qq + m) + pos * math.log(qq) + (n - neg - pos) * math.log(1 - 2 * qq - m)

    assert all(loglik(q) > loglik(q + d) for d in (-1e-3, 1e-3, -1e-2, 1e-2))


def test_bounds_are_the_inverted_test():
    lower, upper = drop_bounds(17, 4, 71, 0.05)
    assert lower < 13 / 71 < upper
    assert score_z(17, 4, 71, lower) == pytest.approx(1.6448536, abs=1e-6)
    assert score_z(17, 4, 71, upper) == pytest.approx(-1.6448536, abs=1e-6)
    for margin in (0.0, 0.05, 0.1, lower - 1e-6, lower + 1e-6):
        p = 0.5 * math.erfc(score_z(17, 4, 71, margin) / math.sqrt(2))
        assert (p < 0.05) == (lower > margin)
    champ = np.array([1] * 17 + [0] * 4 + [1] * 50)
    cand = np.array([0] * 17 + [1] * 4 + [1] * 50)
    t = paired_drop(champ, cand, max_drop=0.05, alpha=0.05)
    assert (t["negative_flips"], t["positive_flips"]) == (17, 4) and t["drop"] == pytest.approx(13 / 71)
    assert t["p"] == pytest.approx(0.5 * math.erfc(2.1352 / math.sqrt(2)), abs=1e-4) and t["lower"] == lower


def test_size_at_the_margin_is_near_nominal():
    # drop exactly at the margin (0.10 - 0.05): the test rejects about alpha of the time, not more
    rng = np.random.default_rng(0)
    n, rejected = 80, 0
    for _ in range(3000):
        u = rng.random(n)
        neg, pos = int((u < 0.10).sum()), int(((u >= 0.10) & (u < 0.15)).sum())
        rejected += score_z(neg, pos, n, 0.05) > 1.6448536
    assert 0.02 < rejected / 3000 < 0.08


def test_bh_q_values_by_hand():
    np.testing.assert_allclose(_bh(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.arange(10))


@pytest.fixture(scope="module")
def two_sets():
    """Two eval sets of 360 rows (36 per class); the candidate breaks 8 of the 36 zeros in each."""
    rng = np.random.default_rng(3)
    sets = {}
    for name in ("old", "new"):
        y = np.repeat(np.arange(10), 36)
        X = rng.normal(size=(360, 6)) + y[:, None] * 0.1
        broken = np.flatnonzero(y == 0)[:8]
        cand = y.copy()
        cand[broken] = 1
        sets[name] = (X, _preds(y, y), _preds(y, cand))
    return sets


def _lenient(two_sets, searched):
    champ = {k: v[1] for k, v in two_sets.items()}
    cand = {k: v[2] for k, v in two_sets.items()}
    return curate.Gate(min_gain_new=-1.0, max_drop_old=1.0).evaluate(
        cand, champ, features={k: two_sets[k][0] for k in searched})


def test_a_harm_significant_only_when_both_holdouts_are_pooled(two_sets):
    # alone: 8 of 36 (p ~ 0.0075 before BH over ~18 regions); pooled: 16 of 72 (p ~ 0.0003)
    for one in ("old", "new"):
        assert _lenient(two_sets, [one]).regressions == ()
    dec = _lenient(two_sets, ["old", "new"])
    assert not dec.passed and {s.evidence["eval_set"] for s in dec.regressions} == {"old", "new"}
    for s in dec.regressions:
        assert s.evidence["region"] == "true class 0" and s.evidence["pooled_rows"] == 72
        assert sorted(s.indices.tolist()) == list(range(36)) and s.n_analysed == 360
        assert s.evidence["drop"] == pytest.approx(16 / 72) and s.q_value <= 0.05
    d = dec.to_dict()["regressions"]
    assert sorted(r["eval_set"] for r in d) == ["new", "old"]


def test_one_family_of_regions_over_the_pooled_sets(two_sets):
    checks = _lenient(two_sets, ["old", "new"]).checks["regressions"]
    regions = checks["regions"]
    assert checks["regions_tested"] == len(regions) == len({r["region"] for r in regions})  # not per eval set
    assert sum(r["region"].startswith("true class") for r in regions) == 10
    assert all(sum(r["rows_per_set"].values()) == r["n"] for r in regions)
    p = np.array([r["p"] for r in regions])
    np.testing.assert_allclose([r["q"] for r in regions], _bh(p))
    assert checks["regions_failed"] == 1 and checks["pooled"] and checks["test"] == "score"


def test_pooling_features_of_different_widths_is_a_one_line_error(two_sets):
    champ = {k: v[1] for k, v in two_sets.items()}
    cand = {k: v[2] for k, v in two_sets.items()}
    with pytest.raises(DataError, match="different widths"):
        curate.Gate().evaluate(cand, champ, features={"old": two_sets["old"][0], "new": two_sets["new"][0][:, :3]})
