"""``--out`` against the inputs and against files on the way (curakit._cli._output)."""

from __future__ import annotations

import pytest

from curakit._cli._output import check_apart, check_out, file_above
from curakit.exceptions import DataError


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "ts").mkdir()
    (tmp_path / "ts" / "training_set.json").write_text("{}")
    (tmp_path / "reg").mkdir()
    (tmp_path / "old.csv").write_text("a\n1\n")
    (tmp_path / "afile").write_text("keep me")
    return tmp_path


@pytest.mark.parametrize(("out", "force"), [
    ("ts", False), ("ts", True),            # the input itself: replacing it destroys it
    ("ts/res", False), ("ts/res", True),    # inside an input folder: becomes part of the input
    (".", False),                           # holds an input: replaced whole without --force
    ("reg", False),                         # the registry of --model reg@v1
    ("old.csv", False),
])
def test_an_output_overlapping_an_input_is_refused(tree, monkeypatch, out, force):
    monkeypatch.chdir(tree)
    inputs = {"training set": "ts", "--model": "reg@v1", "--eval old": "old.csv", "--features": None}
    with pytest.raises(DataError, match=r"^--out .* overlaps the input .*Choose an output folder outside the inputs\.$"):
        check_apart(out, inputs, force=force)


@pytest.mark.parametrize(("out", "force"), [("res", False), ("../elsewhere", False), (".", True)])
def test_an_output_apart_from_the_inputs_passes(tree, monkeypatch, out, force):
    monkeypatch.chdir(tree)
    check_apart(out, {"training set": "ts", "--model": "reg@v1", "--eval old": "old.csv"}, force=force)


def test_a_path_under_a_file_is_refused_before_any_work(tree):
    assert file_above(tree / "afile" / "sub" / "deeper") == tree / "afile"
    assert file_above(tree / "ts" / "new") is None
    with pytest.raises(DataError, match=r"lies under '.*afile', which is a file, not a folder"):
        check_out(tree / "afile" / "sub", force=True)
    assert (tree / "afile").read_text() == "keep me"
