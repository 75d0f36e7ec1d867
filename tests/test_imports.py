"""Import hygiene: light imports, lazy public names that behave like eager ones, and each
package's __all__ is exactly what it exports."""

import importlib
import json
import subprocess
import sys

import pytest

import curakit.exceptions

# loaded by no import of the packages and by no `curakit --help` (issue 13: start-up)
HEAVY = ("sklearn", "scipy", "pandas", "pyarrow", "imblearn", "torch", "torchvision", "umap", "shap",
         "albumentations", "dask", "distributed", "matplotlib", "pytorch_grad_cam", "cv2", "numba")
PACKAGES = ("diagnose", "augment", "curate")


def _loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return the heavy top-level modules it loaded and
    what it printed before (a JSON line)."""
    probe = (
        f"{code}\nimport sys, json\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {"heavy": json.loads(out.stdout.strip().splitlines()[-1]), "stdout": out.stdout}


def test_importing_the_packages_loads_no_heavy_dependency():
    loaded = _loaded_after("import diagnose, augment, curate, curakit, curakit._cli")["heavy"]
    assert loaded == [], f"heavy modules loaded at import time: {loaded}"


def test_cli_help_loads_no_stage_and_no_heavy_dependency():
    code = (
        "import contextlib, io, sys\nfrom curakit._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit as exc:\n        assert exc.code == 0\n"
        "stages = sorted(m for m in sys.modules if m.split('.')[0] in ('diagnose', 'augment', 'curate')"
        " or m.startswith('curakit._cli.'))\nprint(stages)"
    )
    res = _loaded_after(code)
    assert res["heavy"] == [], f"curakit --help loaded {res['heavy']}"
    assert res["stdout"].splitlines()[0] == "[]", f"curakit --help imported {res['stdout'].splitlines()[0]}"


def test_a_dispatched_subcommand_imports_its_own_module_only():
    code = (
        "import contextlib, io, sys\nfrom curakit._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['registry', '--help'])\n    except SystemExit as exc:\n        assert exc.code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('curakit._cli.') and m != 'curakit._cli._options'))"
    )
    assert _loaded_after(code)["stdout"].splitlines()[0] == "['curakit._cli.registry']"


def test_lazy_help_lists_the_same_commands_as_the_subcommand_modules():
    """``curakit --help`` is built from curakit._cli.SUMMARIES without importing the subcommand
    modules; it must read exactly as the parser the modules build (update SUMMARIES when a
    subcommand's help= changes)."""
    from curakit._cli import build_parser

    assert build_parser(lazy=True).format_help() == build_parser().format_help()


def test_the_console_help_runs_and_exits_zero():
    out = subprocess.run([sys.executable, "-m", "curakit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "retrain" in out.stdout and out.stderr == ""
    bad = subprocess.run([sys.executable, "-m", "curakit", "retrian"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'retrian'" in bad.stderr


def test_lazy_parsing_gives_the_same_namespace_as_eager_parsing(tmp_path):
    from curakit._cli import build_parser

    argv = ["registry", "list", str(tmp_path)]
    lazy, eager = build_parser(lazy=True).parse_args(argv), build_parser().parse_args(argv)
    assert vars(lazy).keys() == vars(eager).keys()
    assert {k: v for k, v in vars(lazy).items() if k != "func"} == {k: v for k, v in vars(eager).items() if k != "func"}
    assert lazy.func is eager.func


@pytest.mark.parametrize("name", PACKAGES)
def test_reexported_exceptions_are_the_core_classes(name):
    mod = importlib.import_module(name)
    exported = [a for a in mod.__all__ if isinstance(getattr(mod, a), type) and issubclass(getattr(mod, a), Exception)]
    assert {"CurakitError", "CurakitWarning", "DataError"} <= set(exported)
    for attr in exported:
        if hasattr(curakit.exceptions, attr):  # a re-export: the very class of the core tree
            assert getattr(mod, attr) is getattr(curakit.exceptions, attr), f"{name}.{attr} is not curakit.exceptions.{attr}"
        else:  # a stage's own error or warning still joins the one tree
            assert issubclass(getattr(mod, attr), (curakit.exceptions.CurakitError, curakit.exceptions.CurakitWarning)), attr


@pytest.mark.parametrize("name", PACKAGES)
def test_lazy_names_are_the_defining_modules_objects(name):
    code = (
        f"import {name}\nfrom {name} import *\n"
        f"assert set({name}.__all__) <= set(dir({name}))\n"
        f"print(sum(getattr({name}, a) is globals()[a] for a in {name}.__all__), len({name}.__all__))"
    )
    same, total = map(int, _loaded_after(code)["stdout"].split()[:2])
    assert same == total
    mod = importlib.import_module(name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        mod.no_such_name  # noqa: B018


def test_builtin_diagnosers_are_registered_whichever_name_is_used_first():
    """Registration order does not depend on the first diagnose name a program touches."""
    orders = {}
    for first in ("confusion", "Slice", "DIAGNOSERS", "find_slices"):
        code = f"import diagnose\ndiagnose.{first}\nprint(','.join(diagnose.DIAGNOSERS.names()))"
        orders[first] = _loaded_after(code)["stdout"].splitlines()[0]
    # a private module imported first (as a test module may) registers its diagnoser first: the order is restored
    code = "import diagnose._confusion, diagnose._rules\nimport diagnose\nprint(','.join(diagnose.DIAGNOSERS.names()))"
    orders["private-first"] = _loaded_after(code)["stdout"].splitlines()[0]
    assert len(set(orders.values())) == 1, orders
    assert orders["confusion"].split(",")[:4] == ["clusters", "coverage", "rules", "confusion"]


def test_core_modules_are_attributes_on_first_access():
    import curakit

    assert curakit.validation is importlib.import_module("curakit.validation")
    assert "validation" in dir(curakit)
    with pytest.raises(AttributeError):
        curakit.no_such_module  # noqa: B018


@pytest.mark.parametrize("name", PACKAGES)
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
