"""The coverage diagnoser and evidence ranking, on real data with planted representation gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _planted import planted_split
from sklearn.datasets import load_breast_cancer, load_digits

from curakit.exceptions import CurakitError, DataError, ParameterError
from diagnose import Slice, find_slices
from diagnose._find import common_severity


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def planted():
    """breast_cancer split in two; rows with mean radius > 17 kept in training only 1 time in 20."""
    X, y, tr, an, region, rng = planted_split(0)
    ya = y.to_numpy()[an]
    yp = ya.copy()
    flip = rng.random(len(ya)) < 0.08
    yp[flip] = 1 - yp[flip]
    return {
        "Xt": X.iloc[tr].reset_index(drop=True), "Xa": X.iloc[an].reset_index(drop=True),
        "yt": y.to_numpy()[tr], "ya": ya, "yp": yp, "region": region[an],
    }


def _run(p, **kw):
    kw.setdefault("methods", ["coverage", "rules", "confusion"])
    return find_slices(p["ya"], p["yp"], features=p["Xa"], train_features=p["Xt"], random_state=3, **kw)


def test_planted_gap_found_first_with_margin(planted):
    d = _run(planted)
    top = d.slices[0]
    assert top.method == "coverage"
    assert _jaccard(top.mask(), planted["region"]) >= 0.5
    assert "under-represented in training" in top.description
    assert top.reason.startswith("under-represented")
    # training share and interval are reported and well below the analysed share
    lo, hi = top.evidence["train_share_ci"]
    assert top.train_share is not None and hi < top.evidence["share_ci"][0]
    assert top.representation < 0.5


def test_coverage_rule_reapplies_on_features(planted):
    d = _run(planted, methods="coverage")
    for s in d.slices:
        np.testing.assert_array_equal(s.contains(features=planted["Xa"]), s.mask())
        assert s.share <= 0.5


def test_default_methods_include_coverage_when_training_rows_given(planted):
    d = find_slices(planted["ya"], planted["yp"], features=planted["Xa"], train_features=planted["Xt"],
                    methods=None, clusters={"n_epochs": 50}, random_state=0)
    assert "coverage" in d.methods
    d2 = find_slices(planted["ya"], planted["yp"], features=planted["Xa"], methods=["rules", "coverage"][:1])
    assert "coverage" not in d2.methods


def test_deterministic(planted):
    a, b = _run(planted), _run(planted)
    assert [s.to_dict() for s in a.slices] == [s.to_dict() for s in b.slices]


def test_small_strong_gap_outranks_huge_mild_error():
    n = 10_000
    huge = Slice(id="big", method="rules", description="big", indices=np.arange(6800), n_analysed=n,
                 error_rate=0.12, baseline_error_rate=0.10)
    gap = Slice(id="gap", method="coverage", description="gap", indices=np.arange(1900), n_analysed=n,
                error_rate=0.11, baseline_error_rate=0.10, train_share=0.011,
                evidence={"gap": 0.17})
    assert common_severity(gap) > common_severity(huge)
    # more errors in the same slice never lowers the severity
    worse = Slice(id="w", method="rules", description="w", indices=np.arange(6800), n_analysed=n,
                  error_rate=0.2, baseline_error_rate=0.10)
    assert common_severity(worse) > common_severity(huge)


def test_rule_support_is_capped(planted):
    d = _run(planted, max_share=0.3)
    assert all(s.share <= 0.3 for s in d.slices if s.definition["kind"] == "rule")
    with pytest.raises(ParameterError, match="max_share"):
        _run(planted, max_share=1.5)


def test_vanished_region_is_information():
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    y = load_breast_cancer().target
    rng = np.random.default_rng(1)
    region = (X["mean radius"] > 17).to_numpy()
    idx = rng.permutation(len(X))
    tr, an = idx[:300], idx[300:]
    an = np.array([i for i in an if not region[i] or rng.random() < 0.03])
    ya = y[an]
    yp = np.where(rng.random(len(ya)) < 0.1, 1 - ya, ya)
    d = find_slices(ya, yp, features=X.iloc[an].reset_index(drop=True),
                    train_features=X.iloc[tr].reset_index(drop=True), methods="coverage", random_state=0)
    vanished = [s for s in d.slices if "vanished" in s.evidence["reasons"]]
    assert vanished
    assert vanished[0].train_share > 3 * vanished[0].share
    assert vanished[0].severity < 0.01


def test_train_labels_give_class_share(planted):
    d = _run(planted, train_labels=planted["yt"], methods="confusion", confusion={"min_recall": 1.0})
    cls = [s for s in d.slices if s.definition["kind"] == "class"]
    assert cls
    for s in cls:
        label = s.definition["label"]
        assert s.train_share == pytest.approx(float(np.mean(planted["yt"] == label)))


def test_embedding_coverage_finds_rare_class():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, an = idx[:900], idx[900:]
    tr = np.array([i for i in tr if y[i] != 0 or rng.random() < 0.05])
    ya = y[an]
    yp = np.where(rng.random(len(ya)) < 0.1, (ya + 1) % 10, ya)
    d = find_slices(ya, yp, embeddings=X[an], train_embeddings=X[tr], methods="coverage", random_state=0)
    under = [s for s in d.slices if "under_represented" in s.evidence["reasons"]]
    assert under
    planted_rows = ya == 0
    assert planted_rows[under[0].indices].mean() >= 0.8
    union = np.zeros(len(ya), dtype=bool)
    for s in under:
        union |= s.mask()
        assert np.array_equal(s.contains(embeddings=X[an]) & s.mask(), s.mask())
    assert (union & planted_rows).sum() / planted_rows.sum() >= 0.5


def test_bad_inputs_are_one_line_errors(planted):
    Xa, Xt = planted["Xa"], planted["Xt"]
    with pytest.raises(DataError, match="lack") as e:
        find_slices(planted["ya"], planted["yp"], features=Xa, train_features=Xt.drop(columns=["mean radius"]),
                    methods="coverage")
    assert "\n" not in str(e.value)
    bad = Xt.copy()
    bad["mean radius"] = bad["mean radius"].astype(str)
    with pytest.raises(DataError, match="dtype"):
        find_slices(planted["ya"], planted["yp"], features=Xa, train_features=bad, methods="coverage")
    with pytest.raises(ParameterError, match="training rows"):
        find_slices(planted["ya"], planted["yp"], features=Xa, methods="coverage")
    with pytest.raises(DataError, match="columns"):
        find_slices(planted["ya"], planted["yp"], embeddings=Xa.to_numpy(), train_embeddings=Xt.to_numpy()[:, :5],
                    methods="coverage")
    with pytest.raises(CurakitError):
        find_slices(planted["ya"], planted["yp"], features=Xa, train_features=Xt.iloc[:1], methods="coverage")
    with pytest.raises(DataError, match="train_labels"):
        find_slices(planted["ya"], planted["yp"], features=Xa, train_labels=np.array(["a", "b"]),
                    methods="confusion")


def test_identical_rows_give_no_gap():
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    same = pd.DataFrame([X.iloc[0].to_numpy()] * 60, columns=X.columns)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    d = find_slices(y, y[::-1], features=same, train_features=same, methods="coverage")
    assert len(d.slices) == 0


# -- the gap search: small tables, categorical columns, a permutation null -----------------------
def _wine_malic(seed: int = 1):
    """wine halves; rows in the top 20 % of malic_acid kept in training 1 time in 20 (seed 1: 23
    such rows analysed, none in training)."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(seed)
    region = (X["malic_acid"] > X["malic_acid"].quantile(0.8)).to_numpy()
    idx = rng.permutation(len(X))
    tr, an = idx[:89], idx[89:]
    tr = np.array([i for i in tr if not region[i] or rng.random() < 0.05])
    return X.iloc[tr].reset_index(drop=True), X.iloc[an].reset_index(drop=True), y.to_numpy()[an], region[an]


def test_small_table_gap_found_as_one_readable_rule():
    Xt, Xa, ya, region = _wine_malic()
    d = find_slices(ya, ya, features=Xa, train_features=Xt, methods="coverage", random_state=0)
    top = d.slices[0]
    assert _jaccard(top.mask(), region) >= 0.7
    assert [c["feature"] for c in top.definition["conditions"]] == ["malic_acid"]
    assert top.description.startswith("malic_acid > ")
    # the readable threshold splits the rows exactly as the rule's members say
    np.testing.assert_array_equal(top.contains(features=Xa), top.mask())
    info = top.evidence["diagnoser"]
    assert info["statistic"] == "llr" and info["null_gap"]["under_represented:1"] > 0


@pytest.mark.parametrize("seed", [100, 101, 102])
def test_no_gap_no_slice(seed):
    """Random halves of a real table: the permutation null keeps the search quiet."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    idx = np.random.default_rng(seed).permutation(len(X))
    tr, an = idx[:284], idx[284:]
    ya = y.to_numpy()[an]
    d = find_slices(ya, ya, features=X.iloc[an].reset_index(drop=True), train_features=X.iloc[tr].reset_index(drop=True),
                    methods="coverage", coverage={"max_depth": 0}, random_state=seed)
    assert [s for s in d.slices if "under_represented" in s.evidence["reasons"]] == []


def test_categorical_level_gap_is_an_in_rule():
    from sklearn.datasets import load_diabetes

    X, _ = load_diabetes(return_X_y=True, as_frame=True)
    X = X[["age", "bmi", "bp"]].assign(sex=np.where(X["sex"] > 0, "M", "F"))
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, an = idx[:221], idx[221:]
    region = (X["sex"] == "F").to_numpy() & (X["bmi"] > X["bmi"].median()).to_numpy()
    tr = np.array([i for i in tr if not region[i] or rng.random() < 0.05])
    Xt, Xa = X.iloc[tr].reset_index(drop=True), X.iloc[an].reset_index(drop=True)
    y = np.r_[np.zeros(len(Xa) // 2, int), np.ones(len(Xa) - len(Xa) // 2, int)]
    d = find_slices(y, y, features=Xa, train_features=Xt, methods="coverage", random_state=0)
    hits = [s for s in d.slices[:3] if _jaccard(s.mask(), region[an]) >= 0.6]
    assert hits
    conds = {c["feature"]: c for c in hits[0].definition["conditions"]}
    assert conds["sex"]["op"] == "in" and conds["sex"]["value"] == ["F"]
    np.testing.assert_array_equal(hits[0].contains(features=Xa), hits[0].mask())


def test_class_prior_shift_is_listed_with_class_names():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    names = np.asarray(load_breast_cancer().target_names)[y]
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, an = idx[:284], idx[284:]
    tr = np.array([i for i in tr if names[i] != "malignant" or rng.random() < 0.1])
    ya = names[an]
    yp = ya.copy()  # a perfect model: recall is fine, only the representation changed
    d = find_slices(ya, yp, features=X.iloc[an].reset_index(drop=True), train_labels=names[tr],
                    methods="confusion")
    shift = [s for s in d.slices if s.definition == {"kind": "class", "label": "malignant"}]
    assert len(shift) == 1
    s = shift[0]
    assert s.description.startswith("true class 'malignant': under-represented in training (")
    assert s.reason == "under-represented in training"
    assert s.train_share < 0.5 * s.share and s.evidence["gap"] > 0
    assert not [x for x in d.slices if x.definition.get("label") == "benign"]


def test_scan_statistic_and_readable_threshold():
    from diagnose._coverage_search import rounded_threshold, scan_llr

    # equal fractions inside and outside: no evidence; more lopsided: more evidence
    assert scan_llr(10, 10, 100, 100) == pytest.approx(0.0, abs=1e-9)
    assert scan_llr(20, 2, 100, 100) > scan_llr(15, 5, 100, 100) > 0
    # symmetric in the two sides
    assert scan_llr(20, 2, 100, 100) == pytest.approx(scan_llr(2, 20, 100, 100))
    assert rounded_threshold(13.4251, 13.40, 13.45) == 13.4
    assert rounded_threshold(2.5, 2.5, 2.5) == 2.5
    r = rounded_threshold(0.123456, 0.1234, 0.12351)
    assert 0.1234 <= r < 0.12351 and len(repr(r)) <= len("0.1235")


def test_coverage_options_are_checked():
    Xt, Xa, ya, _ = _wine_malic()
    for bad in ({"statistic": "kl"}, {"n_null": -1}, {"beam": 1.5}, {"max_depth": 7}):
        with pytest.raises(ParameterError, match="coverage"):
            find_slices(ya, ya, features=Xa, train_features=Xt, methods="coverage", coverage=bad)


def test_middle_band_is_found_as_an_interval():
    """A band in the middle of one feature (each half-line covers most rows) is reached by the beam."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(1)
    c = X["mean texture"]
    region = ((c > c.quantile(0.4)) & (c <= c.quantile(0.65))).to_numpy()
    idx = rng.permutation(len(X))
    tr, an = idx[:284], idx[284:]
    tr = np.array([i for i in tr if not region[i] or rng.random() < 0.05])
    ya = y.to_numpy()[an]
    d = find_slices(ya, ya, features=X.iloc[an].reset_index(drop=True), train_features=X.iloc[tr].reset_index(drop=True),
                    methods="coverage", coverage={"max_depth": 0}, random_state=0)
    top = d.slices[0]
    assert _jaccard(top.mask(), region[an]) >= 0.7
    assert sorted(c["op"] for c in top.definition["conditions"]) == ["<=", ">"]
    assert " < mean texture <= " in top.description


def test_search_matches_brute_force_on_one_predicate_rules():
    """The cumulative-count scan finds, per column and operator, the best threshold a plain loop finds."""
    from diagnose._coverage import _encode
    from diagnose._coverage_search import GapSearch, scan_llr

    Xt, Xa, _, _ = _wine_malic()
    xa, xt, cats, _ = _encode(Xa, Xt)
    cols = [str(c) for c in Xa.columns]
    search = GapSearch(xa, xt, cols, cats, min_support=10, max_support=0.5, beam=0)
    got = {(c[2][0]["feature"], c[2][0]["op"]): c[0] for c in search.observed() if c[1] == "under_represented"}
    for j, col in enumerate(cols):
        values = np.unique(np.r_[xa[:, j], xt[:, j]])
        for op in ("<=", ">"):
            best = 0.0
            for t in (values[1:] + values[:-1]) / 2:
                ma, mt = (xa[:, j] <= t, xt[:, j] <= t) if op == "<=" else (xa[:, j] > t, xt[:, j] > t)
                ka, kt = int(ma.sum()), int(mt.sum())
                if 10 <= ka <= 0.5 * len(xa) and ka * len(xt) > kt * len(xa):
                    best = max(best, float(scan_llr(ka, kt, len(xa), len(xt))))
            assert got.get((col, op), 0.0) == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_domain_ratio_takes_a_categorical_of_more_than_255_levels():
    """An id or date column read as text has more levels than HistGradientBoosting's categorical limit (255):
    the domain classifier treats its codes as ordinal numbers instead of failing."""
    from diagnose._coverage import domain_ratio

    rng = np.random.default_rng(0)
    xt, xa = rng.normal(size=(400, 3)), rng.normal(loc=1.0, size=(300, 3))
    xt[:, 2], xa[:, 2] = rng.integers(0, 400, 400), rng.integers(0, 400, 300)  # 400 levels
    pa, pt = domain_ratio(xa, xt, cat_idx=[2], random_state=0)
    assert pa.shape == (300,) and pt.shape == (400,)
    assert pa.mean() > pt.mean() + 0.1  # the shifted numeric columns are still found
