"""The CLI's exit codes and one-line messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from curakit._cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "diagnose", "augment", "build", "retrain", "run", "registry"):
        assert name in out


@pytest.mark.parametrize("name", ["demo", "diagnose", "augment", "build", "retrain", "run", "registry"])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: curakit " + name in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--epochs", "many"])
    assert exc.value.code == 2


def test_domain_errors_exit_1_with_one_line(capsys):
    assert main(["demo", "--epochs", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "Error: --epochs must be a positive int. Got 0 instead."
    assert main(["demo", "--tolerance", "2"]) == 1
    assert "--tolerance must be a float in the range [0.0, 1.0]" in capsys.readouterr().err


def test_demo_into_a_file_path_fails_cleanly(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert main(["demo", "--quick", "--out", str(target / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "curate", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("curakit ")
