"""How ``curakit._cli.main`` reports what is not a curakit error: one line and exit 70 for a bug,
the traceback only with ``--debug`` / ``CURAKIT_DEBUG=1``; OS errors name the file in the way."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from curakit import __version__
from curakit._cli import EXIT_CODES, EXIT_INTERNAL, main, report_error
from curakit.exceptions import DataError

_BOOM = """import warnings

import torch


class Boom(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.head = torch.nn.Linear(2 * 6 * 6, 2)

    def forward(self, x):
        warnings.warn("about to fail", UserWarning)
        raise ZeroDivisionError("boom in forward")
"""


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # a real traceback, as main sees it
        return caught


def test_exit_codes_are_distinct_and_documented():
    assert EXIT_INTERNAL == 70 and set(EXIT_CODES) == {0, 1, 2, 3, 70, 130, 141}
    import curakit._cli as cli

    for code in EXIT_CODES:
        assert str(code) in cli.__doc__


def test_a_curakit_error_is_one_line_exit_1(capsys):
    assert report_error(_raised(DataError("The table has no column 'y'. Name it with --target."))) == 1
    assert capsys.readouterr().err == "Error: The table has no column 'y'. Name it with --target.\n"


def test_an_unexpected_exception_is_one_internal_error_line(capsys):
    code = report_error(_raised(ValueError("first line\n  second line")))
    err = capsys.readouterr().err
    assert code == 70 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"Error: internal error in curakit {__version__}: ValueError: first line second line")
    assert "(raised in test_cli_internal_errors.py line" in err
    assert "rerun with --debug (or CURAKIT_DEBUG=1) for the traceback, and please report it." in err


def test_debug_prints_the_traceback_before_the_line(capsys):
    assert report_error(_raised(RuntimeError("deep")), debug=True) == 70
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[-2] == "RuntimeError: deep"
    assert lines[-1].startswith("Error: internal error in curakit") and lines[-1].endswith("traceback above.")


def test_a_file_where_a_folder_is_needed_is_named(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    with pytest.raises(NotADirectoryError) as info:
        (blocker / "sub").mkdir()
    assert report_error(info.value) == 1
    err = capsys.readouterr().err
    assert err == (f"Error: {str(blocker)!r} is a file, not a folder, so nothing can be written in it. Choose a path "
                   "under a folder (a file is never replaced).\n")
    with pytest.raises(FileExistsError) as info:
        os.makedirs(blocker, exist_ok=True)  # what mkdir(parents=True) does for a parent
    assert report_error(info.value) == 1 and str(blocker) in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_an_existing_folder_is_not_blamed_as_a_file(tmp_path, capsys):
    with pytest.raises(FileExistsError) as info:
        os.mkdir(tmp_path)
    assert report_error(info.value) == 1
    err = capsys.readouterr().err
    assert "is a file" not in err and err.startswith("Error: File exists") and err.count("\n") == 1


def test_memory_error_is_a_user_facing_line(capsys):
    assert report_error(_raised(MemoryError())) == 1
    assert capsys.readouterr().err.startswith("Error: out of memory.")


def test_unknown_flag_is_reported_by_its_subcommand_with_a_hint(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["registry", "promote", "reg", "res", "--max-slice-dorp", "0.1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: curakit registry promote" in err
    assert "unrecognized arguments: --max-slice-dorp 0.1. Did you mean '--max-slice-drop'?" in err
    with pytest.raises(SystemExit):
        main(["registry", "history", "reg", "--bogus"])
    err = capsys.readouterr().err
    assert "curakit registry history: error: unrecognized arguments: --bogus." in err and "Did you mean" not in err


def test_debug_flag_is_accepted_before_and_after_the_command(tmp_path):
    from curakit._cli import build_parser

    for lazy in (True, False):
        parser = build_parser(lazy=lazy)
        assert parser.parse_args(["--debug", "registry", "list", str(tmp_path)]).debug is True
        assert parser.parse_args(["registry", "list", str(tmp_path), "--debug"]).debug is True
        assert parser.parse_args(["registry", "list", str(tmp_path)]).debug is False


@pytest.fixture(scope="module")
def boom(tmp_path_factory):
    """A real model whose forward raises (a bug outside curakit) and a tiny digits image folder."""
    import torch
    from sklearn.datasets import load_digits

    from curakit.imageio import write_png

    base = tmp_path_factory.mktemp("boom")
    (base / "boommod.py").write_text(_BOOM)
    digits = load_digits()
    for i in range(6):
        folder = base / "imgs" / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        write_png(folder / f"{i}.png", (digits.images[i] * (255 / 16)).round().astype(np.uint8))
    sys.path.insert(0, str(base))
    try:
        import boommod

        torch.save(boommod.Boom().state_dict(), base / "w.pt")
    finally:
        sys.path.remove(str(base))
        sys.modules.pop("boommod", None)
    return base


def _curakit(base, *argv, top=(), debug_env="0"):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CURAKIT_DEBUG": debug_env}
    argv = [*top, "diagnose", "--images", "imgs", "--model", "w.pt", "--model-class", "boommod:Boom", *argv]
    return subprocess.run([sys.executable, "-m", "curakit", *argv], cwd=base, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("how", ["plain", "-q", "--debug", "CURAKIT_DEBUG=1"])
def test_console_script_on_a_bug_in_the_users_model(boom, how):
    """A model whose forward warns, then raises: one WARNING line and one internal-error line
    (exit 70); -q keeps only the error; --debug / CURAKIT_DEBUG=1 add Python's warning and the traceback."""
    out_dir = f"o_{how.strip('-').replace('=', '_')}"
    argv = ["--out", out_dir, *(["--debug"] if how == "--debug" else [])]
    out = _curakit(boom, *argv, top=["-q"] if how == "-q" else [],
                   debug_env="1" if how.startswith("CURAKIT_DEBUG") else "0")
    assert out.returncode == 70, out.stderr[-800:]
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith(f"Error: internal error in curakit {__version__}: ZeroDivisionError: boom in forward "
                                "(raised in boommod.py line 14)")
    if how == "plain":
        assert lines == ["WARNING UserWarning: about to fail (boommod.py:13)", lines[-1]]
    elif how == "-q":
        assert lines == [lines[-1]]
    else:
        assert "Traceback (most recent call last):" in lines and "UserWarning: about to fail" in out.stderr
    assert not (boom / out_dir).exists()


def test_a_closed_output_pipe_stops_quietly(tmp_path):
    """``curakit ... | head``: when the reader goes away, exit 141 and nothing on stderr (no
    "Broken pipe. Check the path" and no "Exception ignored" from the final flush)."""
    proc = subprocess.Popen([sys.executable, "-m", "curakit", "run", "--show-example", "digits_drift"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == ""
