"""The README's library example (its first python block), run exactly as printed on the bundled digits drift scenario."""

import subprocess
import sys
from pathlib import Path

import pytest

import curate

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using the library"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


README_EXAMPLE = _readme_example()


@pytest.mark.slow
def test_readme_library_example_runs_as_printed_and_promotes(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("albumentations")
    run = subprocess.run([sys.executable, "-c", README_EXAMPLE], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    reg = curate.Registry(tmp_path / "registry")
    events = [e["event"] for e in reg.history()]
    assert reg.champion == "v1"
    # whether the gate promotes depends on floats that differ across CPUs; either way one history entry per event
    if "promoted to champion" in run.stdout:
        assert [v.version for v in reg.versions()] == ["v1", "v2"]
        assert events == ["register", "promote", "rollback"]
    else:
        assert events[0] == "register" and events[1:] in ([], ["reject"])
    frame = reg.to_frame()
    assert frame["new"].notna().all() and frame["old"].notna().all()
