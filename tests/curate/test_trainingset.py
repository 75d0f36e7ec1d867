"""curate.TrainingSet: the record a build returns, its access helpers and atomic persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import curate
from augment._lineage import LineageRow, lineage_frame
from curate import DataError, ParameterError
from curate._trainingset import _column_digest


def small_set(n=6, images=False):
    frame = pd.DataFrame({"a": np.arange(n, dtype=float), "y": np.arange(n) % 2})
    rows = [LineageRow(row_id=f"old:{i}", origin="old", source="old", reason="old data") for i in range(n - 1)]
    rows.append(LineageRow(row_id="aug:s:0", origin="augmented", parent_ids=("old:0",), operation="flip",
                           params={"p": 1.0}, slice_ids=("s",), seed=3, reason="augmented fill of slice s"))
    man = lineage_frame(rows)
    man["split"] = ["train"] * (n - 2) + ["val"] * 2
    man["weight"] = 1.0
    kw = {}
    if images:
        kw = {"kind": "images", "images": np.zeros((n, 4, 4, 1), np.uint8), "frame": frame[["y"]]}
    else:
        kw = {"kind": "tabular", "frame": frame, "features": ["a"]}
    return curate.TrainingSet(target="y", manifest=man, info={"seed": 0}, **kw)


def test_access_helpers():
    ts = small_set()
    assert len(ts) == 6 and list(ts.X.columns) == ["a"] and ts.y.tolist() == [0, 1, 0, 1, 0, 1]
    assert ts.mask(split="val").tolist() == [False] * 4 + [True] * 2
    assert ts.mask(origins=["augmented"]).sum() == 1
    sub = ts.subset(ts.mask(split="train"))
    assert len(sub) == 4 and sub.manifest.row_id.tolist() == [f"old:{i}" for i in range(4)]
    assert ts.why("aug:s:0")["parent_ids"] == ["old:0"] and ts.why("aug:s:0")["params"] == {"p": 1.0}
    summary = ts.summary()
    assert summary.rows.sum() == 6 and set(summary.origin) == {"old", "augmented"}
    with pytest.raises(DataError, match=r"^No row with row_id 'old:99' in this training set\.$"):
        ts.why("old:99")
    with pytest.raises(ParameterError, match=r"^split must be one of \['train', 'val'\]\. Got 'test' instead\.$"):
        ts.mask(split="test")


def test_validation_of_the_record():
    ts = small_set()
    with pytest.raises(DataError, match=r"^TrainingSet manifest has 5 rows but the data has 6\. They must be row-aligned\.$"):
        curate.TrainingSet(kind="tabular", target="y", frame=ts.frame, manifest=ts.manifest.iloc[:5], features=["a"])
    with pytest.raises(DataError, match=r"^An image TrainingSet needs one image per row: 6 rows, 5 images\.$"):
        curate.TrainingSet(kind="images", target="y", frame=ts.frame, manifest=ts.manifest, images=np.zeros((5, 2, 2, 1), np.uint8))
    with pytest.raises(DataError, match=r"manifest 'split' must be one of"):
        curate.TrainingSet(kind="tabular", target="y", frame=ts.frame, manifest=ts.manifest.assign(split="test"), features=["a"])


@pytest.mark.parametrize("images", [False, True])
def test_save_load_round_trip_and_tamper_check(tmp_path, images):
    ts = small_set(images=images)
    ts.save(tmp_path / "ts")
    back = curate.TrainingSet.load(tmp_path / "ts")
    assert back.fingerprint() == ts.fingerprint() and back.info == {"seed": 0} and back.kind == ts.kind
    meta = json.loads((tmp_path / "ts" / "training_set.json").read_text())
    assert meta["n_rows"] == 6 and meta["schema_version"] == 1
    frame = pd.read_parquet(tmp_path / "ts" / "data.parquet")
    frame.loc[0, "y"] = 1
    frame.to_parquet(tmp_path / "ts" / "data.parquet", index=False)
    with pytest.raises(DataError, match=r"does not match its recorded fingerprint"):
        curate.TrainingSet.load(tmp_path / "ts")


def test_failed_save_leaves_the_previous_set(tmp_path, monkeypatch):
    good = small_set()
    good.save(tmp_path / "ts")
    before = sorted(p.name for p in (tmp_path / "ts").iterdir())

    def boom(*args, **kwargs):
        raise OSError("disk full")

    bad = small_set(n=8)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        bad.save(tmp_path / "ts")
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "ts").iterdir()) == before
    assert curate.TrainingSet.load(tmp_path / "ts").fingerprint() == good.fingerprint()
    assert [p.name for p in tmp_path.iterdir()] == ["ts"]  # no temporary folder left behind


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match=r"is not a saved training set \(no training_set\.json\)\. Pass the folder written by TrainingSet\.save"):
        curate.TrainingSet.load(tmp_path)


def test_fingerprint_sees_every_value_and_is_chunking_independent():
    ts = small_set()
    changed = ts.manifest.copy()
    changed.loc[2, "reason"] = "other"
    assert curate.TrainingSet(kind="tabular", target="y", frame=ts.frame, manifest=changed, features=["a"]).fingerprint() != ts.fingerprint()
    import pyarrow as pa

    one = pd.Series(["old:1", "new:22", None, "x"], dtype="str")
    two = pd.Series(pd.array(pa.chunked_array([pa.array(["old:1"]), pa.array(["new:22", None, "x"])]), dtype="str"))
    assert _column_digest(one) == _column_digest(two)
    assert _column_digest(one) != _column_digest(pd.Series(["old:1", "new:2", "2", "x"], dtype="str"))
    assert _column_digest(one.iloc[1:]) == _column_digest(pd.Series(["new:22", None, "x"], dtype="str"))
