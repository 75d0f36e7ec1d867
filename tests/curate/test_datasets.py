"""The bundled drift scenarios' parameter checks (curate.datasets): one-line errors in
scikit-learn's wording, whatever type the bad value has."""

import pytest

from curakit.exceptions import ParameterError
from curate.datasets import load_breast_cancer_drift, load_digits_drift


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"old_share": 1.5}, r"^The 'old_share' parameter of load_digits_drift must be a float in the range \[0\.0, 1\.0\]\. Got 1\.5 instead\.$"),
        ({"new_share": "half"}, r"^The 'new_share' parameter of load_digits_drift must be a float in the range \[0\.0, 1\.0\]\. Got 'half' instead\.$"),
        ({"size": 4}, r"^The 'size' parameter of load_digits_drift must be an int in the range \[8, inf\)\. Got 4 instead\.$"),
        ({"size": 16.5}, r"^The 'size' parameter of load_digits_drift must be an int in the range \[8, inf\)\. Got 16\.5 instead\.$"),
    ],
)
def test_digits_drift_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        load_digits_drift(**kwargs)


def test_breast_cancer_drift_fraction_of_the_wrong_type():
    with pytest.raises(ParameterError, match=r"^The 'old_fraction' parameter of load_breast_cancer_drift must be a float in the range \[0\.0, 1\.0\]\. Got None instead\.$"):
        load_breast_cancer_drift(old_fraction=None)
