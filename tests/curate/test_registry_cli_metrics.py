"""``curakit registry register --metrics``: a wrong value is a one-line error that leaves no folder
behind, and a folder a failed first register left (``.lock``, empty ``versions/``) is still usable."""

import numpy as np
import pytest

from curakit._cli import main
from curakit.exceptions import ParameterError


@pytest.fixture()
def model_file(tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    path = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression().fit(rng.normal(size=(40, 3)), np.arange(40) % 2), path)
    return path


@pytest.mark.parametrize("metrics, message", [("[1]", "must be a JSON object"),
                                               ('{"new": "high"}', "scores of eval set 'new' must be"),
                                               ("{bad", "not valid JSON")])
def test_bad_metrics_are_one_line_errors_and_leave_nothing(model_file, tmp_path, capsys, metrics, message):
    reg = tmp_path / "reg2"
    code = main(["registry", "register", str(reg), "--model", str(model_file), "--metrics", metrics,
                 "--allow-pickle"])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not reg.exists()


def test_a_folder_left_by_a_failed_register_is_reused(model_file, tmp_path, capsys):
    reg = tmp_path / "reg2"
    (reg / "versions").mkdir(parents=True)
    (reg / ".lock").write_text("")
    code = main(["registry", "register", str(reg), "--model", str(model_file), "--allow-pickle",
                 "--metrics", '{"new": {"accuracy": 0.9}}'])
    assert code == 0 and "registered v1" in capsys.readouterr().out
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["registry", "register", str(tmp_path / "other"), "--model", str(model_file), "--allow-pickle"]) != 0
    assert "not a curakit registry" in capsys.readouterr().err


def test_register_checks_metrics_in_the_library_too(tmp_path, model_file):
    import joblib

    import curate

    reg = curate.Registry(tmp_path / "r")
    with pytest.raises(ParameterError, match=r"metrics.*must be \{eval set"):
        reg.register(joblib.load(model_file), metrics=[1])
    assert reg.versions() == [] and not (tmp_path / "r" / "registry.json").exists()
