"""diagnose.confusion and the "confusion" diagnoser, on real digits predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import diagnose
from diagnose import DataError, ParameterError
from diagnose._confusion import confusion_diagnoser, confusion_slices
from diagnose._diagnosers import AnalysisInput


@pytest.fixture(scope="module")
def digits_preds():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, te = idx[:300], idx[300:]
    clf = LogisticRegression(max_iter=300).fit(X[tr] / 16.0, y[tr])
    return y[te], clf.predict(X[te] / 16.0)


def _inp(y, p, **kw):
    return AnalysisInput(y_true=np.asarray(y), y_pred=np.asarray(p), errors=np.asarray(y) != np.asarray(p), **kw)


def test_matrix_and_metrics_match_sklearn(digits_preds):
    y, p = digits_preds
    r = diagnose.confusion(y, p)
    assert r.labels == tuple(range(10))
    np.testing.assert_array_equal(r.matrix, confusion_matrix(y, p, labels=list(range(10))))
    prec, rec, f1, sup = precision_recall_fscore_support(y, p, labels=list(range(10)), zero_division=0)
    frame = r.to_frame()
    np.testing.assert_allclose(frame["precision"], prec)
    np.testing.assert_allclose(frame["recall"], rec)
    np.testing.assert_allclose(frame["f1"], f1)
    np.testing.assert_array_equal(frame["support"], sup)
    np.testing.assert_allclose(r.normalized.sum(1), 1.0)
    assert r.accuracy == pytest.approx(np.mean(y == p))


def test_most_confused_is_sorted_off_diagonal(digits_preds):
    y, p = digits_preds
    r = diagnose.confusion(y, p)
    mc = r.most_confused(5)
    assert list(mc["count"]) == sorted(mc["count"], reverse=True)
    assert (mc["true"] != mc["pred"]).all()
    t, q, c = mc.iloc[0][["true", "pred", "count"]]
    assert c == np.sum((y == t) & (p == q))
    m = r.matrix.copy()
    np.fill_diagonal(m, 0)
    assert c == m.max()


def test_string_labels_and_label_order():
    y = np.array(["cat", "dog", "dog", "bird", "cat"])
    p = np.array(["cat", "cat", "dog", "bird", "dog"])
    r = diagnose.confusion(y, p, labels=["dog", "cat", "bird"])
    assert r.labels == ("dog", "cat", "bird")
    assert r.matrix.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(DataError, match=r"^y_true and y_pred of confusion differ in length \(3 vs 2\)"):
        diagnose.confusion([0, 1, 1], [0, 1])
    with pytest.raises(DataError, match=r"y_pred of confusion contains 1 NaN or inf value\(s\)"):
        diagnose.confusion([0.0, 1.0], [0.0, np.nan])
    with pytest.raises(DataError, match=r"hold 1 value\(s\) that are not in labels \(2 labels given\)"):
        diagnose.confusion([0, 1, 2], [0, 1, 1], labels=[0, 1])
    with pytest.raises(ParameterError, match="must not repeat a label"):
        diagnose.confusion([0, 1], [0, 1], labels=[0, 1, 1])
    with pytest.raises(DataError, match="got 0 rows"):
        diagnose.confusion([], [])


def _planted(seed=0):
    """1000 rows, 10 classes; 5% random errors, and class 3 predicted as 5 for 40% of its rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, 1000)
    p = y.copy()
    flip = rng.random(1000) < 0.05
    p[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    three = np.flatnonzero(y == 3)
    p[three[: int(0.4 * three.size)]] = 5
    return y, p


def test_diagnoser_finds_planted_class_and_pair():
    y, p = _planted()
    slices = confusion_diagnoser(_inp(y, p))
    kinds = {(s.definition["kind"], json.dumps(s.definition, sort_keys=True)) for s in slices}
    assert ("class", json.dumps({"kind": "class", "label": 3}, sort_keys=True)) in kinds
    pair = [s for s in slices if s.definition["kind"] == "pair"]
    assert pair[0].definition == {"kind": "pair", "true": 3, "pred": 5}
    # the class and pair slices re-apply through Slice.contains
    cls = next(s for s in slices if s.definition["kind"] == "class")
    np.testing.assert_array_equal(cls.contains(labels=y), y == 3)
    np.testing.assert_array_equal(pair[0].contains(labels=y, predictions=p), (y == 3) & (p == 5))
    for s in slices:
        lo, hi = s.error_ci
        assert lo <= s.error_rate <= hi
        assert 0 <= s.p_value <= s.q_value <= 1
        assert s.q_value <= 0.05
        assert s.severity > 0
    assert [s.severity for s in slices] == sorted((s.severity for s in slices), reverse=True)


def test_random_errors_yield_no_slices():
    """Errors spread at random over classes and wrong predictions: BH keeps every test quiet."""
    false = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        y = rng.integers(0, 10, 800)
        p = y.copy()
        flip = rng.random(800) < 0.15
        p[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
        false += bool(confusion_diagnoser(_inp(y, p)))
    assert false <= 2  # one BH family per run at 5%: about 1 false run in 20 expected


def test_report_slices_below_recall_threshold(digits_preds):
    y, p = digits_preds
    r = diagnose.confusion(y, p)
    recall = r.to_frame().set_index("label")["recall"]
    thr = float(np.sort(recall.to_numpy())[2])  # two classes strictly below
    got = r.slices(min_recall=thr)
    assert sorted(s.definition["label"] for s in got) == sorted(recall[recall < thr].index.tolist())
    with pytest.raises(ParameterError, match=r"The 'min_recall' parameter of ConfusionReport.slices must be a float"):
        r.slices(min_recall=1.5)


def test_round_trip_plot_and_html(digits_preds):
    y, p = digits_preds
    r = diagnose.confusion(y, p)
    r2 = diagnose.ConfusionReport.from_dict(json.loads(r.to_json()))
    np.testing.assert_array_equal(r2.matrix, r.matrix)
    assert r2.labels == r.labels
    fig = r.plot()
    assert fig.axes[0].get_xlabel() == "predicted"
    import matplotlib.pyplot as plt

    plt.close(fig)
    html = r._repr_html_()
    assert "<table" in html and "accuracy" in html


def test_slices_function_respects_limits():
    y, p = _planted(1)
    r = diagnose.confusion(y, p)
    assert [s for s in confusion_slices(r, max_pairs=0) if s.definition["kind"] == "pair"] == []
    assert len([s for s in confusion_slices(r, max_pairs=1) if s.definition["kind"] == "pair"]) == 1
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of the confusion diagnoser"):
        confusion_diagnoser(_inp(y, p), alpha=0)


def test_class_names_name_the_classes_in_descriptions_and_keep_the_definitions():
    from diagnose._confusion import confusion, confusion_slices

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    p = y.copy()
    p[:40] = 2  # class 0 mostly predicted as 2
    p[rng.permutation(180)[:5]] = 1
    report = confusion(y, p)
    plain = confusion_slices(report)
    named = confusion_slices(report, class_names=["zero", "one", "two"])
    assert [s.definition for s in named] == [s.definition for s in plain]
    assert [s.indices.tolist() for s in named] == [s.indices.tolist() for s in plain]
    pair = next(s for s in named if s.definition["kind"] == "pair")
    assert "true 'zero' predicted as 'two'" in pair.description
    assert all("'zero'" in s.description or "'one'" in s.description or "'two'" in s.description for s in named)
    with pytest.raises(Exception, match="class_names"):
        confusion_slices(report, class_names="abc")
