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


# -- the shared bad-input checks (issue 13.2): good inputs pass unchanged, bad ones name the fix
def test_label_checks_pass_good_labels_and_refuse_missing_mixed_and_single_class():
    import numpy as np

    from curakit.exceptions import DataError
    from curakit.validation import check_label_kinds, check_label_list, check_labels

    good = np.array(["a", "b", "a"])
    assert check_labels(good, "y", "f", min_classes=2) is good
    check_label_kinds([0, 1, 1], np.array([1.0, 0.0, 1.0]), "f")  # ints and floats are both class indices
    check_label_kinds(["a", "b"], np.array(["b", "a"], dtype=object), "f")
    assert check_label_list(None, "labels", "f") is None
    assert check_label_list(np.array([2, 0, 1]), "labels", "f") == [2, 0, 1]
    with pytest.raises(DataError, match=r"^y of f holds 2 missing \(NaN or None\) label\(s\) among 4 rows\."):
        check_labels(np.array(["a", None, "b", float("nan")], dtype=object), "y", "f")
    with pytest.raises(DataError, match=r"mixes numbers and strings"):
        check_labels(np.array([1, "a"], dtype=object), "y", "f")
    with pytest.raises(DataError, match=r"holds 1 class\(es\) in 3 rows; f needs at least 2"):
        check_labels([4, 4, 4], "y", "f", min_classes=2)
    with pytest.raises(DataError, match=r"not a string"):
        check_labels("abc", "y", "f")
    with pytest.raises(ParameterError, match=r"not a string"):
        check_label_list("abc", "labels", "f")
    with pytest.raises(ParameterError, match=r"must be a list of classes\. Got a dict"):
        check_label_list({"a": 1}, "labels", "f")


def test_check_proba_accepts_probabilities_and_refuses_scores_and_wrong_widths():
    import numpy as np

    from curakit.exceptions import DataError
    from curakit.validation import check_proba

    p = np.random.default_rng(0).dirichlet(np.ones(3), size=10)
    out = check_proba(p, "f", n=10, present=[0, 2, 2])
    assert out.dtype == np.float64 and np.array_equal(out, p)
    check_proba(p, "f", present=[0, 1])  # a class absent from the rows still has its column
    check_proba(p, "f", labels=["x", "y", "z"])
    with pytest.raises(DataError, match="scores or logits"):
        check_proba(p * 3 - 1, "f")
    with pytest.raises(DataError, match="do not sum to 1"):
        check_proba(p * 0.5, "f")
    with pytest.raises(DataError, match="3 columns but the labels hold 2 classes"):
        check_proba(p, "f", present=["a", "b"])
    with pytest.raises(DataError, match="has 10 rows but y_true has 11"):
        check_proba(p, "f", n=11)


def test_check_options_names_the_closest_option_and_allows_var_keywords():
    from curakit.validation import check_options

    def method(inp, *, min_support=20, max_depth=2):
        return inp

    def open_ended(inp, **kw):
        return inp

    assert check_options(method, {"max_depth": 3}, "m", skip=("inp",)) == {"max_depth": 3}
    assert check_options(open_ended, {"anything": 1}, "m") == {"anything": 1}
    with pytest.raises(ParameterError, match=r"^m has no option 'min_suport'\. Did you mean 'min_support'\? "
                                             r"Its options are: min_support, max_depth\.$"):
        check_options(method, {"min_suport": 5}, "m", skip=("inp",))
    with pytest.raises(ParameterError, match="has no option 'inp'"):
        check_options(method, {"inp": 1}, "m", skip=("inp",))


def test_check_columns_and_check_fitted():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from curakit.exceptions import DataError, NotFittedError
    from curakit.validation import check_columns, check_fitted

    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(DataError, match=r"^X of f has 1 repeated column name\(s\) \(first: 'a'\)\."):
        check_columns(frame, "X", "f")
    ok = frame.iloc[:, :2]
    assert check_columns(ok, "X") is ok
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        check_columns([[1, 2]], "X")
    with pytest.raises(NotFittedError, match=r"The LogisticRegression passed to f is not fitted"):
        check_fitted(LogisticRegression(), "f")
    fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    assert check_fitted(fitted, "f") is fitted
    assert check_fitted(object(), "f") is not None  # not an estimator: nothing to check


def test_record_helpers_keys_indices_json_and_schema_version(tmp_path):
    import numpy as np

    from curakit.exceptions import DataError
    from curakit.records import check_keys, check_schema_version, index_array, load_json, parse_json

    check_keys({"a": 1, "schema_version": 1}, "R", ("a",), ("b",))
    with pytest.raises(DataError, match=r"R record has unknown key\(s\) 'bb'\. Did you mean 'b'\?"):
        check_keys({"a": 1, "bb": 2}, "R", ("a",), ("b",))
    with pytest.raises(DataError, match=r"R record lacks the key\(s\) 'a'"):
        check_keys({}, "R", ("a",))
    assert index_array([3, 1], "R").dtype == np.int64
    assert index_array([2.0], "R").tolist() == [2]
    assert index_array([], "R").size == 0
    for bad in ([0.5], ["x"], [[1], [2, 3]], [-1], "12", [True]):
        with pytest.raises(DataError):
            index_array(bad, "R")
    check_schema_version({"schema_version": 1}, "R", 1)
    with pytest.raises(DataError, match=r"R schema_version must be the integer 1\. Got a str \('1'\) instead"):
        check_schema_version({"schema_version": "1"}, "R", 1)
    with pytest.raises(DataError, match=r"R schema_version 2 is not supported"):
        check_schema_version({"schema_version": 2}, "R", 1)
    assert parse_json('{"a": 1}', "R") == {"a": 1}
    p = tmp_path / "r.json"
    p.write_text('{"a": [1, 2')
    with pytest.raises(DataError, match=r"^R file 'r\.json' is not valid JSON \(truncated or damaged at line 1, column \d+\)"):
        load_json(p, "R")
    with pytest.raises(FileNotFoundError):
        load_json(tmp_path / "missing.json", "R")
