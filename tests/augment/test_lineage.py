import pandas as pd
import pytest

from augment import LineageRow, lineage_frame, lineage_rows


def test_manifest_round_trip_through_parquet(tmp_path):
    rows = [
        LineageRow(row_id="old:0", origin="old", source="old", reason="old data"),
        LineageRow(
            row_id="aug:c3:0", origin="augmented", source="new", parent_ids=("new:5",), operation="albumentations",
            params={"Rotate": {"angle": 7.5}}, slice_ids=("clusters-ab",), seed=42, reason="fill",
        ),
    ]
    frame = lineage_frame(rows)
    assert list(frame.columns)[:3] == ["row_id", "origin", "source"]
    frame.to_parquet(tmp_path / "m.parquet")
    back = lineage_rows(pd.read_parquet(tmp_path / "m.parquet"))
    assert back == rows
    assert back[1].params["Rotate"]["angle"] == 7.5 and back[0].seed is None


def test_bad_origin_and_missing_columns():
    with pytest.raises(ValueError, match="The 'origin' of LineageRow must be one of"):
        LineageRow(row_id="x", origin="mystery")
    with pytest.raises(ValueError, match="Manifest lacks column\\(s\\)"):
        lineage_rows(pd.DataFrame({"row_id": ["a"]}))
