"""Import hygiene: light imports, and each package's __all__ is exactly what it exports."""

import importlib
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "umap", "shap", "albumentations", "matplotlib", "pytorch_grad_cam", "cv2", "numba")


def test_importing_the_packages_loads_no_heavy_dependency():
    code = (
        "import sys, diagnose, augment, curate, curakit._cli; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules loaded at import time: {out.stdout.strip()}"


@pytest.mark.parametrize("name", ["diagnose", "augment", "curate"])
def test_all_is_sorted_and_importable(name):
    mod = importlib.import_module(name)
    assert list(mod.__all__) == sorted(mod.__all__)
    for attr in mod.__all__:
        assert hasattr(mod, attr), f"{name}.{attr} is in __all__ but not importable"
    public = {a for a in dir(mod) if not a.startswith("_") and not isinstance(getattr(mod, a), type(sys))}
    assert public - {"annotations"} <= set(mod.__all__), f"{name} exports names missing from __all__: {public - set(mod.__all__)}"


def test_ruff_is_clean_including_the_heavy_import_ban():
    """ruff (with TID253: no torch, umap, shap, albumentations, matplotlib at module level)."""
    import shutil
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the dev extra)")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([ruff, "check", "curakit", "diagnose", "augment", "curate", "tests", "benchmarks"], cwd=root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
