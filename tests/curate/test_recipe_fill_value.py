"""The recipe run estimates every fill before the build (issue 11 item 3): per fill its gain on the new rows,
its forgetting on the old rows, the prior warnings; ``fill.skip_if_harmful`` leaves out fills estimated
clearly harmful. Real data: the breast-cancer drift tables of the other recipe tests."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import yaml
from _retrain_fixtures import RECIPE, breast_cancer_drift

from curakit.exceptions import ParameterError
from curate import Recipe, run_recipe


def _run(folder, **fill):
    data = copy.deepcopy(RECIPE)
    data["fill"].update(fill.pop("fill", {}))
    data["retrain"].update(fill)
    (folder / "r.yaml").write_text(yaml.safe_dump(data))
    return run_recipe(folder / "r.yaml")


def test_each_fill_is_estimated_and_reported(tmp_path):
    folder = breast_cancer_drift(tmp_path)
    run = _run(folder)
    fv = run.fill_value
    assert [f["slice"] for f in fv["fills"]] == [s["id"] for s in run.slices][: len(fv["fills"])]
    assert sum(f["n_fill"] for f in fv["fills"] if f["added"]) == run.rows_by_origin["synthetic"]
    for f in fv["fills"]:
        assert f["gain_low"] <= f["gain"] <= f["gain_high"]
        assert f["forgetting_low"] <= f["forgetting"] <= f["forgetting_high"]
        assert f["added"] and not fv["skipped"]
    assert fv["measured"]["strategy"] in set(run.comparison.frame["strategy"])
    out = folder / "out"
    saved = json.loads((out / "run.json").read_text())
    assert saved["fill_value"]["fills"] == json.loads(json.dumps(fv["fills"]))
    assert set(pd.read_csv(out / "fill_value.csv")["fill"]) == {f["fill"] for f in fv["fills"]}
    assert "old_rows" in json.loads((out / "fill_value.json").read_text())
    again = run_recipe(Recipe.from_dict(yaml.safe_load((folder / "r.yaml").read_text()), base_dir=folder),
                       output=tmp_path / "o2", registry=tmp_path / "reg2")
    assert again.fill_value["fills"] == fv["fills"]  # same seed, same estimate


def test_skip_if_harmful_leaves_out_the_fills_estimated_harmful(tmp_path):
    """A flood of 1500 SMOTE rows per class of a rule slice moves the head's boundary over old rows;
    with max_forgetting 0 a fill whose forgetting interval lies above 0 is harmful and is not added.
    Whatever is flagged, the training set holds exactly the fills marked added."""
    folder = breast_cancer_drift(tmp_path)
    run = _run(folder, fill={"n": 1500, "skip_if_harmful": True}, max_forgetting=0.0)
    fv = run.fill_value
    flagged = [f["fill"] for f in fv["fills"] if f["harmful"]]
    assert fv["skipped"] == flagged and flagged  # at least one flood forgets old rows
    assert all(f["forgetting_low"] > 0 or f["gain_high"] < 0 for f in fv["fills"] if f["harmful"])
    assert run.rows_by_origin.get("synthetic", 0) == sum(f["n_fill"] for f in fv["fills"] if f["added"])
    assert fv["measured"]["fills_added"] == [f["fill"] for f in fv["fills"] if f["added"]]


def test_fill_estimate_keys_are_checked():
    data = copy.deepcopy(RECIPE)
    data["fill"].update({"estimate": False, "skip_if_harmful": True})
    errors, _ = Recipe.from_dict(data).check()
    assert any("skip_if_harmful' needs the fill estimate" in e for e in errors)
    data["fill"]["estimate"] = "no"
    with pytest.raises(ParameterError, match=r"fill\.estimate' must be true/false"):
        Recipe.from_dict(data)
