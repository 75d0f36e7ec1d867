"""Recipe ``build: {engine: dask, workers: 2}``: the same training set as the pandas build (a real LocalCluster)."""

from __future__ import annotations

import pandas as pd
import pytest

import curate

distributed = pytest.importorskip("distributed")


def test_recipe_build_on_dask_equals_pandas(tmp_path):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 4, 5, -1]]
    frame.iloc[:300].to_parquet(tmp_path / "old.parquet")
    frame.iloc[300:].to_parquet(tmp_path / "new.parquet")
    recipe = {
        "data": {"old": "old.parquet", "new": "new.parquet", "target": "target"},
        "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
        "diagnose": {"methods": ["confusion"], "max_slices": 1},
        "fill": {"method": "smote", "n": 10},
        "build": {"mix": 0.5, "dedup": True, "split": 0.2},
        "retrain": {"strategies": ["scratch_all"]},
    }
    runs = {}
    # two in-process workers (a real scheduler and workers, threads instead of processes: quicker to start)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as c:
        for engine in ("pandas", "dask"):
            extra = {"scheduler": c.scheduler_address} if engine == "dask" else {}
            rec = dict(recipe, build={**recipe["build"], "engine": engine, **extra}, output=engine)
            runs[engine] = curate.run_recipe(curate.Recipe.from_dict(rec, base_dir=tmp_path))
    a = curate.TrainingSet.load(tmp_path / "pandas" / "training_set")
    b = curate.TrainingSet.load(tmp_path / "dask" / "training_set")
    assert b.info.get("engine") == "dask" and a.info.get("engine") != "dask"
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.manifest.astype(str), b.manifest.astype(str))
    assert runs["pandas"].rows_by_origin == runs["dask"].rows_by_origin
    assert runs["pandas"].chosen == runs["dask"].chosen


def test_dask_engine_refuses_image_data_in_one_line(tmp_path):
    from curate._recipe_data import engine_inputs

    class Dask:
        name = "dask"

    with pytest.raises(curate.ParameterError, match="image sets build in memory only"):
        engine_inputs(Dask(), {}, {}, True, 2)
