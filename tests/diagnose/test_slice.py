import json

import numpy as np
import pandas as pd
import pytest

from diagnose import DataError, ParameterError, Slice, UnknownNameError
from diagnose._slice import slice_id


def make(**kw):
    base = dict(
        id="rules-x",
        method="rules",
        description="a > 1",
        indices=np.array([4, 1, 1, 2]),
        n_analysed=10,
        error_rate=0.5,
        baseline_error_rate=0.2,
        definition={"kind": "rule", "conditions": [{"feature": "a", "op": ">", "value": 1}]},
    )
    base.update(kw)
    return Slice(**base)


def test_indices_are_sorted_unique_and_read_only():
    s = make()
    assert s.indices.tolist() == [1, 2, 4]
    assert s.size == 3 and s.share == pytest.approx(0.3)
    with pytest.raises(ValueError):
        s.indices[0] = 7
    assert s.mask().sum() == 3 and s.mask()[4]


def test_derived_statistics():
    s = make(train_share=0.03)
    assert s.lift == pytest.approx(2.5)
    assert s.representation == pytest.approx(0.1)
    assert make(baseline_error_rate=0.0).lift == float("inf")


def test_json_round_trip_keeps_everything():
    s = make(error_ci=(0.2, 0.8), p_value=0.01, q_value=0.03, severity=2.5, evidence={"lift": np.float64(2.5)})
    back = Slice.from_json(s.to_json())
    assert back == s and hash(back) == hash(s)
    assert json.loads(s.to_json())["schema_version"] == 1


def test_future_schema_is_refused():
    d = make().to_dict()
    d["schema_version"] = 99
    with pytest.raises(DataError, match="schema_version 99 is not supported"):
        Slice.from_dict(d)


def test_stable_ids():
    a = slice_id("rules", {"kind": "rule", "conditions": [{"feature": "a", "op": ">", "value": 1}]})
    b = slice_id("rules", {"conditions": [{"value": 1, "op": ">", "feature": "a"}], "kind": "rule"})
    assert a == b and a.startswith("rules-")
    assert slice_id("rules", {"kind": "rule", "conditions": []}) != a


def test_rule_contains():
    s = make(definition={"kind": "rule", "conditions": [
        {"feature": "a", "op": ">", "value": 1}, {"feature": "b", "op": "in", "value": ["x", "y"]}]})
    df = pd.DataFrame({"a": [0, 2, 3, 5], "b": ["x", "x", "z", "y"]})
    assert s.contains(features=df).tolist() == [False, True, False, True]
    with pytest.raises(DataError, match="uses column 'a', which the given features lack"):
        s.contains(features=df[["b"]])
    with pytest.raises(ParameterError, match="contains\\(\\) needs features="):
        s.contains(embeddings=np.zeros((2, 2)))


def test_centroid_contains_uses_nearest_centroid_and_radius():
    s = make(definition={"kind": "centroid", "centroids": [[0.0, 0.0], [10.0, 0.0]], "member": [1], "radius": 2.0})
    emb = np.array([[0.0, 0.1], [9.0, 0.0], [10.0, 3.0], [5.1, 0.0]])
    assert s.contains(embeddings=emb).tolist() == [False, True, False, False]
    with pytest.raises(DataError, match="found in a 2-d embedding space"):
        s.contains(embeddings=np.zeros((3, 5)))
    with pytest.raises(DataError, match="NaN or inf"):
        s.contains(embeddings=np.array([[np.nan, 0.0]]))


def test_class_and_pair_contains():
    c = make(definition={"kind": "class", "label": 3})
    assert c.contains(labels=np.array([3, 1, 3])).tolist() == [True, False, True]
    p = make(definition={"kind": "pair", "true": 3, "pred": 8})
    assert p.contains(labels=np.array([3, 3, 8]), predictions=np.array([8, 3, 3])).tolist() == [True, False, False]


def test_index_only_slices_cannot_be_reapplied():
    s = make(definition={"kind": "indices"})
    with pytest.raises(ParameterError, match="cannot be re-applied"):
        s.contains(features=pd.DataFrame({"a": [1]}))


def test_unknown_kind_and_bad_values():
    with pytest.raises(UnknownNameError, match="Unknown slice definition kind 'centroids'. Did you mean 'centroid'"):
        make(definition={"kind": "centroids"}).contains(embeddings=np.zeros((1, 2)))
    with pytest.raises(DataError, match="indices must lie in"):
        make(indices=np.array([10]))
    with pytest.raises(ParameterError, match="error_rate must lie in"):
        make(error_rate=1.5)
    with pytest.raises(DataError, match="1-d array of ints"):
        make(indices=np.array([0.5]))
