import copy
import json

import pytest
import yaml
from _retrain_fixtures import RECIPE, breast_cancer_drift

import curate
from curakit.exceptions import ParameterError, UnknownNameError
from curate import Recipe, run_recipe


def _with(path, value):
    d = copy.deepcopy(RECIPE)
    section, _, key = path.partition(".")
    if key:
        d[section][key] = value
    else:
        d[section] = value
    return d


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_with("retrain.strategys", ["scratch_all"]),
         r"^Unknown key 'strategys' in recipe section 'retrain'\. Did you mean 'strategies'\?$"),
        (_with("retrian", {}), r"^Unknown top-level key 'retrian' in recipe\. Did you mean 'retrain'\?$"),
        (_with("gate.zzz", 1), r"^Unknown key 'zzz' in recipe section 'gate'\. Known keys: min_gain_new, max_drop_old"),
        (_with("gate.min_gain_new", "big"), r"^Recipe key 'gate\.min_gain_new' must be an int or a number\. Got str instead\.$"),
        (_with("diagnose.max_slices", True), r"Recipe key 'diagnose\.max_slices' must be an int\. Got bool instead\."),
        (_with("build", [1, 2]), r"^Recipe section 'build' must be a mapping\. Got list instead\.$"),
        ({k: v for k, v in RECIPE.items() if k != "data"}, r"A recipe needs a 'data' section"),
        (_with("data", {"old": "a.parquet", "new": "b.csv"}), r"^Recipe section 'data' needs the key 'target'\.$"),
    ],
)
def test_schema_errors(data, match):
    with pytest.raises(ParameterError, match=match):
        Recipe.from_dict(data)


def test_hash_is_canonical_and_yaml_round_trips(tmp_path):
    a = Recipe.from_dict(RECIPE)
    shuffled = dict(reversed(list(copy.deepcopy(RECIPE).items())))
    assert Recipe.from_dict(shuffled).hash == a.hash
    assert Recipe.from_dict(_with("gate.max_drop_old", 0.03)).hash != a.hash
    (tmp_path / "r.yaml").write_text(a.to_yaml())
    b = Recipe.from_yaml(tmp_path / "r.yaml")
    assert b.hash == a.hash and b.base_dir == tmp_path
    (tmp_path / "bad.yaml").write_text("data: [\n")
    with pytest.raises(ParameterError, match=r"is not valid YAML at line"):
        Recipe.from_yaml(tmp_path / "bad.yaml")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = breast_cancer_drift(tmp_path_factory.mktemp("recipe"))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    return folder, run_recipe(folder / "recipe.yaml")


def test_recipe_runs_every_step_and_stores_its_hash(first_run):
    folder, run = first_run
    rec = Recipe.from_yaml(folder / "recipe.yaml")
    assert run.recipe_hash == rec.hash
    assert 1 <= len(run.slices) <= 2
    assert run.rows_by_origin["synthetic"] > 0 and run.rows_by_origin["new"] > 0
    # (a "naive" baseline row may follow the strategies)
    assert [s for s in run.comparison.frame["strategy"] if s != "naive"] == ["do_nothing", *RECIPE["retrain"]["strategies"]]
    assert run.chosen == run.comparison.best("new", max_forgetting=0.05)
    reg = curate.Registry(folder / "reg")
    versions = reg.versions()
    assert versions[0].strategy == "initial" and versions[0].recipe_hash == rec.hash
    if run.chosen != "do_nothing":
        assert run.promotion is not None and versions[-1].strategy == run.chosen
        assert versions[-1].recipe_hash == rec.hash and versions[-1].recipe == rec.to_dict()
        assert reg.champion == (run.promotion.version if run.promotion.promoted else "v1")
    out = folder / "out"
    assert {"recipe.yaml", "run.json", "slices.json", "comparison.html", "training_set"} <= {p.name for p in out.iterdir()}
    saved = json.loads((out / "run.json").read_text())
    assert saved["recipe_hash"] == rec.hash and saved["training_set"] == run.training_set
    assert curate.TrainingSet.load(out / "training_set").fingerprint() == run.training_set


def test_same_seed_same_run_and_the_champion_is_reused(first_run, tmp_path):
    folder, run = first_run
    again = run_recipe(Recipe.from_dict(RECIPE, base_dir=folder), registry=tmp_path / "reg2", output=tmp_path / "o")
    assert again.training_set == run.training_set
    assert again.comparison.frame.drop(columns="train_time").equals(run.comparison.frame.drop(columns="train_time"))
    # a second run on the same registry starts from its champion
    n_before = len(curate.Registry(tmp_path / "reg2").versions())
    third = run_recipe(Recipe.from_dict(RECIPE, base_dir=folder), registry=tmp_path / "reg2", output=tmp_path / "o")
    versions = curate.Registry(tmp_path / "reg2").versions()
    added = third.promotion is not None and getattr(third.promotion, "registered", True)
    assert len(versions) == n_before + (1 if added else 0)
    assert all(v.strategy != "initial" for v in versions[n_before:])


def test_a_failing_recipe_leaves_the_registry_untouched(first_run):
    folder, _ = first_run
    state = (folder / "reg" / "registry.json").read_bytes()
    with pytest.raises(UnknownNameError, match=r"Unknown strategy 'scratch_al'\. Did you mean 'scratch_all'\?"):
        run_recipe(Recipe.from_dict(_with("retrain.strategies", ["scratch_al"]), base_dir=folder))
    with pytest.raises(FileNotFoundError):
        run_recipe(Recipe.from_dict(_with("data.new", "missing.parquet"), base_dir=folder))
    assert (folder / "reg" / "registry.json").read_bytes() == state


def test_image_recipe_on_the_digits_scenario(tmp_path):
    pytest.importorskip("albumentations")
    from curate._demo import DEMO_PIPELINE

    rec = {"random_state": 0,
           "data": {"scenario": "digits_drift", "scenario_params": {"n_samples": 400}},
           "model": {"estimator": "curate.models.SmallCNN", "params": {"width": 8}, "train": {"epochs": 2, "lr": 0.01}},
           "diagnose": {"methods": ["confusion"], "max_slices": 1},
           "fill": {"pipeline": DEMO_PIPELINE, "n": 10},
           "build": {"split": 0.1},
           "retrain": {"strategies": ["continue_all"], "params": {"epochs": 1, "lr": 0.01}},
           "gate": {"max_drop_old": 0.5, "n_bootstrap": 100},
           "registry": "reg"}
    run = run_recipe(Recipe.from_dict(rec, base_dir=tmp_path))
    assert run.rows_by_origin.get("augmented", 0) > 0 and len(run.slices) == 1
    assert [s for s in run.comparison.frame["strategy"] if s != "naive"] == ["do_nothing", "continue_all"]
    reg = curate.Registry(tmp_path / "reg")
    assert reg.versions()[0].model_format == "torch-state-dict"
    with pytest.raises(ParameterError, match=r"Recipe section 'data' with a scenario takes no 'old'"):
        run_recipe(Recipe.from_dict(dict(rec, data={"scenario": "digits_drift", "old": "x.parquet"}), base_dir=tmp_path))


def test_choose_names_the_eval_set_that_picks_the_candidate(first_run, tmp_path):
    import copy

    folder, _ = first_run
    data = copy.deepcopy(RECIPE)
    data["retrain"]["choose"] = "old"
    run = run_recipe(Recipe.from_dict(data, base_dir=folder), registry=tmp_path / "reg", output=tmp_path / "o")
    assert run.chosen == run.comparison.best("old", max_forgetting=data["retrain"].get("max_forgetting"))
    data["retrain"]["choose"] = "newest"
    with pytest.raises(ValueError, match="The 'by' parameter of ComparisonTable.best must be one of"):
        run_recipe(Recipe.from_dict(data, base_dir=folder), registry=tmp_path / "reg3", output=tmp_path / "o3")
    assert not (tmp_path / "reg3").exists() or not curate.Registry(tmp_path / "reg3").versions()


def test_selection_split_picks_on_rows_the_gate_does_not_score(first_run, tmp_path):
    """retrain.selection_split: the candidate is picked on one part of each holdout; the table's
    scores, the results' predictions and the gate see only the other part."""
    folder, plain = first_run
    data = copy.deepcopy(RECIPE)
    data["retrain"]["selection_split"] = 0.5
    run = run_recipe(Recipe.from_dict(data, base_dir=folder), registry=tmp_path / "reg", output=tmp_path / "o")
    table = run.comparison
    assert table.selection and set(table.selection["rows"]) >= {"new"}
    rows = table.selection["rows"]["new"]
    assert not set(rows["select"]) & set(rows["score"])
    n_full = len(plain.comparison.results["naive"].predictions["new"].y_true)
    n_score = len(table.results["naive"].predictions["new"].y_true)
    assert n_score == len(rows["score"]) and 0.3 * n_full < n_score < 0.7 * n_full
    assert run.chosen == table.best(data["retrain"].get("choose", "new"),
                                    max_forgetting=data["retrain"].get("max_forgetting"))
    if run.promotion is not None and run.promotion.decision:
        assert run.promotion.decision.get("checks")  # the gate ran on the scoring rows without a row mismatch
        named = run.promotion.decision["checks"].get("named_slices", {}).get("slices", [])
        # named slices are judged on the scored parts only, never on the rows the pick was made on
        assert all(not str(r.get("eval_set", "")).startswith("select_") for r in named)


def test_gate_section_sets_every_gate_value(first_run, tmp_path):
    """gate.max_slice_drop / class_clusters / flip_search / vs reach the gate; vs=naive is checked against the
    run's naive baseline (its own reason line); bad values fail before the registry exists."""
    folder, _ = first_run
    data = _with("gate", {"max_drop_old": 0.05, "n_bootstrap": 200, "max_slice_drop": 0.1, "class_clusters": 3,
                          "flip_search": True, "vs": "naive"})
    data["retrain"]["max_forgetting"] = 1.0  # a candidate is chosen, so the gate runs
    run = run_recipe(Recipe.from_dict(data, base_dir=folder), registry=tmp_path / "reg", output=tmp_path / "o")
    assert run.chosen != "do_nothing" and run.promotion is not None
    decision = run.promotion.decision
    assert {k: decision["gate"][k] for k in ("max_slice_drop", "class_clusters", "flip_search", "vs")} == {
        "max_slice_drop": 0.1, "class_clusters": 3, "flip_search": True, "vs": "naive"}
    assert any("over naive" in r for r in decision["reasons"])
    off = _with("gate", {"n_bootstrap": 200, "max_slice_drop": None})
    off["retrain"]["max_forgetting"] = 1.0
    run = run_recipe(Recipe.from_dict(off, base_dir=folder), registry=tmp_path / "reg2", output=tmp_path / "o2")
    assert not any("regression search" in r for r in run.promotion.decision["reasons"])
    for key, value, match in [("class_clusters", -1, r"'class_clusters' parameter of Gate must be an int in the range \[0, 64\]"),
                              ("vs", "best", r"'vs' parameter of Gate must be None or 'naive'"),
                              ("flip_search", "yes", r"Recipe key 'gate\.flip_search' must be true/false")]:
        with pytest.raises(ParameterError, match=match):
            run_recipe(Recipe.from_dict(_with("gate", {key: value}), base_dir=folder), registry=tmp_path / "reg3",
                       output=tmp_path / "o3")
    assert not (tmp_path / "reg3").exists() or not curate.Registry(tmp_path / "reg3").versions()
