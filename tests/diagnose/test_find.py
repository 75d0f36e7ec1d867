"""diagnose.find_slices and Diagnosis: validation, every registered method, ranking/merging,
round trips and reports, on real digits predictions."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import diagnose
from diagnose import DIAGNOSERS, DataError, Diagnosis, ParameterError, Slice, UnknownNameError
from diagnose._find import common_severity, merge_slices

FAST = {"clusters": {"n_epochs": 40}}


@pytest.fixture(scope="module")
def case():
    """600 analysed digits scored by a logistic regression that never saw an '8' written with
    few ink pixels (the training '8's are the inkier half), plus 400 training rows."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, te = idx[:400], idx[400:1000]
    ink = (X > 8).sum(1)
    keep = ~((y[tr] == 8) & (ink[tr] < np.median(ink[y == 8])))
    clf = LogisticRegression(max_iter=200).fit(X[tr][keep] / 16, y[tr][keep])
    cols = [f"px{i}" for i in range(64)]
    feats = pd.DataFrame(X[te], columns=cols)[cols[18:22] + cols[42:46]]
    feats["ink"] = np.where(ink[te] > np.median(ink), "heavy", "light")
    tfeats = pd.DataFrame(X[tr], columns=cols)[cols[18:22] + cols[42:46]]
    tfeats["ink"] = np.where(ink[tr] > np.median(ink), "heavy", "light")
    return {
        "y": y[te],
        "pred": clf.predict(X[te] / 16),
        "proba": clf.predict_proba(X[te] / 16),
        "emb": X[te],
        "train_emb": X[tr],
        "features": feats,
        "train_features": tfeats,
    }


def _all_inputs(case):
    return dict(
        proba=case["proba"],
        features=case["features"],
        embeddings=case["emb"],
        train_features=case["train_features"],
        train_embeddings=case["train_emb"],
    )


@pytest.mark.parametrize("method", DIAGNOSERS.names())
def test_every_registered_method(case, method, tmp_path):
    d = diagnose.find_slices(case["y"], case["pred"], methods=[method], random_state=1, **_all_inputs(case), **FAST)
    assert d.methods == (method,)
    assert all(s.method == method for s in d.slices)
    sev = [s.severity for s in d.slices]
    assert sev == sorted(sev, reverse=True)
    for s in d.slices:
        assert s.n_analysed == len(case["y"]) and s.size > 0
        assert 0 <= s.error_rate <= 1
        if s.q_value is not None:
            assert s.p_value <= s.q_value + 1e-12
    frame = d.to_frame()
    assert len(frame) == len(d.slices) and list(frame["rank"]) == list(range(1, len(d.slices) + 1))
    # one seed -> identical output; JSON round trip through save/load
    again = diagnose.find_slices(case["y"], case["pred"], methods=[method], random_state=1, **_all_inputs(case), **FAST)
    assert [s.to_dict() for s in again.slices] == [s.to_dict() for s in d.slices]
    d.save(tmp_path / "d.json")
    back = Diagnosis.load(tmp_path / "d.json")
    assert back.to_dict() == json.loads(json.dumps(d.to_dict()))
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]  # no temp files left


def test_default_methods_follow_the_inputs(case):
    d = diagnose.find_slices(case["y"], case["pred"])
    assert d.methods == ("confusion",)
    assert d.coords is None and d.cluster_table is None
    eights = [s for s in d.slices if s.definition == {"kind": "class", "label": 8}]
    assert eights and eights[0].error_rate > d.baseline_error_rate


def test_features_without_embeddings_are_embedded_for_clusters(case):
    d = diagnose.find_slices(
        case["y"], case["pred"], features=case["features"], train_features=case["train_features"], **FAST
    )
    assert "clusters" in d.methods and "confusion" in d.methods
    assert d.info["embeddings_from"] == "features"
    assert d.coords.shape == (len(case["y"]), 2)
    emb = d.embed_features(case["features"])
    assert emb.shape == (len(case["y"]), 8 + 2)
    table = d.cluster_table
    # Jaccard of `contains` vs the found members; UMAP floats differ across CPUs, so a wide margin:
    # a rule no better than chance would sit near the cluster's share of the rows (< 0.2 here).
    assert table["contains_agreement"].mean() >= 0.6
    for s in (s for s in d.slices if s.method == "clusters"):
        got = s.contains(embeddings=emb)
        assert (got & s.mask()).sum() / (got | s.mask()).sum() == pytest.approx(s.evidence["contains_agreement"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(y_pred=np.zeros(5)), DataError, r"y_true and y_pred of find_slices differ in length \(600 vs 5\)"),
        (dict(y_true=np.zeros(600)), DataError, "y_true holds a single class"),
        (dict(embeddings=np.full((600, 4), np.nan)), DataError, r"embeddings contains 2400 NaN or inf value\(s\) \(shape \(600, 4\)\)"),
        (dict(embeddings=np.zeros((600, 0))), DataError, r"embeddings is empty \(shape \(600, 0\)\)"),
        (dict(embeddings=np.ones((600, 3))), DataError, "embeddings are constant"),
        (dict(embeddings=np.ones((7, 3))), DataError, "embeddings has 7 rows but y_true has 600"),
        (dict(embeddings="emb", train_embeddings=np.ones((9, 3))), DataError, "train_embeddings has 3 columns but embeddings have 64"),
        (dict(train_embeddings=np.ones((9, 3))), ParameterError, "train_embeddings were given without embeddings"),
        (dict(features=np.ones((600, 3))), DataError, r"features must be a pandas DataFrame .* Got ndarray instead"),
        (dict(proba=np.ones(600)), DataError, r"proba must be 2-d .* Got shape \(600,\) instead"),
        (dict(methods=["cluster"]), UnknownNameError, r"Unknown diagnoser 'cluster'. Did you mean 'clusters'\?"),
        (dict(methods=["clusters"]), ParameterError, r"Method 'clusters' needs embeddings= \(or features=, which are embedded\)"),
        (dict(methods=[]), ParameterError, "must name at least one method"),
        (dict(cluster={"n_epochs": 5}), ParameterError, r"find_slices got an unknown option 'cluster'. Did you mean 'clusters'\?"),
        (dict(clusters=5), ParameterError, "The 'clusters' option of find_slices must be a mapping"),
        (dict(merge_jaccard=0.0), ParameterError, r"The 'merge_jaccard' parameter of find_slices must be a float in the range \(0.0, 1.0\]. Got 0.0 instead."),
        (dict(random_state=-1), ParameterError, "The 'random_state' parameter of find_slices must be a non-negative int"),
    ],
)
def test_bad_inputs(case, kwargs, exc, match):
    args = {"y_true": case["y"], "y_pred": case["pred"]}
    for key in ("y_true", "y_pred"):
        if key in kwargs:
            args[key] = kwargs.pop(key)
    if isinstance(kwargs.get("embeddings"), str):
        kwargs["embeddings"] = case["emb"]
    with pytest.raises(exc, match=match):
        diagnose.find_slices(args["y_true"], args["y_pred"], **kwargs)


def _slice(method, idx, err, n=100, base=0.1, **ev):
    return Slice(
        id=f"{method}-{len(idx)}-{err}",
        method=method,
        description="x",
        indices=np.asarray(idx),
        n_analysed=n,
        error_rate=err,
        baseline_error_rate=base,
        severity=123.0,
        evidence=ev,
    )


def test_ranking_uses_one_scale_and_merges_near_duplicates():
    a = _slice("rules", range(0, 20), 0.5)  # excess 20 * 0.4 = 8 -> 0.08
    b = _slice("clusters", range(0, 21), 0.5)  # excess 21 * 0.4 = 8.4 -> 0.084; Jaccard(a, b) = 20/21
    c = _slice("confusion", range(50, 60), 1.0, expected_errors=2.0)  # excess 8 -> 0.08
    out = merge_slices([a, b, c], merge_jaccard=0.8)
    assert [s.method for s in out] == ["clusters", "confusion"]
    assert out[0].evidence["merged"] == [a.id]
    assert out[0].severity == pytest.approx(0.084)
    assert out[0].evidence["method_severity"] == 123.0
    assert common_severity(c) == pytest.approx(0.08)
    assert len(merge_slices([a, b, c], merge_jaccard=0.99)) == 3


def test_reports_and_repr(case, tmp_path):
    d = diagnose.find_slices(case["y"], case["pred"], embeddings=case["emb"], methods=["confusion", "clusters"], **FAST)
    html = d.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == html
    assert html.count("<img") == 3  # confusion matrix, UMAP by slice, UMAP by error
    assert "Confusion" in html and "Embedding clusters" in html
    assert "<table" in d._repr_html_()
    assert repr(d).startswith("Diagnosis(n_analysed=600")
    assert d[0] is d.slices[0] and d[d.slices[0].id] is d.slices[0]
    with pytest.raises(KeyError, match="No slice with id"):
        d["nope"]
    with pytest.raises(ParameterError, match="has no feature embedding"):
        d.embed_features(case["features"])
    assert not any(n.startswith(".") for n in os.listdir(tmp_path))


def test_merge_keeps_the_most_readable_of_near_equal_slices():
    n = 1000
    rows = np.arange(200)

    def rule(k, sev_rows, sid):
        conds = [{"feature": f"f{i}", "op": ">", "value": 0.0} for i in range(k)]
        return Slice(id=sid, method="rules", description=sid, indices=rows[:sev_rows], n_analysed=n,
                     error_rate=0.5, baseline_error_rate=0.1, definition={"kind": "rule", "conditions": conds})

    wordy, short = rule(2, 200, "wordy"), rule(1, 190, "short")  # severities 0.08 and 0.076: near-equal
    out = merge_slices([wordy, short])
    assert [s.id for s in out] == ["short"]
    assert out[0].evidence["merged"] == ["wordy"]
    # far apart in severity: the more severe one stays, readable or not
    weak = Slice(id="weak", method="rules", description="weak", indices=rows[:190], n_analysed=n, error_rate=0.2,
                 baseline_error_rate=0.1, definition={"kind": "rule", "conditions": []})
    out = merge_slices([wordy, weak])
    assert [s.id for s in out] == ["wordy"] and out[0].evidence["merged"] == ["weak"]
    # a class slice reads better than a cluster of the same rows
    cls = Slice(id="cls", method="confusion", description="c", indices=rows, n_analysed=n, error_rate=0.5,
                baseline_error_rate=0.1, definition={"kind": "class", "label": 3})
    clu = Slice(id="clu", method="clusters", description="k", indices=rows, n_analysed=n, error_rate=0.52,
                baseline_error_rate=0.1, definition={"kind": "cluster"})
    assert [s.id for s in merge_slices([clu, cls])] == ["cls"]
