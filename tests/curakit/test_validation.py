import math
import warnings

import pytest

from curakit.exceptions import ParameterError
from curakit.validation import UNSET, check_interval, renamed


def test_check_interval_accepts_inside_and_names_the_range():
    assert check_interval(0.5, "alpha", "mix", low=0.0, high=1.0) == 0.5
    assert check_interval(3, "k", "f", kind=int, low=1) == 3
    with pytest.raises(ParameterError, match=r"^The 'alpha' parameter of mix must be a float in the range \[0.0, 1.0\]\. Got 1.5 instead\.$"):
        check_interval(1.5, "alpha", "mix", low=0.0, high=1.0)
    with pytest.raises(ParameterError, match=r"must be an int in the range \[1, inf\)\. Got 0 instead"):
        check_interval(0, "k", "f", kind=int, low=1)
    with pytest.raises(ParameterError, match=r"\(0.0, 1.0\]"):
        check_interval(0.0, "lr", "f", low=0.0, high=1.0, closed="right")
    for bad in (True, "1", math.nan, None):
        with pytest.raises(ParameterError):
            check_interval(bad, "x", "f", low=0.0, high=1.0)
    with pytest.raises(ParameterError):
        check_interval(2.5, "k", "f", kind=int, low=1)  # a float where an int is needed


def f(select=None, target=UNSET):
    return renamed("f", "target", "select", target, select)


def test_renamed_parameter_warns_and_keeps_working():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(select=[1]) == [1] and f() is None
    with pytest.warns(FutureWarning, match="'target' parameter of f is renamed 'select'"):
        assert f(target=[2]) == [2]
    with pytest.warns(FutureWarning):
        assert f(target=None) is None
    with pytest.raises(ParameterError, match="both 'target' and its new name 'select'"):
        f(select=[1], target=[2])
