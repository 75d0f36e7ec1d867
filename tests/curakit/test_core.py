"""The shared plumbing: plugin registry, seeds, atomic writes, optional imports, progress."""

import os
import subprocess
import sys

import numpy as np
import pytest

from curakit.io import OUTPUT_MARKER, atomic_dir, atomic_write_json, atomic_write_text
from curakit.optional import import_optional
from curakit.plugins import PluginRegistry
from curakit.progress import progress, progress_enabled
from curakit.seeds import check_random_state, child_seed, spawn_seeds
from diagnose import MissingDependencyError, UnknownNameError


def test_registry_registers_and_refuses_duplicates():
    reg = PluginRegistry("widget")

    @reg.register("alpha", cost=1)
    def alpha():
        return 1

    assert reg.get("alpha") is alpha and reg.meta("alpha") == {"cost": 1}
    assert "alpha" in reg and reg.names() == ["alpha"] and len(reg) == 1
    with pytest.raises(ValueError, match="A widget named 'alpha' is already registered"):
        reg.register("alpha")(lambda: 2)
    with pytest.raises(UnknownNameError, match="Unknown widget 'alpa'. Did you mean 'alpha'\\? Known widgets: alpha."):
        reg.get("alpa")
    reg.unregister("alpha")
    assert reg.names() == []


def test_seeds_are_reproducible_and_independent():
    assert spawn_seeds(3, 4) == spawn_seeds(3, 4)
    assert len(set(spawn_seeds(3, 4))) == 4
    assert spawn_seeds(3, 4) != spawn_seeds(4, 4)
    assert child_seed(0, "umap") == child_seed(0, "umap") != child_seed(0, "hdbscan")
    assert child_seed(0, "a", 1) != child_seed(0, "a", 2)
    a = check_random_state(5).random(3)
    assert np.array_equal(a, check_random_state(5).random(3))
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    with pytest.raises(ValueError, match="'random_state' parameter must be a non-negative int"):
        check_random_state(-1)
    with pytest.raises(ValueError, match="must be a non-negative int, a numpy Generator or None. Got .7. instead"):
        check_random_state("7")


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    assert '"a": 1' in target.read_text()
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_keeps_old_folder_when_body_fails(tmp_path):
    folder = tmp_path / "ts"
    with atomic_dir(folder) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(folder) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("crash mid-write")
    assert (folder / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts"]
    with atomic_dir(folder) as tmp:
        (tmp / "b.txt").write_text("v2")
    assert sorted(p.name for p in folder.iterdir()) == [OUTPUT_MARKER, "b.txt"]


def test_missing_dependency_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.split(".")[0] == "umap":
            raise ImportError("No module named 'umap'")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError, match="'umap' is needed .* pip install 'curakit\\[umap\\]'"):
        import_optional("umap")
    with pytest.raises(ImportError, match="Install it with: pip install no_such_pkg_xyz"):
        import_optional("no_such_pkg_xyz")


def test_optional_import_silences_albumentations_ping():
    code = "import os; from curakit.optional import import_optional; import_optional('albumentations'); print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1"


def test_progress_switches(monkeypatch):
    monkeypatch.setenv("CURAKIT_PROGRESS", "0")
    assert not progress_enabled()
    assert progress_enabled(True)
    monkeypatch.setenv("CURAKIT_PROGRESS", "1")
    assert progress_enabled()
    assert list(progress(range(3), desc="x", enabled=False)) == [0, 1, 2]
    assert list(progress(range(3), desc="x", enabled=True)) == [0, 1, 2]
