"""Recipes take the user's own saved model: ``model: {file: ..., class: module:Class}``."""

import joblib
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import curate
from curate import Recipe, run_recipe


def _folder(tmp_path):
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]]
    frame.columns = ["a", "b", "c", "d", "target"]
    frame.iloc[:300].to_csv(tmp_path / "old.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "new.csv", index=False)
    model = LogisticRegression(max_iter=500, warm_start=True).fit(frame.iloc[:300, :4], frame.iloc[:300, -1])
    joblib.dump(model, tmp_path / "model.joblib")
    return model


def _recipe(**model):
    return {"data": {"old": "old.csv", "new": "new.csv", "target": "target"}, "model": model,
            "diagnose": {"enabled": False}, "retrain": {"strategies": ["continue_all"]},
            "gate": {"n_bootstrap": 50}, "registry": "reg", "output": "out"}


def test_a_saved_estimator_file_is_the_incumbent(tmp_path):
    model = _folder(tmp_path)
    rec = Recipe.from_dict(_recipe(file="model.joblib"), base_dir=tmp_path)
    assert rec.check() == ([], [])
    run = run_recipe(rec)
    v1 = curate.Registry(tmp_path / "reg").versions()[0]
    assert v1.strategy == "initial"
    loaded = curate.Registry(tmp_path / "reg").load("v1")
    assert (loaded.coef_ == model.coef_).all()  # used as saved, not fitted again
    assert (run.output / "run.json").exists()


def test_check_reports_a_missing_or_escaping_model_file(tmp_path):
    _folder(tmp_path)
    errors, _ = Recipe.from_dict(_recipe(file="nosuch.joblib"), base_dir=tmp_path).check()
    assert len(errors) == 1 and "nosuch.joblib" in errors[0]
    errors, _ = Recipe.from_dict(_recipe(file="../model.joblib"), base_dir=tmp_path).check()
    assert len(errors) == 1 and "leaves the recipe's folder" in errors[0]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(file="model.joblib")))
    assert Recipe.from_yaml(tmp_path / "r.yaml").check() == ([], [])
