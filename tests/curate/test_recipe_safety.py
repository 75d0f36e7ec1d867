"""A recipe is data: it names classes only from allowed modules, keeps its paths inside its folder,
never replaces a user's folder, and ``curakit run --check`` finds its mistakes before fitting."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from curakit.exceptions import CurakitError, ParameterError
from curate import Recipe, run_recipe

PY = sys.executable


def _tables(folder: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]]
    frame.columns = ["a", "b", "c", "d", "target"]
    frame.iloc[:300].to_csv(folder / "old.csv", index=False)
    frame.iloc[300:].to_csv(folder / "new.csv", index=False)


def _recipe(**over) -> dict:
    rec = {"data": {"old": "old.csv", "new": "new.csv", "target": "target"},
           "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500, "warm_start": True}},
           "diagnose": {"enabled": False}, "retrain": {"strategies": ["continue_all"]},
           "gate": {"n_bootstrap": 50}, "output": "out"}
    rec.update(over)
    return rec


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "curakit", "run", *args], cwd=folder, capture_output=True, text=True, timeout=300)


def test_a_recipe_cannot_run_a_shell_command(tmp_path):
    canary = tmp_path / "ran"
    recipe = {
        "data": {"scenario": "digits_drift"},
        "model": {"source": "estimator", "estimator": "os.system", "params": {"command": f"touch {canary}"}},
    }
    with pytest.raises(ParameterError, match="not trusted"):
        run_recipe(recipe, output=tmp_path / "out")
    recipe["trusted_modules"] = ["os"]  # even trusted, a function is not a class
    with pytest.raises(ParameterError, match="not a scikit-learn estimator or torch nn.Module class"):
        run_recipe(recipe, output=tmp_path / "out")
    assert not canary.exists()


def test_untrusted_module_next_to_the_recipe_is_never_imported(tmp_path):
    _tables(tmp_path)
    marker = tmp_path / "imported"
    (tmp_path / "mymodels.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "from sklearn.linear_model import LogisticRegression as Model\n"
    )
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(model={"estimator": "mymodels:Model", "params": {"warm_start": True}})))
    for args in (["r.yaml", "--check"], ["r.yaml"]):
        res = _cli(tmp_path, *args)
        assert res.returncode == 1 and "--trust mymodels" in res.stderr and "Traceback" not in res.stderr
        assert not marker.exists()
    res = _cli(tmp_path, "r.yaml", "--check", "--trust", "mymodels")
    assert res.returncode == 0, res.stderr
    assert marker.exists()


@pytest.mark.parametrize("key,value", [("output", "."), ("output", "../victim"), ("output", "/tmp/x"),
                                       ("registry", "../reg"), ("root", "..")])
def test_paths_stay_inside_the_recipe_folder(tmp_path, key, value):
    folder = tmp_path / "proj"
    folder.mkdir()
    _tables(folder)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    (folder / "notes.txt").write_text("mine")
    (folder / "r.yaml").write_text(yaml.safe_dump(_recipe(**{key: value})))
    res = _cli(folder, "r.yaml")
    assert res.returncode == 1 and [line for line in res.stderr.splitlines() if "Error" in line] == \
        res.stderr.splitlines()[-1:], res.stderr
    assert res.stderr.splitlines()[-1].startswith("Error:")
    assert (victim / "notes.txt").read_text() == "mine" and (folder / "notes.txt").read_text() == "mine"
    assert (folder / "r.yaml").exists() and not (folder / "out").exists()


def test_data_path_escape_is_refused(tmp_path):
    rec = Recipe.from_dict(_recipe(data={"old": "../old.csv", "new": "new.csv", "target": "target"}), base_dir=tmp_path)
    with pytest.raises(ParameterError, match="leaves the recipe's folder"):
        run_recipe(rec)


def test_output_folder_with_user_files_survives(tmp_path):
    _tables(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(CurakitError, match="curakit did not write"):
        run_recipe(Recipe.from_dict(_recipe(), base_dir=tmp_path))
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


def test_root_resolves_paths(tmp_path):
    (tmp_path / "data").mkdir()
    _tables(tmp_path / "data")
    run = run_recipe(Recipe.from_dict(_recipe(root="data"), base_dir=tmp_path))
    assert run.output == tmp_path / "data" / "out" and (run.output / "run.json").exists()


def test_check_finds_each_mistake_without_fitting(tmp_path):
    _tables(tmp_path)
    (tmp_path / "wide.csv").write_text("a,b,target\n1,2,0\n")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    cases = {
        "does not exist": _recipe(data={"old": "nosuch.csv", "new": "new.csv", "target": "target"}),
        "holds no PNG files": _recipe(data={"old": "imgs", "new": "new.csv", "target": "target"}),  # read as image data
        "lacks the column 'c'": _recipe(data={"old": "old.csv", "new": "new.csv", "target": "target",
                                              "eval_new": "wide.csv"}),
        "not trusted": _recipe(model={"estimator": "nosuch.Model"}),
        "has no model": _recipe(model={}),
        "Unknown strategy 'continue_al'": _recipe(retrain={"strategies": ["continue_al"]}),
        "curakit did not write": _recipe(),
        "is not a column": _recipe(data={"old": "old.csv", "new": "new.csv", "target": "label"}),
    }
    for expected, rec in cases.items():
        if expected != "curakit did not write":
            rec["output"] = "fresh"
        errors, _ = Recipe.from_dict(rec, base_dir=tmp_path).check()
        assert any(expected in e for e in errors), (expected, errors)
        assert all("\n" not in e for e in errors)
    assert not (tmp_path / "fresh").exists()
    errors, warnings = Recipe.from_dict({**_recipe(), "output": "fresh"}, base_dir=tmp_path).check()
    assert errors == [] and warnings == []


def test_check_refuses_a_strategy_the_recipe_model_cannot_run(tmp_path):
    _tables(tmp_path)
    rec = _recipe(model={"estimator": "sklearn.ensemble.RandomForestClassifier"},
                  retrain={"strategies": ["continue_new"]}, output="fresh")
    errors, _ = Recipe.from_dict(rec, base_dir=tmp_path).check()
    assert any("continue_new" in e for e in errors), errors


def test_cli_check_reports_errors_one_per_line(tmp_path):
    _tables(tmp_path)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(data={"old": "nosuch.csv", "new": "new.csv",
                                                                  "target": "target"},
                                                            retrain={"strategies": ["nosuch"]})))
    res = _cli(tmp_path, "r.yaml", "--check")
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("Error:") for line in lines), res.stderr


@pytest.mark.parametrize("table", ["new.csv", "old.csv"])
def test_no_data_values_in_messages(tmp_path, table):
    _tables(tmp_path)
    frame = (tmp_path / table).read_text().splitlines()
    cells = frame[5].split(",")
    cells[1] = "SECRET-PATIENT-7"
    frame[5] = ",".join(cells)
    (tmp_path / table).write_text("\n".join(frame) + "\n")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe()))
    for args in (["r.yaml", "--check"], ["r.yaml"]):
        res = _cli(tmp_path, *args)
        assert res.returncode == 1, res.stderr
        assert "SECRET" not in res.stderr + res.stdout and "Traceback" not in res.stderr
        assert "'b'" in res.stderr
