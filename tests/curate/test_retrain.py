import json

import numpy as np
import pytest
from _retrain_fixtures import images, tabular, trained_cnn
from sklearn.linear_model import LogisticRegression

import curate
from curakit.exceptions import DataError, NotFittedError, ParameterError, UnknownNameError
from curate._retrain import RetrainResult, _embed, model_hash, resolve_metric
from diagnose import Slice


@pytest.fixture(scope="module")
def tab(digits):
    ts, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]]
    model = LogisticRegression(max_iter=200, warm_start=True).fit(old[columns], old["digit"])
    return ts, evals, model, columns


@pytest.fixture(scope="module")
def img(digits):
    ts, evals, d = images(digits)
    return ts, evals, d, trained_cnn(digits, epochs=2)


def test_metrics_structure_and_untouched_model(tab):
    ts, evals, model, _ = tab
    before = model_hash(model)
    r = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals)
    assert model_hash(model) == before
    assert set(r.metrics) == {"old", "new", "slices"}
    assert r.metrics["old"]["n"] == len(evals["old"])
    acc = float((r.model.predict(evals["new"][ts.features]) == evals["new"]["digit"]).mean())
    assert r.metrics["new"]["accuracy"] == pytest.approx(acc)
    assert r.score("new") == r.metrics["new"]["accuracy"]
    assert r.baseline_metrics["new"]["accuracy"] < r.metrics["new"]["accuracy"]
    assert r.train_time > 0 and r.history and r.training_set == ts.fingerprint()
    assert r.info["rows_by_origin"] == {"old": 600, "new": 300}
    assert (r.predict(evals["new"]) == r.predictions["new"].y_pred).all()


def test_eval_set_forms_agree(img):
    ts, evals, d, model = img
    imgs, labels = evals["new"]
    a = curate.retrain(model, ts, strategy="do_nothing", eval_sets={"new": (imgs, labels)})
    b = curate.retrain(model, ts, strategy="do_nothing", eval_sets={"new": {"images": imgs, "labels": labels}})
    c = curate.retrain(model, ts, strategy="do_nothing", eval_sets={"new": (imgs[..., 0], labels)})  # (n, H, W)
    assert a.metrics == b.metrics == c.metrics


def test_bad_eval_sets(tab, img):
    ts, evals, model, _ = tab
    with pytest.raises(ParameterError, match=r"retrain needs eval_sets=\{'old': \.\.\., 'new': \.\.\.\}"):
        curate.retrain(model, ts, strategy="do_nothing")
    with pytest.raises(ParameterError, match=r"retrain needs eval_sets"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets={})
    with pytest.raises(DataError, match=r"Eval set 'new' lacks the target column 'digit'"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets={"new": evals["new"].drop(columns="digit")})
    with pytest.raises(DataError, match=r"lack 1 feature column\(s\) the model uses \(first: 'px3'\)"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets={"new": evals["new"].drop(columns="px3")})
    unseen = evals["new"].copy()
    unseen.loc[:4, "digit"] = 42
    with pytest.raises(DataError, match=r"Eval set 'new' has 1 label value\(s\) that neither the training set nor"):
        curate.retrain(model, ts, strategy="continue_all", eval_sets={"old": evals["old"], "new": unseen})
    its, ievals, _, cnn = img
    with pytest.raises(DataError, match=r"Eval set 'old' holds images but the training set is tabular"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets={"old": ievals["old"]})
    with pytest.raises(DataError, match=r"Eval set 'old' is a DataFrame but the training set holds images"):
        curate.retrain(cnn, its, strategy="do_nothing", eval_sets={"old": evals["old"]})
    bad = (ievals["new"][0], ievals["new"][1].copy())
    bad[1][:3] = 12
    with pytest.raises(DataError, match=r"Eval set 'new' has 1 label value\(s\)"):
        curate.retrain(cnn, its, strategy="do_nothing", eval_sets={"new": bad})
    with pytest.raises(DataError, match=r"Eval set 'x': 5 images but 4 labels"):
        curate.retrain(cnn, its, strategy="do_nothing", eval_sets={"x": (ievals["new"][0][:5], ievals["new"][1][:4])})
    with pytest.raises(DataError, match=r"images must be uint8 shaped \(n, H, W, C\)\. Got shape \(5, 8, 8, 1\) and dtype float"):
        curate.retrain(cnn, its, strategy="do_nothing",
                       eval_sets={"x": (ievals["new"][0][:5].astype(float), ievals["new"][1][:5])})


def test_bad_models(tab, img):
    ts, evals, _, columns = tab
    with pytest.raises(NotFittedError, match=r"The incoming LogisticRegression is not fitted"):
        curate.retrain(LogisticRegression(), ts, strategy="do_nothing", eval_sets=evals)
    with pytest.raises(ParameterError, match=r"The 'model' parameter of retrain must be a torch nn.Module or a fitted"):
        curate.retrain("model", ts, strategy="do_nothing", eval_sets=evals)
    its, ievals, _, cnn = img
    fitted = LogisticRegression(max_iter=50).fit(np.zeros((10, 2)), np.arange(10) % 2)
    with pytest.raises(ParameterError, match=r"An image training set needs a torch nn.Module"):
        curate.retrain(fitted, its, strategy="do_nothing", eval_sets=ievals)


def test_metrics_by_name_and_callable(tab):
    ts, evals, model, _ = tab
    r = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, metric="f1_macro")
    assert r.metric == "f1_macro" and 0 < r.metrics["new"]["f1_macro"] < 1
    r = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, metric="neg_log_loss")
    assert r.metrics["old"]["neg_log_loss"] < 0  # scorer sign kept: higher is better

    def errors(y, p):
        return -float((y != p).sum())

    r = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, metric=errors)
    assert r.metric == "errors" and r.metrics["new"]["errors"] <= 0
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'acuracy'\. Did you mean 'accuracy'\?"):
        resolve_metric("acuracy")


def test_rule_slices_and_mask_slices(tab):
    ts, evals, model, _ = tab
    cond = [{"feature": "px20", "op": ">", "value": 0.5}]
    s = Slice(id="rules-px20", method="rules", description="px20 > 0.5", indices=np.array([0]), n_analysed=10,
              error_rate=0.5, baseline_error_rate=0.2, definition={"kind": "rule", "conditions": cond})
    r = curate.retrain(model, ts, strategy="continue_all", eval_sets=evals, slices=[s])
    mask = evals["new"]["px20"].to_numpy() > 0.5
    got = r.metrics["slices"]["rules-px20"]["new"]
    assert got["n"] == int(mask.sum())
    pred = r.predictions["new"].y_pred
    assert got["accuracy"] == pytest.approx(float((pred[mask] == evals["new"]["digit"].to_numpy()[mask]).mean()))
    cls = Slice(id="class-3", method="confusion", description="digit 3", indices=np.array([0]), n_analysed=10,
                error_rate=0.5, baseline_error_rate=0.2, definition={"kind": "class", "label": 3})
    r2 = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals,
                        slices={"mine": {"new": mask}})
    assert r2.metrics["slices"]["mine"]["new"]["n"] == int(mask.sum())
    r3 = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, slices=[cls])
    assert r3.metrics["slices"]["class-3"]["old"]["n"] == int((evals["old"]["digit"] == 3).sum())
    with pytest.raises(DataError, match=r"slices\['mine'\]\['new'\] has shape \(3,\) but eval set 'new' has"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, slices={"mine": {"new": mask[:3]}})
    with pytest.raises(ParameterError, match=r"slices\['mine'\] names eval set 'newer'"):
        curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, slices={"mine": {"newer": mask}})


def test_centroid_slices_use_the_incumbents_embeddings(img):
    ts, evals, _, model = img
    emb_new = _embed(model, evals["new"][0], None)
    assert emb_new.shape == (len(evals["new"][1]), model.head.in_features)
    center = emb_new[:1]
    radius = float(np.quantile(np.linalg.norm(emb_new - center, axis=1), 0.2))
    s = Slice(id="clusters-x", method="clusters", description="cluster", indices=np.array([0]), n_analysed=10,
              error_rate=0.5, baseline_error_rate=0.2,
              definition={"kind": "centroid", "centroids": center.tolist(), "member": [0], "radius": radius})
    r = curate.retrain(model, ts, strategy="continue_new", eval_sets=evals, slices=[s], epochs=1)
    n_expected = int((np.linalg.norm(emb_new - center, axis=1) <= radius).sum())
    assert r.metrics["slices"]["clusters-x"]["new"]["n"] == n_expected
    # a user embedder takes over
    r2 = curate.retrain(model, ts, strategy="do_nothing", eval_sets=evals, slices=[s],
                        slice_embedder=lambda ims: np.zeros((len(ims), center.shape[1])) + center)
    assert r2.metrics["slices"]["clusters-x"]["new"]["n"] == len(evals["new"][1])


def test_json_and_folder_round_trips(tab, tmp_path):
    ts, evals, model, _ = tab
    r = curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals)
    d = json.loads(r.to_json())
    back = RetrainResult.from_dict(d)
    assert back.to_dict() == r.to_dict() and back.model is None
    r.save(tmp_path / "res")
    loaded = RetrainResult.load(tmp_path / "res")
    assert loaded.to_dict() == r.to_dict()
    assert np.array_equal(loaded.predictions["new"].y_pred, r.predictions["new"].y_pred)
    assert np.allclose(loaded.baseline_predictions["old"].proba, r.baseline_predictions["old"].proba)
    assert model_hash(loaded.model) == r.candidate_hash
    with pytest.raises(DataError, match="is not a saved retrain result"):
        RetrainResult.load(tmp_path)


def test_same_seed_same_result_other_seed_differs(img):
    ts, evals, _, model = img
    a = curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals, epochs=1, random_state=3)
    b = curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals, epochs=1, random_state=3)
    c = curate.retrain(model, ts, strategy="scratch_all", eval_sets=evals, epochs=1, random_state=4)
    assert a.candidate_hash == b.candidate_hash and a.to_dict()["metrics"] == b.to_dict()["metrics"]
    assert a.candidate_hash != c.candidate_hash


def test_with_a_built_training_set_replay_rows_and_preprocessor(digits, tmp_path):
    ts0, evals, frame, columns, d = tabular(digits)
    old = frame.iloc[d["old_train"]].reset_index(drop=True)
    new = frame.iloc[d["new_train"]].reset_index(drop=True)
    ts = (curate.TrainingSetBuilder(old, new, target="digit", features=columns)
          .mix(0.2).rehearse(n=40).split(0.1).preprocess().build(random_state=0))
    assert ts.preprocessor is not None
    # the incumbent consumes the training set's preprocessed inputs
    model = LogisticRegression(max_iter=300, warm_start=True).fit(ts.preprocessor.transform(old[columns]),
                                                                   old["digit"])
    n_replay = int((ts.manifest["reason"].str.contains("replay") & ts.mask(split="train")).sum())
    assert n_replay > 0
    r = curate.retrain(model, ts, strategy="continue_new", eval_sets=evals, replay=True)
    n_new = int(ts.mask(split="train", origins=("new", "augmented", "synthetic")).sum())
    assert r.info["n_train"] == n_new + n_replay
    assert r.preprocessor is ts.preprocessor
    assert (r.predict(evals["new"]) == r.predictions["new"].y_pred).all()
    assert r.metrics["new"]["accuracy"] > r.baseline_metrics["new"]["accuracy"]
    # the registry keeps the preprocessing with the model (as JSON)
    reg = curate.Registry(tmp_path / "reg")
    reg.promote_if_better(r)
    model2, pre = reg.load(with_preprocessor=True)
    assert (model2.predict(pre.transform(evals["new"][columns])) == r.predictions["new"].y_pred).all()


def test_a_torch_model_on_a_tabular_training_set(tab, tmp_path):
    import torch

    ts, evals, _, columns = tab
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    r = curate.retrain(net, ts, strategy="scratch_all", eval_sets=evals, epochs=15, lr=1e-2)
    assert r.metrics["old"]["accuracy"] > 0.8 and r.predictions["new"].proba.shape == (len(evals["new"]), 10)
    reg = curate.Registry(tmp_path / "reg")
    reg.register(net)
    with pytest.raises(ParameterError, match=r"custom metric 'errors'; pass gate=curate.Gate"):
        reg.promote_if_better(_custom(net, ts, evals))


def _custom(net, ts, evals):
    def errors(y, p):
        return -float((y != p).sum())

    return curate.retrain(net, ts, strategy="do_nothing", eval_sets=evals, metric=errors)
