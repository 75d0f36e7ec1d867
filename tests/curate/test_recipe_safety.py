"""A recipe is data: naming a function where an estimator class goes must not run it."""

import pytest

from curakit.exceptions import ParameterError
from curate import run_recipe


def test_a_recipe_cannot_run_a_shell_command(tmp_path):
    canary = tmp_path / "ran"
    recipe = {
        "data": {"scenario": "digits_drift"},
        "model": {"source": "estimator", "estimator": "os.system", "params": {"command": f"touch {canary}"}},
    }
    with pytest.raises(ParameterError, match="not a scikit-learn estimator or torch nn.Module class"):
        run_recipe(recipe, output=tmp_path / "out")
    assert not canary.exists()
