"""Recipes on the user's own image files (folders of class names, .npz), with ``fill: {method: vae}``,
and the one-line ``--check`` / run errors of issue 13."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import curate
from curakit._cli import main

torch = pytest.importorskip("torch")

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from sklearn.datasets import load_digits

    from curakit.imageio import write_png

    d = load_digits()
    keep = np.arange(len(d.target))
    x = np.round(d.images[keep] / 16 * 255).astype(np.uint8)[..., None]
    y = NAMES[d.target[keep]]
    root = tmp_path_factory.mktemp("recipe_images")
    half = len(x) // 2
    for part, rows in (("old", range(half)), ("new", range(half, len(x)))):
        for k in rows:
            (root / part / y[k]).mkdir(parents=True, exist_ok=True)
            write_png(root / part / y[k] / f"{k:04d}.png", x[k])
    return root


RECIPE = {
    "name": "own_images",
    "data": {"old": "old", "new": "new", "eval_fraction": 0.25},
    "model": {"estimator": "curate.models.SmallCNN", "params": {"num_classes": 10, "in_channels": 1, "width": 8},
              "train": {"epochs": 1, "batch_size": 64}},
    "diagnose": {"methods": ["confusion"], "max_slices": 1},
    "fill": {"method": "vae", "n": 5, "epochs": 30},
    "retrain": {"strategies": ["continue_all"], "params": {"epochs": 1}},
    "gate": {"n_bootstrap": 200},
    "registry": "reg",
    "output": "out",
}


def test_recipe_on_class_name_folders_with_a_vae_fill(folders, capsys):
    (folders / "r.yaml").write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(folders / "r.yaml"), "--check"]) == 0, capsys.readouterr().err
    assert main(["run", str(folders / "r.yaml")]) == 0, capsys.readouterr().err
    run = json.loads((folders / "out" / "run.json").read_text())
    ts = curate.TrainingSet.load(folders / "out" / "training_set")
    assert ts.kind == "images" and ts.info["classes"] == sorted(NAMES)
    gen = ts.manifest[ts.manifest["operation"] == "vae"]
    assert len(run["slices"]) == 1 and 0 < len(gen) <= 5
    # the slice is described with the folder's class names (issue 12); its definition keeps the index
    assert any(f"'{name}'" in str(run["slices"][0]) for name in NAMES), run["slices"][0]
    params = [json.loads(p) for p in gen["params"]]
    assert {p["method"] for p in params} == {"vae"} and all(len(p["weights_sha256"]) == 64 for p in params)
    assert all(ids.startswith('["new:') for ids in gen["parent_ids"])


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]]
    root = tmp_path_factory.mktemp("recipe_check")
    frame.iloc[:300].to_parquet(root / "old.parquet")
    frame.iloc[300:].to_csv(root / "new.csv", index=False)
    (root / "afile.txt").write_text("not a folder")
    (root / "emptydir").mkdir()
    return root


BASE = {"data": {"old": "old.parquet", "new": "new.csv", "target": "target"},
        "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200}},
        "retrain": {"strategies": ["scratch_all"]}}


def _variant(**changes):
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            data.setdefault(section, {})[sub] = value
        elif value is None:
            data.pop(section)
        else:
            data[section] = value
    return data


@pytest.mark.parametrize("changes, check, message", [
    ({"retrain__strategies": ["scratch_al"]}, True, "Unknown strategy 'scratch_al'. Did you mean 'scratch_all'?"),
    ({"model": None}, True, "The recipe has no model"),
    ({"data__target": "label"}, True, "'label', which is not a column"),
    ({"data__target": "label"}, False, "'label', which is not a column"),
    ({"output": "afile.txt"}, True, "is a file"),
    ({"output": "afile.txt"}, False, "is a file"),
    ({"fill": {"temperature": 0.5}}, True, "'fill.temperature' applies to method: vae only"),
    ({"fill": {"method": "vae", "pipeline": "p.yaml"}}, True, "vae generates rows itself"),
    ({"data__eval_new": "emptydir"}, True, "not a table file"),
    ({"diagnose": {"methods": ["confusoin"]}}, True, "Did you mean 'confusion'?"),
    ({"fill": {"method": "smoet"}}, True, "Did you mean 'smote'?"),
    ({"gate": {"max_drop_old": 2}}, True, "max_drop_old"),
    ({"gate": {"n_bootstrap": 0}}, True, "n_bootstrap"),
    ({"model__params": {"max_itr": 5}}, True, "Did you mean 'max_iter'?"),
])
def test_check_and_run_errors_are_one_line(tables, capsys, changes, check, message):
    (tables / "bad.yaml").write_text(yaml.safe_dump(_variant(**changes)))
    code = main(["run", str(tables / "bad.yaml"), *(["--check"] if check else [])])
    err = capsys.readouterr().err.strip().splitlines()
    # one line per finding (--check lists every finding; a run stops at the first)
    assert code == 1 and all(ln.startswith("Error: ") for ln in err) and message in err[0], err
    assert len(err) == 1 or check
    assert (tables / "afile.txt").read_text() == "not a folder"


def test_run_output_given_on_the_command_line_as_a_file_is_refused(tables, capsys):
    (tables / "ok.yaml").write_text(yaml.safe_dump(BASE))
    assert main(["run", str(tables / "ok.yaml"), "--check", "--output", str(tables / "afile.txt")]) == 1
    assert "is a file" in capsys.readouterr().err


def test_image_recipe_check_finds_mixed_kinds_and_shapes(folders, tables, capsys):
    bad = dict(RECIPE, data={"old": "old", "new": "new", "eval_new": "r.yaml"})
    (folders / "bad.yaml").write_text(yaml.safe_dump(bad))
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'data.eval_new'" in err[0] and "not image data" in err[0]
    small = folders / "small.npz"
    np.savez(small, images=np.zeros((4, 4, 4), np.uint8), labels=np.arange(4))
    bad = dict(RECIPE, data={"old": "old", "new": "new", "eval_new": "small.npz"})
    (folders / "bad.yaml").write_text(yaml.safe_dump(bad))
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    assert "different shapes" in capsys.readouterr().err
    est = {k: v for k, v in RECIPE.items() if k != "registry"}  # no champion: the recipe's own model is checked
    est["model"] = {"estimator": "sklearn.linear_model.LogisticRegression"}
    (folders / "bad.yaml").write_text(yaml.safe_dump(est))
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    assert "needs a torch nn.Module (images)" in capsys.readouterr().err
    few = {k: v for k, v in RECIPE.items() if k != "registry"}  # a model with fewer outputs than classes
    few["model"] = {**RECIPE["model"], "params": {"num_classes": 3, "in_channels": 1, "width": 8}}
    (folders / "bad.yaml").write_text(yaml.safe_dump(few))
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    assert "has 3 outputs but the recipe's images have 10 classes" in capsys.readouterr().err
    rgb = {k: v for k, v in RECIPE.items() if k != "registry"}  # a first layer for RGB, grayscale images
    rgb["model"] = {**RECIPE["model"], "params": {"num_classes": 10, "in_channels": 3, "width": 8}}
    (folders / "bad.yaml").write_text(yaml.safe_dump(rgb))
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    assert "1-channel images" in capsys.readouterr().err


def test_fill_pipeline_default_in_a_recipe(folders):
    """``fill: {pipeline: default}``: augment.default_pipeline on the slice, same seed same images."""
    from curate._recipe_data import fill_slice, image_data

    rec = curate.Recipe.from_dict(dict(RECIPE, fill={"pipeline": "default", "n": 4}), base_dir=folders)
    old, new, _, classes = image_data(rec, rec.section("data"), 0)
    members = {"classes": [classes.index("three")]}
    a = fill_slice(rec, rec.section("fill"), members, new, [], "label", True, 5)
    b = fill_slice(rec, rec.section("fill"), members, new, [], "label", True, 5)
    assert len(a) == 4 and (a.labels == classes.index("three")).all() and a.images.shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(a.images, b.images)
    errors, _ = rec.check()
    assert not [e for e in errors if "pipeline" in e]


def test_gate_layer_in_a_recipe_reaches_the_gate_and_a_wrong_name_leaves_no_registry(folders, capsys):
    """gate.layer names the champion's layer the regression search embeds; a name the model lacks is a
    one-line error with a did-you-mean, raised before the incumbent is registered."""
    base = {**RECIPE, "fill": {"enabled": False}, "registry": "reg_layer", "output": "out_layer",
            "retrain": {"strategies": ["continue_all"], "params": {"epochs": 1}, "max_forgetting": 1.0}}
    (folders / "layer.yaml").write_text(yaml.safe_dump({**base, "gate": {"n_bootstrap": 100, "layer": "backbone.8"}}))
    assert main(["run", str(folders / "layer.yaml")]) == 0, capsys.readouterr().err
    run = json.loads((folders / "out_layer" / "run.json").read_text())
    if run["chosen"] != "do_nothing":
        assert run["promotion"]["decision"]["gate"]["layer"] == "backbone.8"
    bad = {**base, "registry": "reg_bad", "output": "out_bad", "gate": {"n_bootstrap": 100, "layer": "backbone.88"}}
    (folders / "bad.yaml").write_text(yaml.safe_dump(bad))
    capsys.readouterr()
    assert main(["run", str(folders / "bad.yaml"), "--check"]) == 1
    assert "backbone.88" in capsys.readouterr().err
    assert main(["run", str(folders / "bad.yaml")]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error:")]
    assert len(err) == 1 and "backbone.88" in err[0] and "backbone.8" in err[0].split("backbone.88", 1)[1], err
    assert not (folders / "reg_bad" / "registry.json").exists()
