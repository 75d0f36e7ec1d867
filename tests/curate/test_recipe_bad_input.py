"""User mistakes in a recipe fail with one curakit line naming the problem and the fix, in ``--check`` too:
a CSV given as the recipe, a model file that holds no model, a model parameter scikit-learn refuses."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from curakit.exceptions import ParameterError
from curate import Recipe, run_recipe

CURAKIT = str(Path(sys.executable).with_name("curakit"))


def _folder(tmp_path, model):
    """Tiny breast-cancer tables, a pickled dict, and a recipe named ``recipe.yaml`` with ``model``."""
    frame = load_breast_cancer(as_frame=True).frame.iloc[:160, [0, 1, 2, 3, -1]]
    frame.columns = ["a", "b", "c", "d", "target"]
    frame.iloc[:80].to_csv(tmp_path / "old.csv", index=False)
    frame.iloc[80:].to_csv(tmp_path / "new.csv", index=False)
    with open(tmp_path / "dict.pkl", "wb") as f:
        pickle.dump({"a": 1}, f)
    data = {"data": {"old": "old.csv", "new": "new.csv", "target": "target"}, "model": model,
            "diagnose": {"enabled": False}, "retrain": {"strategies": ["scratch_all"]}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    return data


def _cli(tmp_path, *args):
    proc = subprocess.run([CURAKIT, "run", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


def test_a_csv_given_as_the_recipe_is_named(tmp_path):
    y = np.array([0, 1] * 10)
    pd.DataFrame({"y_true": y, "y_pred": y[::-1]}).to_csv(tmp_path / "preds.csv", index=False)
    with pytest.raises(ParameterError, match=r"^'[^']*preds\.csv' is not a recipe: a recipe is a YAML mapping with "
                                             r"data, model, .* sections"):
        Recipe.from_yaml(tmp_path / "preds.csv")
    with pytest.raises(ParameterError, match=r"^The recipe given is not a recipe: .* reads as a list\."):
        Recipe.from_dict([1, 2])  # type: ignore[arg-type]
    line = _cli(tmp_path, "preds.csv")
    assert line.startswith("Error: 'preds.csv' is not a recipe: a recipe is a YAML mapping with data, model")
    assert "reads as text" in line and "y_true" not in line  # no cell of the file in the message


def test_a_model_file_holding_a_dict_is_refused_in_check_and_run(tmp_path):
    _folder(tmp_path, {"file": "dict.pkl"})
    rec = Recipe.from_yaml(tmp_path / "recipe.yaml")
    errors, _ = rec.check()
    assert len(errors) == 1 and errors[0].startswith("Recipe key 'model.file' names 'dict.pkl', which holds a dict, "
                                                     "not a model")
    with pytest.raises(ParameterError, match=r"'dict\.pkl', which holds a dict, not a model: .*fit and predict.*"
                                             r"torch nn\.Module"):
        run_recipe(rec, output=tmp_path / "out", registry=tmp_path / "reg")
    assert not (tmp_path / "reg").exists() or not any((tmp_path / "reg").rglob("*.joblib"))
    assert "'dict.pkl', which holds a dict" in _cli(tmp_path, "recipe.yaml", "--check")
    assert "'dict.pkl', which holds a dict" in _cli(tmp_path, "recipe.yaml", "--output", "run2", "--registry", "reg2")
    assert not (tmp_path / "run2").exists()


def test_a_model_param_sklearn_refuses_names_the_recipe_key(tmp_path):
    data = _folder(tmp_path, {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": "abc"}})
    want = r"^Recipe key 'model\.params\.C' for LogisticRegression must be a float .*\. Fix model\.params\.C"
    rec = Recipe.from_yaml(tmp_path / "recipe.yaml")
    errors, _ = rec.check()
    assert len(errors) == 1 and errors[0].startswith("Recipe key 'model.params.C' for LogisticRegression must be")
    assert "abc" not in errors[0]
    with pytest.raises(ParameterError, match=want):
        run_recipe(rec, output=tmp_path / "out")
    data["model"]["params"] = {"solver": "nope"}  # a string option: sklearn lists the allowed values
    errors, _ = Recipe.from_dict(data, base_dir=tmp_path).check()
    assert len(errors) == 1 and errors[0].startswith("Recipe key 'model.params.solver' for LogisticRegression must be")
    assert "lbfgs" in errors[0] and "nope" not in errors[0]
    data["model"]["params"] = {"C": 0.5, "max_iter": 200}  # valid params still pass
    assert Recipe.from_dict(data, base_dir=tmp_path).check()[0] == []
    assert "'model.params.C' for LogisticRegression" in _cli(tmp_path, "recipe.yaml", "--check")
    assert "'model.params.C' for LogisticRegression" in _cli(tmp_path, "recipe.yaml", "--output", "run2")
