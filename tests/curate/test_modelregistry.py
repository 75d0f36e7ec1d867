import json
import multiprocessing as mp
import re

import numpy as np
import pytest
import torch
from _retrain_fixtures import images, tabular, trained_cnn
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import DataError, ParameterError, RegistryError
from curate import _modelregistry
from curate._retrain import EvalPredictions, model_hash


@pytest.fixture(scope="module")
def tab(digits):
    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    better = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals)
    same = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals)
    return ts, evals, model, better, same


@pytest.fixture(scope="module")
def img(digits):
    ts, evals, d = images(digits)
    model = trained_cnn(digits, epochs=2)
    return ts, evals, model


# -- gate --------------------------------------------------------------------------------------
def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.arange(3))


def test_gate_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    champ = np.where(rng.random(400) < 0.7, y, (y + 1) % 3)
    better = np.where(rng.random(400) < 0.5, y, champ)  # strictly more right
    gate = curate.Gate(min_gain_new=0.05, max_drop_old=0.01)
    d = gate.evaluate({"new": _preds(y, better), "old": _preds(y, champ)}, {"new": _preds(y, champ), "old": _preds(y, champ)})
    assert d.passed and d.checks["new_gain"]["lower"] >= 0.05 and d.checks["old_drop"]["upper"] == 0.0
    assert d.reasons[0].startswith("new: accuracy gain +") and d.reasons[0].endswith("pass")
    # identical models: no gain on new -> not promoted
    d = gate.evaluate({"new": _preds(y, champ), "old": _preds(y, champ)}, {"new": _preds(y, champ), "old": _preds(y, champ)})
    assert not d.passed and d.checks["old_drop"]["passed"]
    # better on new but worse on old -> not promoted
    d = gate.evaluate({"new": _preds(y, better), "old": _preds(y, (y + 1) % 3)},
                      {"new": _preds(y, champ), "old": _preds(y, champ)})
    assert not d.passed and d.checks["new_gain"]["passed"] and "fail" in d.reasons[1]
    # seeded: the same decision twice
    a = curate.Gate(n_bootstrap=200, random_state=1).evaluate({"new": _preds(y, better), "old": _preds(y, champ)},
                                                             {"new": _preds(y, champ), "old": _preds(y, champ)})
    b = curate.Gate(n_bootstrap=200, random_state=1).evaluate({"new": _preds(y, better), "old": _preds(y, champ)},
                                                             {"new": _preds(y, champ), "old": _preds(y, champ)})
    assert a.to_dict() == b.to_dict()
    f1 = curate.Gate(metric="f1_macro", n_bootstrap=50).evaluate(
        {"new": _preds(y, better), "old": _preds(y, champ)}, {"new": _preds(y, champ), "old": _preds(y, champ)})
    assert f1.checks["new_gain"]["observed"] > 0


def test_gate_bad_input():
    with pytest.raises(ParameterError, match=r"The 'confidence' parameter of Gate must be a float in the range \(0\.5, 1\.0\)\. Got 1\.5 instead\."):
        curate.Gate(confidence=1.5)
    with pytest.raises(ParameterError, match=r"The 'max_drop_old' parameter of Gate must be a float in the range \[0\.0, inf\)"):
        curate.Gate(max_drop_old=-0.1)
    y = np.zeros(5, dtype=int)
    with pytest.raises(DataError, match=r"Gate needs predictions on eval set 'old' for both models"):
        curate.Gate().evaluate({"new": _preds(y, y)}, {"new": _preds(y, y)})
    with pytest.raises(DataError, match=r"not on the same rows \(5 vs 4 labels\)"):
        curate.Gate().evaluate({"new": _preds(y, y), "old": _preds(y, y)}, {"new": _preds(y[:4], y[:4]), "old": _preds(y, y)})


# -- registry ------------------------------------------------------------------------------------
def test_register_promote_reject_rollback(tab, tmp_path):
    ts, evals, model, better, same = tab
    reg = curate.Registry(tmp_path / "reg")
    v1 = reg.register(model, note="incumbent", training_set=ts)
    assert v1.version == "v1" and reg.champion == "v1" and v1.training_set == ts.fingerprint()
    promo = reg.promote_if_better(better, gate=curate.Gate(min_gain_new=0.02, max_drop_old=0.05))
    assert promo.promoted and promo.champion_before == "v1" and promo.champion_after == "v2" and reg.champion == "v2"
    assert promo.decision["checks"]["new_gain"]["lower"] >= 0.02
    # promoting the same result again: idempotent (no new version, no history entry)
    twice = reg.promote_if_better(better, gate=curate.Gate(min_gain_new=0.02, max_drop_old=0.05))
    assert twice.version == "v2" and twice.promoted and not twice.registered and reg.champion == "v2"
    # do_nothing registers nothing, whoever the champion is
    skip = reg.promote_if_better(same)
    assert skip.version is None and not skip.promoted and not skip.registered and "do_nothing" in skip.reasons[0]
    # a result trained from v1 when v2 is champion: registered, never promoted
    stale = curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals)
    stale_p = reg.promote_if_better(stale)
    assert not stale_p.promoted and reg.champion == "v2"
    assert "is not the model this result was retrained from" in stale_p.reasons[0]
    # a no-gain candidate retrained from the champion: rejected by the gate
    v2_model = reg.load()
    again = curate.retrain(v2_model, ts, strategy="continue_all", eval_sets=evals)
    rej = reg.promote_if_better(again)
    assert not rej.promoted and rej.registered and any("fail" in r for r in rej.reasons)
    assert [v.version for v in reg.versions()] == ["v1", "v2", "v3", "v4"]
    rec = reg.version("v2")
    assert rec.strategy == "continue_all" and rec.metrics["new"]["accuracy"] == better.metrics["new"]["accuracy"]
    assert rec.model_hash == model_hash(better.model) and rec.training_set == ts.fingerprint()
    # one entry per event
    assert [(e["event"], e["version"]) for e in reg.history()] == [
        ("register", "v1"), ("promote", "v2"), ("reject", "v3"), ("reject", "v4")]
    # rollback to the previous champion, then nothing earlier
    assert reg.rollback().version == "v1" and reg.champion == "v1"
    with pytest.raises(RegistryError, match=r"No earlier champion to roll back to: v1 is the only champion"):
        reg.rollback()
    assert reg.rollback(to="v3").version == "v3" and reg.champion == "v3"
    with pytest.raises(RegistryError, match=r"No version 'v9' in the registry\..*Versions: v1, v2, v3, v4\."):
        reg.rollback(to="v9")
    frame = reg.to_frame()
    assert frame.loc[frame["champion"], "version"].tolist() == ["v3"]
    # a fresh Registry object on the same folder reads the same state
    assert curate.Registry(tmp_path / "reg").champion == "v3"
    loaded = reg.load("v2")
    assert (loaded.predict(evals["new"][ts.features]) == better.predictions["new"].y_pred).all()


def test_empty_registry_errors(tmp_path):
    reg = curate.Registry(tmp_path / "empty")
    with pytest.raises(RegistryError, match=r"has no champion yet"):
        reg.load()
    with pytest.raises(RegistryError, match=r"No earlier champion to roll back to: no version is the only"):
        reg.rollback()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RegistryError, match=r"is a file, not a registry folder"):
        curate.Registry(tmp_path / "file")
    with pytest.raises(ParameterError, match=r"must be a RetrainResult with its model"):
        reg.promote_if_better("result")


def test_first_promotion_becomes_champion_and_recipe_hash(tab, tmp_path):
    *_, better, _ = tab
    reg = curate.Registry(tmp_path / "r")
    recipe = {"retrain": {"strategies": ["continue_all"]}}
    promo = reg.promote_if_better(better, recipe=recipe)
    assert promo.promoted and promo.reasons == ("No champion yet: the first version becomes champion.",)
    rec = reg.version()
    assert rec.recipe == recipe and re.fullmatch(r"[0-9a-f]{64}", rec.recipe_hash)
    assert json.loads((tmp_path / "r" / "versions" / "v1" / "version.json").read_text())["recipe_hash"] == rec.recipe_hash


def test_torch_models_round_trip_without_pickle(img, tmp_path):
    ts, evals, model = img
    reg = curate.Registry(tmp_path / "t")
    reg.register(model)
    head = curate.retrain(model, ts, strategy="finetune_head", eval_sets=evals, epochs=1, num_classes=12)
    ens = curate.retrain(model, ts, strategy="ensemble_all", eval_sets=evals, epochs=1)
    for r in (head, ens):
        v = reg.register(r.model, metrics=r.metrics, strategy=r.strategy)
        back = reg.load(v.version)
        assert type(back).__name__ == type(r.model).__name__ and model_hash(back) == model_hash(r.model)
    assert reg.load("v2").head.out_features == 12
    spec = json.loads((tmp_path / "t" / "versions" / "v1" / "model.json").read_text())
    assert spec["format"] == "torch-state-dict" and spec["spec"]["class"] == "curate.models:SmallCNN"
    assert {"num_classes": 10, "in_channels": 1, "width": 8}.items() <= spec["spec"]["init_kwargs"].items()

    class Local(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            self.lin = torch.nn.Linear(3, k)

        def forward(self, x):
            return self.lin(x)

    v = reg.register(Local(4), champion=False)
    with pytest.raises(RegistryError, match=r"cannot be rebuilt from its spec: class .*Local is not importable.*Pass factory="):
        reg.load(v.version)
    assert isinstance(reg.load(v.version, factory=lambda: Local(4)), Local)


def test_tampered_model_file_is_refused(tab, tmp_path):
    _, _, model, *_ = tab
    reg = curate.Registry(tmp_path / "x")
    reg.register(model)
    path = tmp_path / "x" / "versions" / "v1" / "model.skops"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RegistryError, match=r"does not match its recorded sha256"):
        reg.load()


def test_a_crash_mid_write_leaves_the_registry_unchanged(tab, tmp_path, monkeypatch):
    ts, evals, model, better, _ = tab
    reg = curate.Registry(tmp_path / "c")
    reg.register(model)
    state = (tmp_path / "c" / "registry.json").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(_modelregistry, "save_model_artifact", boom)  # crash while writing the model
    with pytest.raises(OSError, match="injected"):
        reg.promote_if_better(better)
    monkeypatch.undo()
    monkeypatch.setattr(_modelregistry, "atomic_write_json", boom)  # crash after the version folder, before the state
    with pytest.raises(OSError, match="injected"):
        reg.promote_if_better(better)
    monkeypatch.undo()
    assert (tmp_path / "c" / "registry.json").read_bytes() == state
    assert [v.version for v in reg.versions()] == ["v1"] and reg.champion == "v1"
    assert not [p for p in (tmp_path / "c" / "versions").iterdir() if p.name.startswith(".")]
    # and the registry keeps working: the orphan folder of the failed v2 is replaced
    promo = reg.promote_if_better(better)
    assert promo.version == "v2" and model_hash(reg.load("v2")) == better.candidate_hash


def test_a_failed_retrain_leaves_the_registry_untouched(tab, tmp_path):
    ts, evals, model, *_ = tab
    reg = curate.Registry(tmp_path / "f")
    reg.register(model)
    before = (tmp_path / "f" / "registry.json").read_bytes()
    with pytest.raises(ParameterError):
        reg.promote_if_better(curate.retrain(reg.load(), ts, strategy="continue_all", eval_sets=evals, epoch=3))
    assert (tmp_path / "f" / "registry.json").read_bytes() == before


def _promote_in_child(path, result_dir, n, queue):
    reg = curate.Registry(path)
    result = curate.RetrainResult.load(result_dir)
    out = [reg.promote_if_better(result, gate=curate.Gate(max_drop_old=1.0)).version for _ in range(n)]
    queue.put(out)


def test_two_processes_promoting_at_once(tab, tmp_path):
    ts, evals, model, better, _ = tab
    reg = curate.Registry(tmp_path / "p")
    reg.register(model)
    better.save(tmp_path / "res")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_promote_in_child, args=(tmp_path / "p", tmp_path / "res", 3, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # the same result promoted six times from two processes: one version, one promotion (idempotent)
    assert [v for g in got for v in g] == ["v2"] * 6
    assert [v.version for v in reg.versions()] == ["v1", "v2"] and reg.champion == "v2"
    events = reg.history()
    assert [e["event"] for e in events] == ["register", "promote"]
    for v in reg.versions():
        reg.load(v.version)


def test_registry_list_shows_the_incumbents_scores(tab, tmp_path):
    ts, evals, model, better, _ = tab
    reg = curate.Registry(tmp_path / "reg")
    reg.register(model, metrics=better.baseline_metrics)  # no metric name given
    frame = reg.to_frame()
    assert frame.loc[0, "new"] == better.baseline_metrics["new"]["accuracy"]
    assert frame.loc[0, "old"] == better.baseline_metrics["old"]["accuracy"]
    assert [e["event"] for e in reg.history()] == ["register"] and reg.history()[0]["champion_after"] == "v1"
