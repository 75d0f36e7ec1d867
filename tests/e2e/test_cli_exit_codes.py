"""The CLI's exit codes and one-line messages."""

from __future__ import annotations

import os
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


def test_ctrl_c_is_exit_130_with_one_line_and_no_partial_output(tmp_path):
    """A real SIGINT in the middle of ``curakit demo``: exit 130, one ``Error:`` line, no traceback,
    and the output folder is not left half-written."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "curakit", "-v", "demo", "--quick", "--no-progress", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "CURAKIT_DEBUG": "0"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell may ignore SIGINT
    )
    try:
        seen = []
        for line in proc.stderr:  # wait until the demo is really running inside main
            seen.append(line)
            if "demo step" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    err = "".join(seen) + rest
    assert proc.returncode == 130, err[-800:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "Error: interrupted; outputs written so far are complete, partial ones were discarded.")
    assert not (tmp_path / "out").exists()


def test_every_command_takes_debug_and_the_codes_are_documented(capsys):
    from curakit._cli import EXIT_CODES

    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 70, 130, 141]
    for name in ("demo", "diagnose", "augment", "build", "retrain", "run", "registry"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "--debug" in capsys.readouterr().out, name


def test_a_summary_ahead_of_its_module_is_not_listed(monkeypatch, capsys):
    """A SUMMARIES entry whose module curakit._cli.NAME is not there yet never breaks --help."""
    import curakit._cli as cli

    monkeypatch.setitem(cli.SUMMARIES, "nosuchcommand", "a command whose module is not written yet")
    for lazy in (True, False):
        assert "nosuchcommand" not in cli.build_parser(lazy=lazy).format_help()
    with pytest.raises(SystemExit) as exc:
        main(["nosuchcommand"])
    assert exc.value.code == 2 and "invalid choice: 'nosuchcommand'" in capsys.readouterr().err
