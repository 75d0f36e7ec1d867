"""Bad input to TrainingSetBuilder: one-line errors that name the fix."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import curate
from curate import DataError, ParameterError


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    f = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    f["y"] = (f.a > 0).astype(int)
    f["t"] = pd.date_range("2015-01-01", periods=60, freq="D").astype(str)
    return f.iloc[:40].reset_index(drop=True), f.iloc[40:].reset_index(drop=True)


def test_missing_target_column(frames):
    old, new = frames
    with pytest.raises(DataError, match=r"^The target column 'label' is not in old \(5 columns\)\. Pass target= naming the label column\.$"):
        curate.TrainingSetBuilder(old, new, target="label")


def test_missing_time_column(frames):
    old, new = frames
    with pytest.raises(DataError, match=r"^The time column 'date' is not in old \(5 columns\)\. Pass time= naming"):
        curate.TrainingSetBuilder(old, new, target="y", time="date")


def test_unlabelled_rows(frames):
    old, new = frames
    bad = new.astype({"y": float})
    bad.loc[[1, 4], "y"] = np.nan
    with pytest.raises(DataError, match=r"^new has 2 unlabelled row\(s\) \(missing target 'y'\)\. Drop or label them before building\.$"):
        curate.TrainingSetBuilder(old, bad, target="y", time="t")


def test_time_column_that_does_not_parse(frames):
    old, new = frames
    bad = new.copy()
    bad.loc[3, "t"] = "not a date"
    with pytest.raises(DataError, match=r"^The time column 't' of new does not parse as dates \(\w+\)\. Pass ISO dates"):
        curate.TrainingSetBuilder(old, bad, target="y", time="t")


def test_alpha_outside_unit_interval(frames):
    old, new = frames
    b = curate.TrainingSetBuilder(old, new, target="y", time="t")
    msg = "The 'alpha' parameter of TrainingSetBuilder.mix must be a float in the range [0.0, 1.0]. Got 1.5 instead."
    with pytest.raises(ParameterError, match=f"^{re.escape(msg)}$"):
        b.mix(alpha=1.5)
    with pytest.raises(ParameterError, match=r"\[0\.0, 1\.0\] or 'auto'\. Got 'best' instead\.$"):
        b.mix(alpha="best")
    with pytest.raises(ParameterError, match=r"^The 'alpha' parameter of TrainingSetBuilder.mix must be a float in the range \[0\.0, 1\.0\]\. Got -0\.1 instead\.$"):
        b.mix(alpha="auto", grid=[0.0, -0.1])


def test_window_with_no_rows(frames):
    old, new = frames
    b = curate.TrainingSetBuilder(old, new, target="y", time="t").window(start="2020-01-01")
    with pytest.raises(DataError, match=r"^window\(start=2020-01-01,end=None\) selects no rows of old or new data\. Widen the window"):
        b.build()


def test_images_and_labels_of_different_lengths():
    imgs = np.zeros((10, 4, 4, 1), np.uint8)
    with pytest.raises(DataError, match=r"^old images and labels differ in length \(images=10, labels=9\)\. Pass one label per image\.$"):
        curate.TrainingSetBuilder((imgs, np.zeros(9)), (imgs, np.zeros(10)), target="label")
    with pytest.raises(DataError, match=r"^new images and labels differ in length \(images=10, labels=11\)\."):
        curate.TrainingSetBuilder({"images": imgs, "labels": np.zeros(10)}, {"images": imgs, "labels": np.zeros(11)}, target="label")


def test_old_and_new_with_different_columns(frames):
    old, new = frames
    with pytest.raises(DataError, match=r"^old and new have different columns \(only in old: \['c'\]; only in new: \['d'\]\)\. Pass the same columns in both, or choose them with features=\.$"):
        curate.TrainingSetBuilder(old, new.rename(columns={"c": "d"}), target="y", time="t")
    # choosing common features is the fix
    ts = curate.TrainingSetBuilder(old, new.rename(columns={"c": "d"}), target="y", time="t", features=["a", "b"]).build()
    assert ts.features == ["a", "b"] and list(ts.frame.columns) == ["a", "b", "y", "t"]


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda b: b.window(last="-3D"), r"^The 'last' parameter of TrainingSetBuilder.window must be a positive duration"),
        (lambda b: b.window(last="soon"), r"^The 'last' parameter of TrainingSetBuilder.window must be a duration such as '180D'"),
        (lambda b: b.window(last_n=0), r"^The 'last_n' parameter of TrainingSetBuilder.window must be an int in the range \[1, inf\)\. Got 0 instead\.$"),
        (lambda b: b.window(last="30D", last_n=5), r"takes one of last=, last_n= or start=/end="),
        (lambda b: b.rehearse(n=5, how="closest"), r"^The 'how' parameter of TrainingSetBuilder.rehearse must be one of \['random', 'class_balanced', 'nearest'\]\. Got 'closest' instead\."),
        (lambda b: b.rehearse(), r"takes one of n= or fraction="),
        (lambda b: b.split(validation=1.0), r"^The 'validation' parameter of TrainingSetBuilder.split must be a float in the range \(0\.0, 1\.0\)\. Got 1\.0 instead\.$"),
        (lambda b: b.dedup(near=-1), r"^The 'near' parameter of TrainingSetBuilder.dedup must be False, True or a tolerance"),
        (lambda b: b.recency("0D"), r"^The 'half_life' parameter of TrainingSetBuilder.recency must be a positive duration"),
        (lambda b: b.add("rows"), r"^TrainingSetBuilder.add takes an augment.AugmentedSet or the \(X2, y2, prov\) tuple"),
        (lambda b: b.build(random_state=-1), r"^The 'random_state' parameter of TrainingSetBuilder.build must be a non-negative int"),
    ],
)
def test_parameter_errors(frames, call, pattern):
    old, new = frames
    b = curate.TrainingSetBuilder(old, new, target="y", time="t")
    with pytest.raises(ParameterError, match=pattern):
        call(b)


def test_rehearse_more_rows_than_left_out(frames):
    old, new = frames
    b = curate.TrainingSetBuilder(old, new, target="y", time="t").mix(alpha=0.5).rehearse(n=25)
    with pytest.raises(DataError, match=r"^rehearse asks for 25 old rows but only 20 old rows are left out"):
        b.build()


def test_window_durations_need_a_time_column(frames):
    old, new = frames
    b = curate.TrainingSetBuilder(old.drop(columns="t"), new.drop(columns="t"), target="y")
    with pytest.raises(ParameterError, match=r"needs a time column for durations: pass time= to TrainingSetBuilder"):
        b.window(last="30D")


def test_errors_never_embed_data(frames):
    old, new = frames
    bad = new.copy()
    bad.loc[3, "t"] = "SECRET-VALUE-123"
    with pytest.raises(DataError) as exc:
        curate.TrainingSetBuilder(old, bad, target="y", time="t")
    assert "SECRET" not in str(exc.value) and "\n" not in str(exc.value)


def test_target_mixing_numbers_and_strings_is_one_line(frames):
    old, new = frames
    mixed = old.copy()
    mixed["y"] = pd.Series([0 if k % 2 else "cat" for k in range(len(mixed))], dtype=object)
    with pytest.raises(DataError, match=r"^old column 'y' of TrainingSetBuilder mixes numbers and strings") as exc:
        curate.TrainingSetBuilder(mixed, new, target="y", time="t")
    assert "\n" not in str(exc.value) and "cat" not in str(exc.value)
