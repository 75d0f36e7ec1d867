"""TrainingSetBuilder on image sets (sklearn digits): forms, window/alpha search on pixels,
augmented images, near-duplicate hygiene, group split, save/load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import curate
from augment._lineage import LineageRow, lineage_frame


@pytest.fixture(scope="module")
def image_sets(digits):
    images, labels = digits
    old = {"images": images[:900], "labels": labels[:900], "time": pd.date_range("2010-01-01", periods=900, freq="D")}
    new = {"images": images[900:1400], "labels": labels[900:1400],
           "time": pd.date_range("2012-06-19", periods=500, freq="D")}
    held = (images[1400:], labels[1400:])
    return old, new, held


class FakeAugmentedSet:
    def __init__(self, images, labels, manifest):
        self.images, self.labels, self.manifest, self.X = images, labels, manifest, None


def shifted(images, parents, slice_id="clusters-1a2b"):
    imgs = np.roll(images[parents], 1, axis=2)
    man = lineage_frame([
        LineageRow(row_id=f"aug:{slice_id}:{k}", origin="augmented", source="augment.offline", parent_ids=(str(p),),
                   operation="albumentations", params={"transforms": [{"name": "Affine", "shift": 1}]},
                   slice_ids=(slice_id,), seed=100 + k)
        for k, p in enumerate(parents)
    ])
    man["parent"] = np.asarray(parents, dtype=np.int64)
    man["path"] = None
    return FakeAugmentedSet(imgs, None, man)


def test_tuple_and_mapping_forms_agree(digits):
    images, labels = digits
    a = curate.TrainingSetBuilder((images[:100], labels[:100]), (images[100:150], labels[100:150]), target="digit").build()
    b = curate.TrainingSetBuilder({"images": images[:100], "digit": labels[:100]},
                                  {"images": images[100:150], "labels": labels[100:150]}, target="digit").build()
    assert a.kind == "images" and a.images.shape == (150, 8, 8, 1) and a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.X, images[:150])
    np.testing.assert_array_equal(a.y, labels[:150])
    assert list(a.frame.columns) == ["digit"] and a.time is None


def test_image_window_mix_and_replay(image_sets):
    old, new, _ = image_sets
    ts = (curate.TrainingSetBuilder(old, new, target="digit").window(last="700D").mix(alpha=0.5)
          .rehearse(n=20, how="class_balanced").build())
    replay = (ts.manifest.reason == "replay buffer (class_balanced)").to_numpy()
    in_win = (ts.frame.time > new["time"].max() - pd.Timedelta("700D")).to_numpy()
    assert ts.time == "time" and in_win[~replay].all() and ts.manifest.row_id.is_unique
    in_window = (old["time"] > new["time"].max() - pd.Timedelta("700D")).sum()
    assert (ts.manifest.reason.str.startswith("old data sampled")).sum() == round(0.5 * in_window)
    assert replay.sum() == 20 and sorted(np.bincount(ts.y[replay]).tolist()) == [2] * 10
    np.testing.assert_array_equal(ts.images[ts.manifest.row_id == "new:0"][0], new["images"][0])


def test_image_auto_alpha_on_pixels(image_sets):
    old, new, _ = image_sets
    # old labels permuted: old data teaches the wrong digits, so alpha 0 should win
    bad_old = dict(old, labels=(old["labels"] + 3) % 10)
    ts = curate.TrainingSetBuilder(bad_old, new, target="digit").mix(alpha="auto", grid=[0.0, 1.0]).build()
    info = ts.info["mix"]
    assert info["model"] == "default LogisticRegression on 8x8 pixels"
    assert info["alpha"] == 0.0 and info["scores"][0] > info["scores"][1] + 0.2


def test_augmented_images_lineage_split_and_hygiene(image_sets, tmp_path):
    old, new, held = image_sets
    aug = shifted(old["images"], list(range(850, 880)))
    aug.labels = old["labels"][850:880]
    # one new image duplicates an evaluation image exactly, one nearly (a few grey levels)
    new2 = dict(new, images=new["images"].copy())
    new2["images"][5] = held[0][0]
    noisy = held[0][1].astype(int) + 2
    new2["images"][6] = np.clip(noisy, 0, 255).astype(np.uint8)
    b = (curate.TrainingSetBuilder(old, new2, target="digit").window(last="600D").add(aug)
         .exclude({"held": held}, near=0.02).dedup(near=True).split(0.3))
    ts = b.build(random_state=4)
    assert ts.info["leakage"]["matches_by_eval_set"]["held"] >= 2
    assert not {"new:5", "new:6"} & set(ts.manifest.row_id)
    m = ts.manifest
    augm = m[m.origin == "augmented"]
    assert len(augm) == 30 and set(augm.reason) == {"augmented fill of slice clusters-1a2b"}
    split_of = dict(zip(m.row_id, m.split))
    for rid, pids in zip(augm.row_id, augm.parent_ids):
        parent = json.loads(pids)[0]
        assert parent.startswith("old:8")
        if parent in split_of:
            assert split_of[rid] == split_of[parent]
    assert ts.why("aug:clusters-1a2b:0")["params"] == {"transforms": [{"name": "Affine", "shift": 1}]}
    ts.save(tmp_path / "imgs")
    back = curate.TrainingSet.load(tmp_path / "imgs")
    assert back.fingerprint() == ts.fingerprint()
    np.testing.assert_array_equal(back.images, ts.images)
    assert b.build(random_state=4).fingerprint() == ts.fingerprint()


def test_image_errors(digits):
    images, labels = digits
    with pytest.raises(curate.DataError, match=r"^old images are shaped \(8, 8, 1\) but new images \(4, 4, 1\)\. Resize them"):
        curate.TrainingSetBuilder((images[:10], labels[:10]), (images[:10, :4, :4], labels[:10]), target="y")
    with pytest.raises(curate.DataError, match=r"^old images must be uint8 in \[0, 255\]\. Got dtype float64"):
        curate.TrainingSetBuilder((images[:10] / 255.0, labels[:10]), (images[:10], labels[:10]), target="y")
    b = curate.TrainingSetBuilder((images[:10], labels[:10]), (images[10:20], labels[10:20]), target="y")
    aug = shifted(images, [0, 1])
    aug.labels = labels[:3]
    with pytest.raises(curate.DataError, match=r"^augmented images and labels differ in length \(images=2, labels=3, manifest=2\)"):
        b.add(aug)
    aug.labels = labels[:2]
    with pytest.raises(curate.DataError, match=r"names parent positions outside new \(10 rows\)"):
        b.add(shifted(images, [0, 15]).__class__(np.roll(images[[0, 15]], 1, 2), labels[:2], shifted(images, [0, 15]).manifest), parents="new")
    with pytest.raises(curate.ParameterError, match=r"applies to tables"):
        b.preprocess()


def test_real_augment_offline_output(digits):
    augment = pytest.importorskip("augment")
    A = pytest.importorskip("albumentations")
    images, labels = digits
    out = augment.offline(images[:200], labels[:200], A.Compose([A.HorizontalFlip(p=1.0)]), select=np.arange(10, 22),
                          random_state=0)
    ts = (curate.TrainingSetBuilder((images[:200], labels[:200]), (images[200:300], labels[200:300]), target="digit")
          .add(out).split(0.3).build())
    augm = ts.manifest[ts.manifest.origin == "augmented"]
    assert len(augm) == 12
    rec = ts.why(augm.row_id.iloc[0])
    parent = int(rec["parent_ids"][0].split(":")[1])
    assert rec["parent_ids"] == [f"old:{parent}"] and 10 <= parent < 22 and rec["operation"] == "albumentations"
    np.testing.assert_array_equal(ts.images[ts.manifest.row_id == augm.row_id.iloc[0]][0], images[parent][:, ::-1])
    split_of = dict(zip(ts.manifest.row_id, ts.manifest.split))
    assert all(split_of[r] == split_of[json.loads(p)[0]] for r, p in zip(augm.row_id, augm.parent_ids))
