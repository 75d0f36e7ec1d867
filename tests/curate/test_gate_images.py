"""Planted harm on images: digits 8x8 as images, a small CNN; a candidate retrained with one class's
labels deliberately wrong is refused, and the gate names those rows, with the regression features
computed from the champion by ``diagnose.embed`` (promote_if_better(eval_sets=...))."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

import curate  # noqa: E402
from diagnose import Slice  # noqa: E402

HARMED = 3


@pytest.fixture(scope="module")
def setup(digits):
    import torch
    from _retrain_fixtures import images, make_ts, trained_cnn

    torch.set_num_threads(1)
    ts, evals, d = images(digits)
    champion = trained_cnn(digits, epochs=3)
    train = np.concatenate([d["old_train"], d["new_train"]])
    origins = ["old"] * len(d["old_train"]) + ["new"] * len(d["new_train"])
    y = d["labels"][train].copy()
    y[y == HARMED] = (HARMED + 1) % 10  # the harm: every 3 in the training set labelled 4
    harmful_ts = make_ts(pd.DataFrame({"digit": y}), "digit", origins, images=d["images"][train])
    kw = dict(strategy="continue_all", eval_sets=evals, epochs=3, lr=1e-2, random_state=0)
    harmful = curate.retrain(champion, harmful_ts, **kw)
    harmless = curate.retrain(champion, ts, **kw)
    return champion, evals, harmful, harmless


def _lenient():
    # only the regression search / named slices can refuse: gain and old-drop checks wide open
    return curate.Gate(min_gain_new=-1.0, max_drop_old=1.0, n_bootstrap=300)


def test_harmful_candidate_is_refused_and_the_harmed_class_named(setup, tmp_path):
    champion, evals, harmful, _ = setup
    y_new = evals["new"][1]
    reg = curate.Registry(tmp_path / "reg")
    reg.register(champion)
    promo = reg.promote_if_better(harmful, gate=_lenient(), eval_sets=evals)
    assert not promo.promoted and reg.champion == "v1"
    checks = promo.decision["checks"]
    assert checks["new_gain"]["passed"] and checks["old_drop"]["passed"]  # lenient: not what refused it
    assert not checks["regressions"]["passed"] and sorted(checks["regressions"]["searched"]) == ["new", "old"]
    regs = [r for r in promo.decision["regressions"] if r["eval_set"] == "new"]
    assert regs
    top = regs[0]
    rows = np.asarray(top["indices"])
    # the reported slice is mostly the harmed class, and covers most of the 3s the champion got right
    assert np.mean(y_new[rows] == HARMED) >= 0.6
    champ_ok = harmful.baseline_predictions["new"].y_pred == y_new
    harmed = np.flatnonzero((y_new == HARMED) & champ_ok)
    assert len(np.intersect1d(rows, harmed)) >= 0.5 * len(harmed)
    assert any("regression search" in r and r.endswith("fail") for r in promo.reasons)


def test_a_named_slice_of_the_harmed_class_is_refused(setup):
    champion, evals, harmful, _ = setup
    y_new = evals["new"][1]
    named = Slice(id="threes", method="rules", description="label 3", indices=np.flatnonzero(y_new == HARMED),
                  n_analysed=len(y_new), error_rate=0.0, baseline_error_rate=0.0)
    dec = _lenient().evaluate(harmful.predictions, harmful.baseline_predictions, slices={"new": [named]})
    assert not dec.passed and [s.evidence["slice"] for s in dec.regressions] == ["threes"]
    assert dec.regressions[0].evidence["drop"] > 0.3


def test_harmless_candidate_is_not_refused_for_the_harmed_class(setup, tmp_path):
    champion, evals, _, harmless = setup
    y_new = evals["new"][1]
    reg = curate.Registry(tmp_path / "reg")
    reg.register(champion)
    promo = reg.promote_if_better(harmless, gate=_lenient(), eval_sets=evals)
    for r in promo.decision["regressions"]:  # whatever else it flags, it is not the class nobody harmed
        assert np.mean(y_new[np.asarray(r["indices"])] == HARMED) < 0.6 or r["eval_set"] == "old"


def test_features_come_from_diagnose_embed_of_the_champion(setup):
    from diagnose import embed

    champion, evals, harmful, _ = setup
    from curate._gate import regression_features

    feats = regression_features(champion, evals)
    np.testing.assert_allclose(feats["new"], embed(champion, evals["new"][0]), rtol=0, atol=0)
    a = _lenient().evaluate(harmful.predictions, harmful.baseline_predictions, features=feats)
    b = _lenient().evaluate(harmful.predictions, harmful.baseline_predictions, features=feats)
    assert a.to_dict() == b.to_dict()  # same seed, same machine: the same decision


def test_a_champion_that_no_longer_loads_is_a_one_line_error_and_the_registry_stays(setup, tmp_path):
    from curakit.exceptions import RegistryError

    champion, evals, harmful, _ = setup
    reg = curate.Registry(tmp_path / "reg")
    reg.register(champion)
    weights = tmp_path / "reg" / "versions" / "v1" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-16])
    before = (tmp_path / "reg" / "registry.json").read_bytes()
    with pytest.raises(RegistryError, match="does not match its recorded sha256.*Restore it"):
        reg.promote_if_better(harmful, gate=_lenient(), eval_sets=evals)
    assert (tmp_path / "reg" / "registry.json").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "reg" / "versions").iterdir()) == ["v1"]


def test_gate_layer_searches_that_layer_of_the_champion(setup, tmp_path):
    """Gate(layer=) picks the champion's layer the regression search clusters: promote_if_better
    embeds the eval rows there (the harm is still found), a wrong name is a one-line error with a
    did-you-mean that leaves the registry as it was."""
    from curakit.exceptions import ParameterError
    from curate._gate import regression_features
    from diagnose import embed

    champion, evals, harmful, _ = setup
    feats = regression_features(champion, evals, layer="backbone.8")
    np.testing.assert_allclose(feats["old"], embed(champion, evals["old"][0], layer="backbone.8"), rtol=0, atol=0)
    assert feats["old"].shape[1] != regression_features(champion, evals)["old"].shape[1]
    gate = curate.Gate(min_gain_new=-1.0, max_drop_old=1.0, n_bootstrap=300, layer="backbone.8")
    assert gate.to_dict()["layer"] == "backbone.8"
    reg = curate.Registry(tmp_path / "reg")
    reg.register(champion)
    promo = reg.promote_if_better(harmful, gate=gate, eval_sets=evals)
    assert not promo.promoted and not promo.decision["checks"]["regressions"]["passed"]
    fresh = curate.Registry(tmp_path / "fresh")
    fresh.register(champion)
    before = (tmp_path / "fresh" / "registry.json").read_bytes()
    with pytest.raises(ParameterError, match=r"backbone\.88.*[Dd]id you mean 'backbone\.8'"):
        fresh.promote_if_better(harmful, gate=curate.Gate(layer="backbone.88"), eval_sets=evals)
    assert (tmp_path / "fresh" / "registry.json").read_bytes() == before
    for bad in (3, ""):
        with pytest.raises(ParameterError, match=r"^The 'layer' parameter of Gate must be None or a layer name"):
            curate.Gate(layer=bad)
