"""curakit.trust: a data file names classes only from allowed modules; nothing else is imported."""

import sys

import pytest

from curakit.exceptions import ParameterError
from curakit.trust import is_trusted, resolve_class


@pytest.fixture
def payload(tmp_path, monkeypatch):
    """A module that touches a marker file when imported, and defines a function and an estimator."""
    marker = tmp_path / "imported"
    (tmp_path / "evilmod.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "class Good(LogisticRegression):\n    pass\n"
        "def bad(**kw):\n    return 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CURAKIT_TRUST", raising=False)
    yield marker
    sys.modules.pop("evilmod", None)


def test_defaults_resolve_both_spellings():
    from sklearn.linear_model import LogisticRegression

    assert resolve_class("sklearn.linear_model.LogisticRegression", kind="estimator") is LogisticRegression
    assert resolve_class("sklearn.linear_model:LogisticRegression", kind="any") is LogisticRegression


@pytest.mark.parametrize("spec", ["evilmod:Good", "evilmod.Good", "evilmod:bad"])
def test_untrusted_module_is_never_imported(payload, spec):
    with pytest.raises(ParameterError, match="not trusted.*trusted_modules:.*--trust evilmod"):
        resolve_class(spec, kind="estimator")
    assert not payload.exists()
    assert "evilmod" not in sys.modules


@pytest.mark.parametrize("spec", ["os:system", "os.system", "subprocess.run", "builtins:eval", "posix:system"])
def test_standard_library_functions_are_refused_before_import(spec, tmp_path):
    with pytest.raises(ParameterError, match="not trusted"):
        resolve_class(spec, kind="any")


def test_trusted_module_resolves_its_class_but_not_its_function(payload):
    cls = resolve_class("evilmod:Good", kind="estimator", trusted=["evilmod"])
    assert cls.__name__ == "Good" and payload.exists()
    with pytest.raises(ParameterError, match="not a scikit-learn estimator class"):
        resolve_class("evilmod:bad", kind="estimator", trusted=["evilmod"])


def test_env_var_trusts(payload, monkeypatch):
    monkeypatch.setenv("CURAKIT_TRUST", "other, evilmod")
    assert resolve_class("evilmod.Good", kind="any").__name__ == "Good"


def test_allowed_module_function_is_refused():
    with pytest.raises(ParameterError, match="not a scikit-learn estimator class"):
        resolve_class("sklearn.utils:check_random_state", kind="estimator")


def test_estimator_is_not_a_module_kind():
    with pytest.raises(ParameterError, match="not a torch nn.Module class"):
        resolve_class("sklearn.linear_model:LogisticRegression", kind="module")


def test_prefix_must_match_whole_parts():
    assert is_trusted("sklearn.svm")
    assert not is_trusted("sklearnx")
    assert not is_trusted("torchvision")  # only torchvision.models
    assert is_trusted("torchvision.models.resnet")


@pytest.mark.parametrize("spec", ["", "nocolon", "a b:C", "mod:", ":Cls", "mod:Cls.inner"])
def test_malformed_specs(spec):
    with pytest.raises(ParameterError, match="not a class path"):
        resolve_class(spec, kind="any")


def test_missing_trusted_module_is_one_line(tmp_path):
    with pytest.raises(ParameterError, match="cannot be imported") as e:
        resolve_class("nosuchmod_xyz:Model", kind="any", trusted=["nosuchmod_xyz"])
    assert "\n" not in str(e.value)


def test_bad_trusted_entry():
    with pytest.raises(ParameterError, match="dotted module name"):
        resolve_class("sklearn.svm:SVC", kind="any", trusted=["../evil"])
