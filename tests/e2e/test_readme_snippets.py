"""Every python block of README.md runs as printed (the first, the library example, has its own test:
tests/curate/test_promotion_readme.py, which also checks what it registers)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_blocks_to_run():
    assert len(BLOCKS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("index", range(1, len(BLOCKS)))
def test_readme_python_block_runs_as_printed(index, tmp_path):
    block = BLOCKS[index]
    if "dask" in block:
        pytest.importorskip("distributed")
    if "moto" in block:  # the object-storage example starts a local S3-compatible server (the dev extra)
        pytest.importorskip("moto.server")
        pytest.importorskip("s3fs")
    script = tmp_path / "snippet.py"  # a file, as a user saves it (Dask's worker processes import it again)
    script.write_text(block, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    if "open_engine" in block:  # the Dask build and the pandas build print their row counts: equal
        first, second = run.stdout.strip().splitlines()[-1].split()
        assert first == second
