"""The gate's cluster search finds a harm hidden inside a coarse class (issue 11's failing scenario).

Real data: sklearn digits with COARSE labels ({0..4} -> 0, {5..9} -> 1); the models and the gate
see only the coarse labels, so the gate's true-class regions are the two coarse classes. The
candidate is retrained on more rows (better elsewhere) with one digit's coarse label flipped: a harm
on a fine sub-class the gate is not told about. Features: the 64 pixel columns (tabular search).
Logistic regressions (lbfgs) and k-means with a fixed seed: deterministic on one machine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import curate
from curate._retrain import EvalPredictions


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    X, fine = d.data, d.target
    coarse = (fine >= 5).astype(np.int64)
    tr, te = train_test_split(np.arange(len(fine)), test_size=0.5, random_state=0, stratify=fine)
    old, new = train_test_split(te, test_size=0.5, random_state=1, stratify=fine[te])
    return {"X": X, "fine": fine, "y": coarse, "tr": tr, "sets": {"old": old, "new": new}}


def _fit(D, rows, labels):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(D["X"][rows], labels)


def _preds(D, model):
    return {k: EvalPredictions(y_true=D["y"][r], y_pred=model.predict(D["X"][r]), proba=None, classes=np.array([0, 1]))
            for k, r in D["sets"].items()}


def _champion(D):
    small = D["tr"][: len(D["tr"]) // 10]  # the champion saw a tenth of the training rows
    return _fit(D, small, D["y"][small])


def _breaks(D, digit):
    """Retrained on all training rows, with ``digit``'s coarse label flipped."""
    tr = D["tr"]
    labels = D["y"][tr].copy()
    labels[D["fine"][tr] == digit] = 1 - labels[D["fine"][tr] == digit]
    return _fit(D, tr, labels)


def _evaluate(D, cand, champ):
    features = {k: D["X"][r] for k, r in D["sets"].items()}
    return curate.Gate().evaluate(_preds(D, cand), _preds(D, champ), features=features)


def _pairs(D, mask_of_rows):
    return {(k, int(i)) for k, r in D["sets"].items() for i in np.flatnonzero(mask_of_rows(r))}


def test_cluster_search_finds_a_digit_hidden_in_a_coarse_class(digits):
    """Digit 0 broken inside coarse class {0..4}: refused for a regression, and a failing region is a
    cluster (not a coarse class) that is almost exactly the broken digit's rows. Digit 0 is one of the
    digits (0, 4, 6 on the machine this was written on) that 8 k-means clusters of the pixels isolate;
    other digits share clusters with neighbours (they are then found, if at all, through a coarser
    region: see the next test). Chosen after seeing that, and stated here."""
    D, champ = digits, _champion(digits)
    cand = _breaks(D, 0)
    dec = _evaluate(D, cand, champ)
    assert not dec.passed and not dec.checks["regressions"]["passed"]
    truth = _pairs(D, lambda r: D["fine"][r] == 0)
    clusters: dict[str, set] = {}
    for s in dec.regressions:  # the failing clusters (the flip regions of issue 11 may fail too: not asked here)
        if s.evidence["region"].startswith("cluster "):
            clusters.setdefault(s.evidence["region"], set()).update((s.evidence["eval_set"], int(i)) for i in s.indices)
    assert clusters
    jaccard = max(len(rows & truth) / len(rows | truth) for rows in clusters.values())
    # The best a coarse-class region can reach: the broken digit is a fifth of its coarse class.
    class_best = len(truth) / len(_pairs(D, lambda r: D["y"][r] == 0))
    assert class_best < 0.3
    assert jaccard > 0.6 and jaccard > 2 * class_best
    # The candidate is better elsewhere (the case the plain gain / forgetting checks miss).
    rest = np.concatenate([r[D["fine"][r] != 0] for r in D["sets"].values()])
    gain = (cand.predict(D["X"][rest]) == D["y"][rest]).mean() - (champ.predict(D["X"][rest]) == D["y"][rest]).mean()
    assert gain > 0


def _best_jaccard(D, dec, digit):
    truth = _pairs(D, lambda r: D["fine"][r] == digit)
    regions: dict[str, set] = {}
    for s in dec.regressions:
        regions.setdefault(s.evidence["region"], set()).update((s.evidence["eval_set"], int(i)) for i in s.indices)
    return max([len(rows & truth) / len(rows | truth) for rows in regions.values()] or [0.0])


def test_clusters_inside_each_class_isolate_the_hidden_digit(digits):
    """Gate(class_clusters=8) (the default) against the clusters and classes alone (class_clusters=0),
    each digit in turn broken: the failing regions match the broken digit's rows far better (mean
    best Jaccard 0.73 against 0.45 on the machine this was written on; asserted: above 0.55, and
    0.1 better), and no fewer candidates are refused for a regression than half."""
    D, champ = digits, _champion(digits)
    features = {k: D["X"][r] for k, r in D["sets"].items()}
    jac = {0: [], 8: []}
    refused = 0
    for digit in range(10):
        cand = _breaks(D, digit)
        for k in jac:
            dec = curate.Gate(class_clusters=k).evaluate(_preds(D, cand), _preds(D, champ), features=features)
            jac[k].append(_best_jaccard(D, dec, digit))
            refused += k == 8 and not dec.checks["regressions"]["passed"]
    assert np.mean(jac[8]) > 0.55 and np.mean(jac[8]) > np.mean(jac[0]) + 0.1
    assert refused >= 8
    inside = {r["region"] for r in dec.checks["regressions"]["regions"] if " of true class " in r["region"]}
    # 8 per class, less any cluster under min_size (10) rows
    assert inside <= {f"cluster {c} of true class {v}" for c in range(8) for v in (0, 1)} and len(inside) >= 12


def test_hidden_harm_is_refused_for_most_digits(digits):
    """Each digit in turn broken inside its coarse class: the regression search refuses at least half
    of the ten candidates (10 of 10 on the machine it was written on; 9 of 10 before the clusters
    inside each class: digit 8, whose rows the 8 clusters of all rows spread over regions shared with
    other digits, was missed)."""
    D, champ = digits, _champion(digits)
    refused = [not _evaluate(D, _breaks(D, d), champ).checks["regressions"]["passed"] for d in range(10)]
    assert sum(refused) >= 5


def test_harmless_candidate_is_not_refused_for_a_regression_and_the_search_is_deterministic(digits):
    D, champ = digits, _champion(digits)
    harmless = _fit(D, D["tr"], D["y"][D["tr"]])
    dec = _evaluate(D, harmless, champ)
    assert dec.checks["regressions"]["passed"] and not dec.regressions
    again = _evaluate(D, harmless, champ)
    assert json.dumps(dec.to_dict(), sort_keys=True) == json.dumps(again.to_dict(), sort_keys=True)
    broken = _evaluate(D, _breaks(D, 0), champ)
    assert json.dumps(broken.to_dict(), sort_keys=True) == json.dumps(_evaluate(D, _breaks(D, 0), champ).to_dict(),
                                                                       sort_keys=True)


def test_class_clusters_is_checked_and_recorded():
    from curakit.exceptions import ParameterError

    assert curate.Gate().class_clusters == 8
    gate = curate.Gate(class_clusters=0)
    assert gate.to_dict()["class_clusters"] == 0 and curate.Gate.from_dict(gate.to_dict()) == gate
    for bad in (-1, 2.5, "8", True, 65):
        with pytest.raises(ParameterError, match="'class_clusters' parameter of Gate") as err:
            curate.Gate(class_clusters=bad)
        assert "\n" not in str(err.value)
