"""estimate_fill_value (issue 11 item 3): a head on frozen features with and without each fill.

Real data: sklearn digits (as a table and as 8x8 images) and breast_cancer. The thin slice is
digit 3 (a handful of 3s in the old rows); the helpful fill is real held-out 3s, the harmful fill
the same rows labelled 8. Margins are set by the construction (a whole class relabelled), not by
a value seen on this machine."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import curate
from curakit.exceptions import DataError, ParameterError
from curate import FillPriorWarning, estimate_fill_value

THIN, WRONG = 3, 8


def _split(labels):
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(labels))
    thin, rest = idx[labels[idx] == THIN], idx[labels[idx] != THIN]
    return {"old": np.concatenate([rest[:700], thin[:4]]), "new": np.concatenate([rest[700:1000], thin[4:34]]),
            "pool": thin[34:120], "test": np.concatenate([rest[1000:], thin[120:]])}


@pytest.fixture(scope="module")
def table():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    d = load_digits(as_frame=True)
    X, y = d.data, d.target.to_numpy()
    parts = _split(y)

    def frame(ix, label=None):
        f = X.iloc[ix].reset_index(drop=True)
        f["digit"] = y[ix] if label is None else label
        return f

    model = LogisticRegression(max_iter=2000).fit(X.iloc[parts["old"]], y[parts["old"]])
    return {"model": model, "old": frame(parts["old"]), "new": frame(parts["new"]), "test": frame(parts["test"]),
            "good": frame(parts["pool"]), "bad": frame(parts["pool"], WRONG)}


def _estimate(t, fills, **kw):
    return estimate_fill_value(t["model"], t["old"], t["new"], fills, target="digit", **kw)


def test_helpful_fill_ranks_above_harmful(table):
    fv = _estimate(table, {"bad": table["bad"], "good": table["good"]})
    assert fv.ranking() == ["good", "bad"]
    assert fv.ranking(f"class={THIN}") == ["good", "bad"]
    assert fv.gain("good", f"class={THIN}") > 0
    assert fv.gain("good", f"class={THIN}") - fv.gain("bad", f"class={THIN}") > 0.3
    bad = fv.to_frame().set_index(["fill", "slice"]).loc[("bad", f"class={THIN}")]
    assert bad["high"] < 0 and bad["low"] <= bad["gain"] <= bad["high"]
    assert bad["n"] == 30


def test_estimate_agrees_in_sign_with_full_retrain(table):
    """The independent check: a full retrain (curate.retrain, scratch_all) of the incumbent's model
    with and without each fill, scored on held-out rows the estimate never saw."""
    from _retrain_fixtures import make_ts

    cols = [c for c in table["old"].columns if c != "digit"]
    fv = _estimate(table, {"good": table["good"], "bad": table["bad"]})
    thin = table["test"]["digit"].to_numpy() == THIN

    def full(fill):
        parts = [table["old"], table["new"]] + ([fill] if fill is not None else [])
        origins = ["old"] * len(table["old"]) + ["new"] * (sum(map(len, parts)) - len(table["old"]))
        ts = make_ts(pd.concat(parts, ignore_index=True), "digit", origins, features=cols,
                     splits=["train"] * len(origins))
        res = curate.retrain(table["model"], ts, strategy="scratch_all", eval_sets={"new": table["test"]},
                             random_state=0)
        return (res.model.predict(table["test"][cols]) == table["test"]["digit"].to_numpy())[thin].mean()

    plain = full(None)
    for name in ("good", "bad"):
        effect = full(table[name]) - plain
        assert abs(effect) > 0.05  # the case has a clear effect
        assert np.sign(effect) == np.sign(fv.gain(name, f"class={THIN}"))


def test_parents_stop_a_fill_of_new_rows_from_leaking(table):
    copy = table["new"].copy()  # a "fill" that is the new rows themselves
    leaky = _estimate(table, {"copy": copy}, C=100.0)
    kept = _estimate(table, {"copy": copy}, C=100.0, parents={"copy": np.arange(len(copy))})
    assert leaky.to_frame().iloc[0]["low"] > 0  # scoring rows the head was given: a false gain
    assert kept.gain("copy") < leaky.gain("copy") - 0.02


def test_parents_new_reads_an_oversample_tuple(table):
    """An augment.oversample result made from new (its originals are copies of new rows) names its
    parents in the provenance: parents='new' reads them, so the copies do not leak."""
    import augment

    cols = [c for c in table["new"].columns if c != "digit"]
    n = {c: 40 for c in range(10)}  # 400 copies of new rows (the input rows themselves are dropped, as add() does)
    X2, y2, prov = augment.oversample(table["new"][cols], table["new"]["digit"], method="random_over", n=n,
                                      random_state=0)
    fill = (X2, y2, prov)
    assert estimate_fill_value(table["model"], table["old"], table["new"], {"over": fill}, target="digit",
                               n_bootstrap=10).params["n_fill"]["over"] == 400
    leaky = _estimate(table, {"over": fill}, C=100.0)
    kept = _estimate(table, {"over": fill}, C=100.0, parents="new")
    assert kept.gain("over") < leaky.gain("over") - 0.02
    with pytest.raises(DataError, match="parent"):
        _estimate(table, {"g": table["good"]}, parents="new")


def test_missing_parents_ignore_estimates_fills_without_lineage(table):
    """missing_parents='ignore' (the recipe run's setting): a fill whose lineage names parents is kept out of
    its parents' folds exactly as with parents='new'; one without lineage is estimated without them (as with
    parents=None) and listed in params['parents_missing'], instead of raising."""
    import augment

    cols = [c for c in table["new"].columns if c != "digit"]
    fill = augment.oversample(table["new"][cols], table["new"]["digit"], method="random_over",
                              n={c: 40 for c in range(10)}, random_state=0)
    fills = {"over": fill, "good": table["good"]}
    both = _estimate(table, fills, C=100.0, parents="new", missing_parents="ignore", n_bootstrap=50)
    strict = _estimate(table, {"over": fill}, C=100.0, parents="new", n_bootstrap=50)
    plain = _estimate(table, {"good": table["good"]}, C=100.0, n_bootstrap=50)
    assert both.params["parents_missing"] == ["good"] and strict.params["parents_missing"] == []
    assert both.gain("over") == strict.gain("over") and both.forgetting("over") == strict.forgetting("over")
    assert both.gain("good") == plain.gain("good")
    with pytest.raises(DataError, match="parent"):  # the default still names the problem
        _estimate(table, fills, parents="new")
    with pytest.raises(DataError, match="positions"):  # explicit positions are always checked
        _estimate(table, fills, parents={"good": np.arange(5)}, missing_parents="ignore")
    with pytest.raises(ParameterError, match="missing_parents"):
        _estimate(table, fills, missing_parents="skip")


def test_same_seed_same_output_and_records(table):
    fills = {"good": table["good"].iloc[:40]}
    a = _estimate(table, fills, n_splits=3, slices={"first50": np.arange(50)}, random_state=3)
    b = _estimate(table, fills, n_splits=3, slices={"first50": np.arange(50)}, random_state=3)
    assert a.to_dict() == b.to_dict()
    json.dumps(a.to_dict())
    frame = a.to_frame()
    assert list(frame.columns) == ["fill", "slice", "n", "acc_without", "acc_with", "gain", "low", "high",
                                   "prior_shift", "forgetting", "forgetting_low", "forgetting_high"]
    assert set(a.old_frame()["slice"]) == {"all"} | {f"class={k}" for k in range(10)}
    assert list(a.per_fill()["fill"]) == ["good"] and a.per_fill()["n_fill"].item() == 40
    assert set(frame["slice"]) == {"all", "first50"} | {f"class={k}" for k in range(10)}
    assert frame.loc[frame["slice"] == "first50", "n"].item() == 50
    assert "good" in repr(a)


def test_forgetting_on_old_flags_a_fill_that_relabels_an_old_class(table):
    """Forgetting: the same heads scored on held-out old rows. 'wrong0' is 64 real zeros labelled 6 while
    old + new hold ~90 correct zeros: the head must lose a large part of old class 0 (~10 % of old).
    'right0' is the same zeros with their true label (an easy class: nothing to forget), and 'good'
    (real threes) helps its thin class at little cost on old."""
    zeros = table["test"][table["test"]["digit"] == 0]
    fv = _estimate(table, {"wrong0": zeros.assign(digit=6), "right0": zeros, "good": table["good"]})
    assert fv.forgetting("wrong0", "class=0") > 0.25  # a constructed flip of a whole class's labels
    assert fv.forgetting("wrong0") > 0.02
    per = fv.per_fill().set_index("fill")
    assert per.loc["wrong0", "forgetting_low"] > 0 and per.loc["wrong0", "harmful"]
    assert abs(fv.forgetting("right0")) < 0.01 and not fv.harmful("right0")
    assert fv.gain("good", f"class={THIN}") > 0 and not fv.harmful("good")
    assert per.loc["good", "forgetting"] < per.loc["wrong0", "forgetting"] - 0.02
    assert fv.old_frame().set_index(["fill", "slice"]).loc[("wrong0", "class=0"), "n"] == (
        table["old"]["digit"] == 0).sum()
    with pytest.raises(ParameterError, match="no old row"):
        fv.forgetting("wrong0", "nope")


def test_parents_old_keep_a_fill_of_old_rows_out_of_their_fold(table):
    """Copies of old rows would score themselves on the old folds (a false 'no forgetting');
    parents='old' reads an oversample provenance of old, ('old', positions) names them directly."""
    import augment

    cols = [c for c in table["old"].columns if c != "digit"]
    X2, y2, prov = augment.oversample(table["old"][cols], table["old"]["digit"], method="random_over",
                                      n={c: 100 for c in range(10)}, origin="old", random_state=0)
    fill = {"over": (X2, y2, prov)}
    leaky = _estimate(table, fill, C=100.0)
    kept = _estimate(table, fill, C=100.0, parents="old")
    assert kept.forgetting("over") > leaky.forgetting("over") + 0.01
    copy = {"copy": (table["old"][cols], table["old"]["digit"].to_numpy())}
    named = _estimate(table, copy, C=100.0, parents={"copy": ("old", np.arange(len(table["old"])))})
    assert named.forgetting("copy") > _estimate(table, copy, C=100.0).forgetting("copy") + 0.01
    with pytest.raises(DataError, match="positions in old"):
        _estimate(table, copy, parents={"copy": ("old", np.arange(3))})


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    d = load_breast_cancer(as_frame=True)
    f = d.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    old, new, rest = f.iloc[:200], f.iloc[200:400].reset_index(drop=True), f.iloc[400:].reset_index(drop=True)
    model = LogisticRegression(max_iter=5000).fit(old.drop(columns="target"), old["target"])
    return model, old, new, rest


def test_prior_warning_when_a_fill_makes_a_class_the_majority(cancer):
    model, old, new, rest = cancer
    malignant = rest[rest["target"] == 0]
    flood = pd.concat([malignant] * 8, ignore_index=True)  # real rows, repeated: > 400 malignant rows
    with pytest.warns(FillPriorWarning) as record:
        fv = estimate_fill_value(model, old, new, {"flood": flood}, target="target", n_bootstrap=200)
    messages = [str(w.message) for w in record]
    assert any("majority" in m for m in messages) and any("total variation" in m for m in messages)
    assert all("\n" not in m for m in messages)
    from curakit.exceptions import CurakitWarning

    assert issubclass(FillPriorWarning, CurakitWarning)
    assert fv.priors["flood"]["tv_with"] > 0.25 > fv.priors["flood"]["tv_without"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FillPriorWarning)
        estimate_fill_value(model, old, new, {"few": rest.iloc[:30]}, target="target", n_bootstrap=200)


def test_bad_input_is_one_line(table):
    with pytest.raises(DataError, match="no rows"):
        _estimate(table, {"empty": table["good"].iloc[:0]})
    with pytest.raises(DataError, match="target column"):
        estimate_fill_value(table["model"], table["old"], table["new"], table["good"], target="label")
    with pytest.raises(DataError, match="mask of shape"):
        _estimate(table, table["good"], slices={"s": np.ones(3, dtype=bool)})
    with pytest.raises(DataError, match="parents"):
        _estimate(table, {"g": table["good"]}, parents={"g": np.arange(5)})
    with pytest.raises(ParameterError, match="n_splits"):
        _estimate(table, table["good"], n_splits=1)
    with pytest.raises(DataError, match="lacks the feature columns"):
        _estimate(table, table["good"].drop(columns=["pixel_0_0"]))


def test_torch_model_uses_its_embedding(digits):
    torch = pytest.importorskip("torch")
    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN

    torch.set_num_threads(1)
    images, labels = digits
    p = _split(labels)
    model = reset_parameters(SmallCNN(num_classes=10, in_channels=1, width=8), 0)
    fit_torch(model, images[p["old"]], labels[p["old"]], config=TrainConfig(epochs=3, lr=1e-2, batch_size=64), seed=0)
    good = (images[p["pool"]], labels[p["pool"]])
    bad = {"images": images[p["pool"]], "labels": np.full(len(p["pool"]), WRONG)}
    fv = estimate_fill_value(model, (images[p["old"]], labels[p["old"]]), (images[p["new"]], labels[p["new"]]),
                             {"good": good, "bad": bad}, n_bootstrap=300)
    assert fv.params["features"] == "embedding"
    assert fv.ranking(f"class={THIN}") == ["good", "bad"]
    assert fv.gain("good", f"class={THIN}") - fv.gain("bad", f"class={THIN}") > 0.3
