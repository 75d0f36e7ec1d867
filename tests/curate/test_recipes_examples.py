"""The example recipes shipped in curate/recipes/, the bundled scenarios they use, and
``curakit run`` with example names, --list-examples, --show-example, --set and --check."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import curate
from curakit._cli import main
from curakit.exceptions import ParameterError, UnknownNameError
from curate import Recipe
from curate._recipe import example_recipes, example_text
from curate.datasets import SCENARIOS, TabularDrift, load_breast_cancer_drift

EXAMPLES = sorted(example_recipes())
OUTPUTS = {"recipe.yaml", "run.json", "slices.json", "comparison.html", "training_set"}


def _cli(argv, cwd):
    """main(argv) run in the folder cwd: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.chdir(cwd)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


# -- the examples are there, commented, valid -------------------------------------------------
def test_the_examples_ship_with_the_package():
    assert {"digits_drift", "breast_cancer_drift"} <= set(EXAMPLES)
    folder = Path(curate.__file__).parent / "recipes"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_validates_and_is_commented(name, tmp_path):
    text = example_text(name)
    assert text.startswith(f"# {name}: ") and example_recipes()[name] in text.splitlines()[0]
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10  # a user can adapt it
    rec = Recipe.example(name, base_dir=tmp_path)
    assert rec.data["name"] == name and rec.base_dir == tmp_path
    assert rec.data["data"]["scenario"] in SCENARIOS  # runs out of the box: no data files needed
    assert rec.path(rec.data["output"]).is_relative_to(tmp_path)
    assert rec.path(rec.data["registry"]).is_relative_to(tmp_path)
    assert Recipe.example(name).base_dir == Path.cwd()  # examples write into the working folder
    assert set(rec.data["retrain"]["strategies"]) <= set(curate.STRATEGIES.names())
    # the CLI's --check agrees, and a copied example is the same recipe (same hash)
    (tmp_path / "copy.yaml").write_text(text)
    code, out, _ = _cli(["run", "copy.yaml", "--check"], tmp_path)
    assert code == 0 and out.strip() == f"ok: recipe {name!r} is valid (sha256 {rec.hash[:12]})"
    assert Recipe.from_yaml(tmp_path / "copy.yaml").hash == rec.hash


def test_list_and_show_examples(tmp_path):
    code, out, _ = _cli(["run", "--list-examples"], tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == EXAMPLES
    assert all(example_recipes()[n] in line for n, line in zip(EXAMPLES, lines))
    code, out, _ = _cli(["run", "--show-example", "breast_cancer_drift"], tmp_path)
    assert code == 0 and out == example_text("breast_cancer_drift")
    assert yaml.safe_load(out)["data"]["scenario"] == "breast_cancer_drift"


# -- the bundled tabular scenario ---------------------------------------------------------------
def test_breast_cancer_drift_is_the_documented_drift():
    drifted = load_breast_cancer_drift(random_state=3)
    plain = load_breast_cancer_drift(random_state=3, scale=1.0, texture_offset=0.0, concavity_factor=1.0)
    assert isinstance(drifted, TabularDrift) and drifted.target == "diagnosis"
    assert drifted.features == [c for c in drifted.old.columns if c != "diagnosis"] and len(drifted.features) == 10
    assert sum(len(getattr(drifted, p)) for p in ("old", "new", "old_test", "new_test")) == 569
    assert set(drifted.old["diagnosis"]) == {"malignant", "benign"}
    for part in ("old", "old_test"):  # the old side is untouched
        pd.testing.assert_frame_equal(drifted.source(part), plain.source(part))
    for part in ("new", "new_test"):
        d, p, large = drifted.source(part), plain.source(part), drifted.affected[part]
        assert large.any() and not large.all()
        np.testing.assert_array_equal(large, p["mean_radius"].to_numpy() > 15.0)
        np.testing.assert_allclose(d["mean_texture"] - p["mean_texture"], 4.0)
        np.testing.assert_allclose(d["mean_radius"] / p["mean_radius"], 1.15)
        np.testing.assert_allclose(d["mean_area"] / p["mean_area"], 1.15**2)
        conc = p["mean_concavity"].to_numpy() > 0
        ratio = d["mean_concavity"].to_numpy()[conc] / p["mean_concavity"].to_numpy()[conc]
        np.testing.assert_allclose(ratio, np.where(large[conc], 0.5, 1.0))
        pd.testing.assert_frame_equal(d[["mean_smoothness", "mean_symmetry", "diagnosis"]],
                                      p[["mean_smoothness", "mean_symmetry", "diagnosis"]])
    again = load_breast_cancer_drift(random_state=3)
    pd.testing.assert_frame_equal(again.new, drifted.new)
    assert not load_breast_cancer_drift(random_state=4).new.equals(drifted.new)
    assert "affected" in drifted.summary().splitlines()[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concavity_factor": 1.5}, r"^The 'concavity_factor' parameter of load_breast_cancer_drift must be a float "
                                    r"in the range \[0\.0, 1\.0\]\. Got 1\.5 instead\.$"),
        ({"scale": 0.0}, r"^The 'scale' parameter of load_breast_cancer_drift must be a float > 0\. Got 0\.0 instead\.$"),
        ({"texture_offset": "x"}, r"^The 'texture_offset' parameter of load_breast_cancer_drift must be a finite float"),
        ({"test_fraction": 0.0}, r"^The 'test_fraction' parameter of load_breast_cancer_drift must leave rows"),
    ],
)
def test_breast_cancer_drift_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        load_breast_cancer_drift(**kwargs)


@pytest.mark.parametrize("name", SCENARIOS.names())
def test_every_scenario_gives_the_four_parts_a_recipe_reads(name):
    sc = SCENARIOS.get(name)(random_state=0, **({"n_samples": 200} if name == "digits_drift" else {}))
    kind = SCENARIOS.meta(name)["kind"]
    assert kind in ("images", "tabular")
    for part in ("old", "new", "old_test", "new_test"):
        src = sc.source(part)
        n = len(src["labels"]) if kind == "images" else len(src)
        assert n > 0
        if kind == "tabular":
            assert list(src.columns) == [*sc.features, sc.target]


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"scenario": "breast_cancer"}, UnknownNameError,
         r"^Unknown scenario 'breast_cancer' in recipe key 'data\.scenario'\. Did you mean 'breast_cancer_drift'\?"),
        ({"scenario": "breast_cancer_drift", "scenario_params": {"scal": 1.2}}, ParameterError,
         r"^Unknown key 'scal' in recipe key 'data\.scenario_params' of scenario 'breast_cancer_drift'\. "
         r"Did you mean 'scale'\?$"),
        ({"scenario": "breast_cancer_drift", "target": "y"}, ParameterError,
         r"^Recipe section 'data' with a scenario takes no 'target': the scenario provides it\.$"),
        ({"scenario": "digits_drift", "eval_fraction": 0.2}, ParameterError,
         r"^Recipe section 'data' with a scenario takes no 'eval_fraction'"),
    ],
)
def test_scenario_keys_are_checked_when_the_recipe_is_validated(data, error, match):
    with pytest.raises(error, match=match):
        Recipe.from_dict({"data": data})


# -- the tabular example end to end through the CLI ---------------------------------------------
@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("bc")
    code, out, err = _cli(["run", "breast_cancer_drift"], cwd)
    assert code == 0, err
    return cwd, out


def test_tabular_example_runs_end_to_end(tabular_run):
    cwd, out = tabular_run
    rec = Recipe.example("breast_cancer_drift")
    folder = cwd / "curakit-runs" / "breast_cancer_drift"
    assert OUTPUTS <= {p.name for p in folder.iterdir()}
    run = json.loads((folder / "run.json").read_text())
    assert run["recipe_hash"] == rec.hash
    table = pd.DataFrame(run["comparison"]).set_index("strategy")
    assert [s for s in table.index if s != "naive"] == ["do_nothing", *rec.data["retrain"]["strategies"]]
    inc = table.loc["do_nothing"]
    assert inc["new"] < inc["old"] - 0.05  # the constructed drift hurts the incumbent
    chosen = run["chosen"]
    assert chosen != "do_nothing" and f"chosen: {chosen}" in out
    assert table.loc[chosen, "new"] == table["new"][table["forgetting"] <= 0.0].max()  # max_forgetting: 0.0
    assert table.loc[chosen, "new"] > inc["new"] and table.loc[chosen, "forgetting"] <= 0.0
    # slices and fills are recorded; every filled row names its parent in the new rows
    slices = json.loads((folder / "slices.json").read_text())
    assert 1 <= len(slices) <= 2 and {s["method"] for s in slices} <= {"rules", "confusion"}
    assert run["rows_by_origin"]["synthetic"] > 0
    ts = curate.TrainingSet.load(folder / "training_set")
    assert ts.fingerprint() == run["training_set"] and ts.target == "diagnosis"
    synth = ts.manifest[ts.manifest["origin"] == "synthetic"]
    assert len(synth) == run["rows_by_origin"]["synthetic"]
    assert all(json.loads(p) and all(q.startswith("new:") for q in json.loads(p)) for p in synth["parent_ids"])
    # the registry: the incumbent (v1) and the candidate (v2), the gate's decision with its reasons
    reg = curate.Registry(cwd / "curakit-runs" / "registry")
    v1, v2 = reg.versions()
    assert (v1.strategy, v2.strategy) == ("initial", chosen)
    assert v1.recipe_hash == v2.recipe_hash == rec.hash and v2.recipe == rec.to_dict()
    assert v2.metrics["new"][v2.metric] == pytest.approx(table.loc[chosen, "new"])
    assert v1.metrics["new"][v1.metric] == pytest.approx(inc["new"])
    promo = run["promotion"]
    assert promo["version"] == v2.version and promo["promoted"] is True and reg.champion == v2.version
    new_check, old_check, *more = promo["reasons"]  # then the gate's named-slice / regression lines
    assert all(r.endswith("pass") for r in more)
    assert new_check.startswith("new: accuracy gain") and new_check.endswith("pass")
    assert old_check.startswith("old: accuracy drop") and old_check.endswith("pass")
    gain = promo["decision"]["checks"]["new_gain"]
    assert gain["observed"] == pytest.approx(table.loc[chosen, "new"] - inc["new"]) and gain["lower"] > 0
    assert v2.gate == promo["decision"]
    assert reg.history()[-1]["event"] == "promote" and reg.history()[-1]["reasons"] == promo["reasons"]
    assert "promoted to champion" in out and new_check in out


def test_a_copied_example_gives_the_same_run_and_overrides_are_relative_to_cwd(tabular_run, tmp_path):
    cwd, _ = tabular_run
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bc.yaml").write_text(example_text("breast_cancer_drift"))
    code, _, err = _cli(["run", "sub/bc.yaml", "--output", "o", "--registry", "r"], tmp_path)
    assert code == 0, err
    assert (tmp_path / "o" / "run.json").exists() and (tmp_path / "r" / "registry.json").exists()
    assert not (tmp_path / "sub" / "r").exists() and not (tmp_path / "sub" / "curakit-runs").exists()
    first = json.loads((cwd / "curakit-runs" / "breast_cancer_drift" / "run.json").read_text())
    again = json.loads((tmp_path / "o" / "run.json").read_text())
    for run in (first, again):
        for row in run["comparison"]:
            row.pop("train_time")
    for key in ("recipe_hash", "training_set", "rows_by_origin", "comparison", "chosen", "slices"):
        assert again[key] == first[key], key
    assert again["promotion"]["reasons"] == first["promotion"]["reasons"]


def test_set_changes_a_run_and_its_hash(tabular_run, tmp_path):
    code, out, err = _cli(["run", "breast_cancer_drift", "--set", "retrain.strategies=[continue_all]",
                           "--set", "fill.enabled=false", "--set", "registry=null", "--output", "o"], tmp_path)
    assert code == 0, err
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert [r["strategy"] for r in run["comparison"] if r["strategy"] != "naive"] == ["do_nothing", "continue_all"]
    assert "synthetic" not in run["rows_by_origin"] and run["promotion"] is None
    assert not (tmp_path / "curakit-runs").exists()  # registry=null removed the key: no registry written
    changed = yaml.safe_load(example_text("breast_cancer_drift"))
    changed["retrain"]["strategies"] = ["continue_all"]
    changed["fill"]["enabled"] = False
    del changed["registry"]
    assert run["recipe_hash"] == Recipe.from_dict(changed).hash != Recipe.example("breast_cancer_drift").hash


# -- the image example end to end (reduced through --set) -----------------------------------------
def test_digits_example_runs_end_to_end_with_reduced_size(tmp_path):
    pytest.importorskip("albumentations")
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    argv = ["run", "digits_drift", "--set", "data.scenario_params.n_samples=500", "--set", "model.train.epochs=3",
            "--set", "retrain.params.epochs=3", "--set", "fill.n=30", "--set", "gate.n_bootstrap=200"]
    code, out, err = _cli(argv, tmp_path)
    assert code == 0, err
    # UMAP (the clusters diagnoser) must leave torch's thread count alone: other threads, other floats
    assert torch.get_num_threads() == threads
    folder = tmp_path / "curakit-runs" / "digits_drift"
    assert OUTPUTS <= {p.name for p in folder.iterdir()}
    run = json.loads((folder / "run.json").read_text())
    table = pd.DataFrame(run["comparison"]).set_index("strategy")
    assert [s for s in table.index if s != "naive"] == ["do_nothing", "continue_all", "scratch_all"]
    assert table.loc["do_nothing", "new"] < table.loc["do_nothing", "old"]  # the drift hurts the incumbent
    assert 1 <= len(run["slices"]) <= 2 and {s["method"] for s in run["slices"]} <= {"confusion", "clusters"}
    assert run["rows_by_origin"]["augmented"] == 30 * len(run["slices"])
    ts = curate.TrainingSet.load(folder / "training_set")
    aug = ts.manifest[ts.manifest["origin"] == "augmented"]
    assert len(aug) == run["rows_by_origin"]["augmented"] and ts.images.shape[1:] == (16, 16, 1)
    reg = curate.Registry(tmp_path / "curakit-runs" / "registry")
    versions = reg.versions()
    assert versions[0].strategy == "initial" and versions[0].model_format == "torch-state-dict"
    if run["chosen"] == "do_nothing":
        assert len(versions) == 1 and run["promotion"] is None
    else:
        assert versions[1].strategy == run["chosen"] and len(run["promotion"]["reasons"]) >= 2
    assert f"chosen: {run['chosen']}" in out


# -- bad input through the CLI ----------------------------------------------------------------------
def test_unknown_key_in_a_recipe_file_is_one_line_with_exit_1(tmp_path):
    text = example_text("breast_cancer_drift").replace("  strategies: [", "  strategys: [")
    (tmp_path / "r.yaml").write_text(text)
    code, out, err = _cli(["run", "r.yaml"], tmp_path)
    assert code == 1 and out == ""
    assert err == "Error: Unknown key 'strategys' in recipe section 'retrain'. Did you mean 'strategies'?\n"
    assert not (tmp_path / "curakit-runs").exists()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["run", "digit_drift"], 1, "Error: 'digit_drift' is neither a recipe file nor an example recipe. Did you mean "
                                    "'digits_drift'? Examples: breast_cancer_drift, digits_drift (curakit run --list-examples)."),
        (["run", "--example", "breast_cancer"], 1, "Error: Unknown example recipe 'breast_cancer'. Did you mean "
                                                   "'breast_cancer_drift'? Examples: breast_cancer_drift, digits_drift."),
        (["run", "--show-example", "digits"], 1, "Error: Unknown example recipe 'digits'. Did you mean 'digits_drift'?"),
        (["run", "missing.yaml"], 1, "Error: no such file or folder: missing.yaml. Check the path."),
        (["run", "digits_drift", "--check", "--set", "retrain.params.epochs"], 1,
         "Error: The --set option takes KEY=VALUE with a dotted KEY, such as retrain.params.epochs=2. "
         "Got 'retrain.params.epochs' instead."),
        (["run", "digits_drift", "--check", "--set", "name.x=1"], 1,
         "Error: The --set option cannot set name.x: recipe key 'name' is not a mapping."),
        (["run", "digits_drift", "--check", "--set", "diagnose.max_slice=1"], 1,
         "Error: Unknown key 'max_slice' in recipe section 'diagnose'. Did you mean 'max_slices'?"),
        (["run", "digits_drift", "--check", "--set", "data.scenario_params.n_sample=100"], 1,
         "Error: Unknown key 'n_sample' in recipe key 'data.scenario_params' of scenario 'digits_drift'. "
         "Did you mean 'n_samples'?"),
        (["run"], 2, "give a recipe file or an example name"),
        (["run", "digits_drift", "--example", "digits_drift"], 2, "RECIPE and --example cannot be combined"),
    ],
)
def test_bad_cli_input(argv, code, message, tmp_path):
    got, out, err = _cli(argv, tmp_path)
    assert got == code and out == ""
    if code == 1:
        assert err.startswith(message) and err.count("\n") == 1
    else:
        assert message in err
    assert not any(tmp_path.iterdir())


def test_a_folder_is_not_a_recipe(tmp_path):
    (tmp_path / "recipes").mkdir()
    code, _, err = _cli(["run", "recipes"], tmp_path)
    assert code == 1
    assert err == "Error: 'recipes' is a folder; give a recipe file (YAML) or an example recipe name.\n"


# -- each example runs twice in a row in one folder (the second starts from the champion) ----------
QUICK = {"breast_cancer_drift": ["--set", "gate.n_bootstrap=200"],
         "digits_drift": ["--set", "data.scenario_params.n_samples=500", "--set", "model.train.epochs=2",
                          "--set", "retrain.params.epochs=2", "--set", "fill.n=20", "--set", "gate.n_bootstrap=100"]}


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_runs_twice_in_one_folder(name, tmp_path):
    if name == "digits_drift":
        pytest.importorskip("albumentations")
        pytest.importorskip("torch")
    argv = ["run", name, *QUICK.get(name, [])]
    code, _, err = _cli(argv, tmp_path)
    assert code == 0, err
    reg = curate.Registry(tmp_path / "curakit-runs" / "registry")
    champion_before, n_before = reg.champion, len(reg.versions())
    code, out, err = _cli([*argv[:2], "--check", *argv[2:]], tmp_path)
    assert code == 0 and "Error" not in err, err
    code, out, err = _cli(argv, tmp_path)
    assert code == 0, err
    run = json.loads((tmp_path / "curakit-runs" / name / "run.json").read_text())
    versions = curate.Registry(tmp_path / "curakit-runs" / "registry").versions()
    assert [v.strategy for v in versions].count("initial") == 1  # the second run started from the champion
    assert len(versions) >= n_before and champion_before is not None
    table = [r["strategy"] for r in run["comparison"]]
    wanted = Recipe.example(name).data["retrain"]["strategies"]
    for strategy in wanted:  # each asked-for strategy either ran or is reported as skipped, with why
        assert (strategy in table) != (strategy in run["skipped"])
        if strategy in run["skipped"]:
            assert f"skipped {strategy}: " in out and "cannot" in run["skipped"][strategy]
