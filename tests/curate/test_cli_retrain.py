import pickle

import numpy as np
import pandas as pd
import pytest
import yaml
from _retrain_fixtures import RECIPE, breast_cancer_drift, images, make_ts, trained_cnn
from sklearn.linear_model import LogisticRegression

import curate
from curakit._cli import main
from curakit.exceptions import ParameterError


@pytest.fixture(scope="module")
def tabular_files(tmp_path_factory):
    folder = breast_cancer_drift(tmp_path_factory.mktemp("cli"))
    old, new = pd.read_parquet(folder / "old.parquet"), pd.read_parquet(folder / "new.parquet")
    features = [c for c in old.columns if c != "target"]
    old_tr, old_te = old.iloc[:220], old.iloc[220:]
    new_tr, new_te = new.iloc[:150], new.iloc[150:]
    old_te.to_parquet(folder / "old_test.parquet")
    new_te.to_csv(folder / "new_test.csv", index=False)
    frame = pd.concat([old_tr, new_tr], ignore_index=True)
    ts = make_ts(frame, "target", ["old"] * len(old_tr) + ["new"] * len(new_tr), features=features)
    ts.save(folder / "ts")
    model = LogisticRegression(max_iter=2000, warm_start=True).fit(old_tr[features], old_tr["target"])
    with open(folder / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    curate.Registry(folder / "reg").register(model)
    return folder


@pytest.mark.parametrize("argv", [["retrain", "--help"], ["run", "--help"], ["registry", "--help"],
                                  ["registry", "promote", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0 and "usage: curakit" in capsys.readouterr().out


def test_retrain_promote_list_rollback(tabular_files, capsys):
    f = tabular_files
    evals = ["--eval", f"old={f / 'old_test.parquet'}", "--eval", f"new={f / 'new_test.csv'}"]
    code = main(["retrain", str(f / "ts"), "--model", str(f / "reg"), *evals, "--strategy", "continue_all",
                 "--out", str(f / "res")])
    out = capsys.readouterr().out
    assert code == 0 and "new: accuracy" in out and "continue_all: trained in" in out
    result = curate.RetrainResult.load(f / "res")
    assert result.strategy == "continue_all" and set(result.predictions) == {"old", "new"}
    code = main(["registry", "promote", str(f / "reg"), str(f / "res"), "--max-drop-old", "0.5",
                 "--n-bootstrap", "200"])
    out = capsys.readouterr().out
    assert code in (0, 3) and out.startswith("v2: ")  # 3: the gate rejected it
    promoted = "promoted to champion" in out
    assert promoted == (code == 0)
    assert main(["registry", "list", str(f / "reg")]) == 0
    lines = capsys.readouterr().out.splitlines()
    champion_lines = [ln for ln in lines if ln.startswith("*")]
    assert len(champion_lines) == 1 and champion_lines[0].split()[1] == ("v2" if promoted else "v1")
    if promoted:
        assert main(["registry", "rollback", str(f / "reg")]) == 0
        assert capsys.readouterr().out.strip() == "champion: v2 -> v1"
    assert main(["registry", "rollback", str(f / "reg")]) == 1
    assert "Error: No earlier champion to roll back to" in capsys.readouterr().err
    assert main(["registry", "rollback", str(f / "reg"), "--to", "v2"]) == 0
    assert main(["registry", "history", str(f / "reg")]) == 0
    assert "rollback" in capsys.readouterr().out
    # the same retrain from the pickled estimator gives the same model
    assert main(["retrain", str(f / "ts"), "--model", str(f / "model.pkl"), *evals, "--strategy", "continue_all",
                 "--out", str(f / "res2")]) == 0
    assert curate.RetrainResult.load(f / "res2").candidate_hash == result.candidate_hash


def test_cli_errors(tabular_files, capsys):
    f = tabular_files
    evals = ["--eval", f"old={f / 'old_test.parquet'}", "--eval", f"new={f / 'new_test.csv'}"]
    assert main(["retrain", str(f / "ts"), "--model", str(f / "reg"), *evals, "--strategy", "scratch_al",
                 "--out", str(f / "bad")]) == 1
    assert "Error: Unknown strategy 'scratch_al'. Did you mean 'scratch_all'?" in capsys.readouterr().err
    assert not (f / "bad").exists()
    assert main(["retrain", str(f / "ts"), "--model", str(f / "reg"), "--out", str(f / "bad")]) == 1
    assert "needs --eval NAME=FILE" in capsys.readouterr().err
    assert main(["retrain", str(f / "ts"), "--model", str(f / "nope.pkl"), *evals, "--out", str(f / "bad")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["retrain", str(f / "ts"), "--model", str(f / "reg"), "--eval", "old", "--out", str(f / "bad")]) == 1
    assert "--eval takes NAME=FILE" in capsys.readouterr().err
    assert main(["registry", "list", str(f / "missing")]) == 1
    assert "is not a curakit registry" in capsys.readouterr().err
    assert not (f / "missing").exists()


def test_retrain_images_from_a_state_dict(digits, tmp_path, capsys):
    import torch

    ts, evals, d = images(digits)
    small = ts.subset(np.arange(0, len(ts), 3))
    small.save(tmp_path / "ts")
    model = trained_cnn(digits, epochs=1)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    for name, (x, y) in evals.items():
        np.savez(tmp_path / f"{name}.npz", images=x, labels=y)
    kwargs = '{"num_classes": 10, "in_channels": 1, "width": 8}'
    code = main(["retrain", str(tmp_path / "ts"), "--model", str(tmp_path / "m.pt"), "--model-class",
                 "curate.models:SmallCNN", "--model-kwargs", kwargs, "--eval", f"old={tmp_path / 'old.npz'}",
                 "--eval", f"new={tmp_path / 'new.npz'}", "--strategy", "finetune_head", "--param", "epochs=1",
                 "--out", str(tmp_path / "res")])
    assert code == 0, capsys.readouterr().err
    r = curate.RetrainResult.load(tmp_path / "res")
    assert r.strategy == "finetune_head" and r.params["strategy_params"] == {"epochs": 1}
    assert r.model.head.out_features == 10


def test_run_recipe(tmp_path, capsys):
    folder = breast_cancer_drift(tmp_path)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(folder / "recipe.yaml"), "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "chosen: " in out and "do_nothing" in out and (tmp_path / "o" / "comparison.html").exists()
    bad = dict(RECIPE, retrain={"strategys": ["scratch_all"]})
    (folder / "bad.yaml").write_text(yaml.safe_dump(bad))
    assert main(["run", str(folder / "bad.yaml")]) == 1
    assert capsys.readouterr().err.strip() == (
        "Error: Unknown key 'strategys' in recipe section 'retrain'. Did you mean 'strategies'?")


def test_torch_model_on_a_table_is_one_line(tabular_files, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    f = tabular_files
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2)),
               tmp_path / "whole.pt")
    code = main(["retrain", str(f / "ts"), "--model", str(tmp_path / "whole.pt"), "--eval",
                 f"new={f / 'new_test.csv'}", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "from images" in err[0]
    assert not (tmp_path / "r").exists()


def test_eval_sets_and_estimate_data_share_one_reader(tmp_path):
    """retrain maps an eval set's class names to the training set's list (its order, not the folder's);
    the estimate's first named source makes the list the later ones map into (_eval_input.read_labelled)."""
    from curakit._cli._eval_input import read_labelled
    from curakit._cli.retrain import load_eval
    from curakit.exceptions import DataError
    from curakit.imageio import write_png

    rng = np.random.default_rng(0)
    for name, count in (("cat", 3), ("dog", 2)):
        (tmp_path / "ev" / name).mkdir(parents=True)
        for k in range(count):
            write_png(tmp_path / "ev" / name / f"{k}.png", rng.integers(0, 255, (6, 6, 1), dtype=np.uint8))
    name, (x, y) = load_eval(f"new={tmp_path / 'ev'}", ["dog", "cat"])
    assert name == "new" and x.shape == (5, 6, 6, 1) and sorted(y.tolist()) == [0, 0, 1, 1, 1]
    (x2, y2), classes = read_labelled(tmp_path / "ev", "--old")
    assert classes == ["cat", "dog"] and sorted(y2.tolist()) == [0, 0, 0, 1, 1]  # its own sorted names
    (_, y3), again = read_labelled(tmp_path / "ev", "--new", classes=["dog", "cat"])
    assert again == ["dog", "cat"] and np.array_equal(y3, 1 - y2)
    with pytest.raises(DataError, match=r"^Eval set 'new' names its classes but the training set has no class list"):
        load_eval(f"new={tmp_path / 'ev'}", None)
    with pytest.raises(DataError, match="has class 'dog', which the class list of the first data set does not list"):
        load_eval(f"new={tmp_path / 'ev'}", ["cat"])
    with pytest.raises(FileNotFoundError):
        load_eval(f"new={tmp_path / 'nope'}", ["cat"])


def test_run_require_promotion_exits_3_when_nothing_was_promoted(tmp_path, capsys):
    """A retrain job stops on exit 3: a gate no candidate passes keeps the incumbent; a permissive
    gate's exit code agrees with the registry (0 exactly when a new champion was promoted)."""
    folder = breast_cancer_drift(tmp_path)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    recipe = str(folder / "recipe.yaml")
    assert main(["run", recipe, "--require-promotion", "--set", "gate.min_gain_new=1.0"]) == 3
    captured = capsys.readouterr()
    assert "kept as a candidate" in captured.out or "nothing to promote" in captured.out
    assert captured.err.strip().splitlines()[-1] == "not promoted: exit 3 (--require-promotion)"
    assert curate.Registry(folder / "reg").champion == "v1"  # the incumbent, registered by the run
    code = main(["run", recipe, "--require-promotion", "--set", "gate.min_gain_new=-1", "--set",
                 "gate.max_drop_old=1", "--set", "gate.max_slice_drop=null", "--set", "retrain.max_forgetting=1"])
    champion = curate.Registry(folder / "reg").champion
    assert code in (0, 3) and (code == 0) == (champion != "v1"), capsys.readouterr().err


def test_run_require_promotion_needs_a_registry(tmp_path, capsys):
    folder = breast_cancer_drift(tmp_path)
    (folder / "recipe.yaml").write_text(yaml.safe_dump({k: v for k, v in RECIPE.items() if k != "registry"}))
    assert main(["run", str(folder / "recipe.yaml"), "--require-promotion"]) == 1
    assert capsys.readouterr().err.strip() == (
        "Error: --require-promotion needs a registry to promote into. Give --registry DIR or the recipe key 'registry'.")
    assert not (folder / "out").exists()


def test_an_empty_output_or_registry_is_refused_not_the_working_folder(tmp_path, monkeypatch, capsys):
    """``--registry ""`` used to open a registry in the working folder (Path("") is "."): now a usage
    error on the command line and a one-line ParameterError from Python, before any work."""
    folder = breast_cancer_drift(tmp_path)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    monkeypatch.chdir(folder)
    for flag in ("--registry", "--output"):
        with pytest.raises(SystemExit) as exc:
            main(["run", "recipe.yaml", flag, ""])
        assert exc.value.code == 2 and f"{flag} is empty" in capsys.readouterr().err
    with pytest.raises(ParameterError, match=r"^The 'registry' folder is empty"):
        curate.run_recipe(curate.Recipe.from_dict(RECIPE, base_dir=folder), registry="")
    assert not (folder / "registry.json").exists() and not (folder / "reg").exists()
