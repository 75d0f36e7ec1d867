"""atomic_dir: the swap leaves either the old or the new folder, never none, and never replaces
a folder curakit did not write."""

import subprocess
import sys

import pytest

from curakit.exceptions import DataError
from curakit.io import OUTPUT_MARKER, atomic_dir, recover_dir


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _write(path, text):
    with atomic_dir(path) as tmp:
        (tmp / "result.txt").write_text(text)


def test_replaces_its_own_output_and_leaves_no_temporaries(tmp_path):
    out = tmp_path / "out"
    _write(out, "one")
    _write(out, "two")
    assert (out / "result.txt").read_text() == "two" and (out / OUTPUT_MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failing_body_keeps_the_earlier_result(tmp_path):
    out = tmp_path / "out"
    _write(out, "one")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "result.txt").write_text("half")
            raise RuntimeError("crash")
    assert (out / "result.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_never_replaces_a_users_folder_or_file(tmp_path):
    notes = tmp_path / "project"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="did not write"):
        _write(notes, "x")
    assert (notes / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(DataError, match="is a file"):
        _write(afile, "x")
    assert afile.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    _write(empty, "ok")
    assert (empty / "result.txt").read_text() == "ok"


def test_a_kill_between_the_two_renames_is_undone(tmp_path):
    out = tmp_path / "out"
    _write(out, "earlier")
    pid = _dead_pid()
    out.rename(tmp_path / f".out.old-{pid}")  # the state a kill mid-swap leaves (fallback path)
    (tmp_path / f".out.tmp-{pid}-abc").mkdir()  # and a dead run's temporary
    recover_dir(out)
    assert (out / "result.txt").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_live_runs_temporary_is_left_alone(tmp_path):
    import os

    live = tmp_path / f".out.tmp-{os.getppid()}-x"
    live.mkdir()
    recover_dir(tmp_path / "out")
    assert live.exists()
