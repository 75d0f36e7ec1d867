"""The naive baseline trains on every old and new row behind a training set (issue 11: "plain old +
new data, without fills, windows, alpha or replay"), not only on the rows a mix or window kept."""

from __future__ import annotations

import numpy as np
import pandas as pd

import augment
import curate
from curate._naive import naive_training_set
from curate.datasets import load_breast_cancer_drift


def _builder(scen, holdouts):
    return curate.TrainingSetBuilder(scen.source("old"), scen.source("new"), target="diagnosis", eval_sets=holdouts)


def test_naive_uses_every_old_and_new_row_but_no_holdout_row(tmp_path):
    scen = load_breast_cancer_drift(random_state=0)
    old, new = scen.source("old"), scen.source("new")
    leak = old.iloc[:5]  # five old rows are also in a holdout: they must stay out of naive too
    holdouts = {"old": pd.concat([scen.source("old_test"), leak], ignore_index=True), "new": scen.source("new_test")}
    X, y = new[scen.features], new["diagnosis"].to_numpy()
    fills = augment.oversample(X, y, method="smote", select=np.flatnonzero(y == y[0])[:30], n=20, random_state=0)
    ts = (_builder(scen, holdouts).mix(alpha=0.3).rehearse(fraction=0.1).add(fills, parents="new").dedup()
          .build(random_state=0))
    assert (ts.manifest["origin"] == "old").sum() < len(old) - 5  # the mix left old rows out
    naive = naive_training_set(ts)
    by_origin = naive.manifest["origin"].astype(str).value_counts().to_dict()
    assert by_origin == {"old": len(old) - 5, "new": len(new)}
    assert naive.info["naive"]["rows_from"] == "sources"
    assert np.all(naive.weights == 1.0) and set(naive.manifest["operation"].astype(str)) == {"original"}
    # same seed, same rows; the set still pickles (a user may send it to a worker)
    import pickle

    again = naive_training_set(pickle.loads(pickle.dumps(ts)))
    assert again.manifest["row_id"].tolist() == naive.manifest["row_id"].tolist()

    # a set loaded from disk has no sources: its own plain rows, and it says so
    loaded = curate.TrainingSet.load(ts.save(tmp_path / "ts"))
    fallback = naive_training_set(loaded)
    assert fallback.info["naive"]["rows_from"] == "training set"
    plain = ts.manifest["operation"].astype(str).eq("original") & ts.manifest["origin"].astype(str).isin(["old", "new"])
    assert len(fallback) == int(plain.sum()) < len(naive)


def test_a_plain_build_is_its_own_naive_set():
    scen = load_breast_cancer_drift(random_state=0)
    ts = _builder(scen, {"new": scen.source("new_test")}).build(random_state=0)
    assert ts.naive_rows is None
    naive = naive_training_set(ts)
    assert len(naive) == len(ts) and naive.info["naive"]["rows_from"] == "training set"
