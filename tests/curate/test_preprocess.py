"""curate._preprocess: fitted preprocessing as JSON, identical transform after a round-trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from curate import DataError
from curate._preprocess import SUPPORTED_STEPS, default_preprocessor, preprocessor_from_dict, preprocessor_to_dict


@pytest.fixture(scope="module")
def table():
    d = load_wine(as_frame=True).frame.drop(columns="target")
    d = d.iloc[:, :4].copy()
    d.iloc[::7, 0] = np.nan
    rng = np.random.default_rng(0)
    d["colour"] = pd.Series(rng.choice(["red", "white", "rose"], len(d)), dtype="str")
    d.loc[::9, "colour"] = None
    d["grade"] = pd.Series(rng.choice(["a", "b"], len(d)), dtype=object)
    return d


def round_trip(obj):
    return preprocessor_from_dict(json.loads(json.dumps(preprocessor_to_dict(obj))))


def test_default_preprocessor_round_trip(table):
    pre = default_preprocessor(table, list(table.columns)).fit(table.iloc[:120])
    back = round_trip(pre)
    unseen = table.iloc[120:].copy()
    unseen.loc[unseen.index[0], "colour"] = "orange"  # unknown category -> all zeros, like the original
    np.testing.assert_array_equal(back.transform(unseen), pre.transform(unseen))
    assert list(back.get_feature_names_out()) == list(pre.get_feature_names_out())
    assert not np.isnan(back.transform(table)).any()


@pytest.mark.parametrize("name", sorted(SUPPORTED_STEPS))
def test_every_supported_step_round_trips(name, table):
    num = table.iloc[:, :4]
    steps = {
        "SimpleImputer": SimpleImputer(strategy="mean"),
        "StandardScaler": make_pipeline(SimpleImputer(), StandardScaler()),
        "MinMaxScaler": make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()),
        "OneHotEncoder": OneHotEncoder(handle_unknown="ignore", drop="if_binary"),
        "Pipeline": Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=-1.0)), ("scale", StandardScaler())]),
        "FunctionTransformer": ColumnTransformer([("keep", "passthrough", [0, 1])]),
        "ColumnTransformer": ColumnTransformer(
            [("n", StandardScaler(), ["proline"] if "proline" in num else [num.columns[1]]),
             ("c", OneHotEncoder(sparse_output=False), ["grade"])],
            remainder="passthrough",
        ),
    }
    X = table[["grade"]] if name == "OneHotEncoder" else (table if name == "ColumnTransformer" else num)
    if name == "FunctionTransformer":
        X = num.fillna(0.0)
    if name == "ColumnTransformer":
        X = X.drop(columns=["colour"]).fillna(0.0)
    est = steps[name].fit(X)
    back = round_trip(est)
    out, got = est.transform(X), back.transform(X)
    out = out.toarray() if hasattr(out, "toarray") else out
    got = got.toarray() if hasattr(got, "toarray") else got
    np.testing.assert_array_equal(got, out)


def test_pandas_output_config_survives(table):
    num = table.iloc[:, :4]
    pre = make_pipeline(SimpleImputer(), StandardScaler()).set_output(transform="pandas").fit(num)
    out = round_trip(pre).transform(num)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(num.columns)


def test_unsupported_step_is_named(table):
    pre = make_pipeline(SimpleImputer(), PCA(n_components=2)).fit(table.iloc[:, :4])
    with pytest.raises(DataError, match=r"^Cannot save preprocessing step PCA \(preprocessor\.Pipeline\.steps\) as JSON\. Supported steps: \['ColumnTransformer'"):
        preprocessor_to_dict(pre)


def test_function_transformer_with_a_function_is_refused(table):
    from sklearn.preprocessing import FunctionTransformer

    pre = FunctionTransformer(np.log1p).fit(table.iloc[:, 1:3])
    with pytest.raises(DataError, match=r"^Cannot save a FunctionTransformer with a function \(preprocessor\) as JSON"):
        preprocessor_to_dict(pre)


def test_unfitted_and_damaged_inputs(table):
    with pytest.raises(DataError, match=r"^The preprocessor StandardScaler is not a fitted scikit-learn transformer\. Fit it before saving\.$"):
        preprocessor_to_dict(StandardScaler())
    data = preprocessor_to_dict(StandardScaler().fit(table.iloc[:, 1:3]))
    with pytest.raises(DataError, match=r"^Preprocessor schema_version 99 is not supported"):
        preprocessor_from_dict({**data, "schema_version": 99})
    data["estimator"]["__estimator__"] = "PCA"
    with pytest.raises(DataError, match=r"names an unsupported step 'PCA'"):
        preprocessor_from_dict(data)


def test_json_has_no_pickle(table):
    text = json.dumps(preprocessor_to_dict(default_preprocessor(table, list(table.columns)).fit(table)))
    assert "pickle" not in text and '"__estimator__": "ColumnTransformer"' in text
