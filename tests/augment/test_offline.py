"""Offline image augmentation: replay, selection, determinism, workers, resume, pipelines, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
A = pytest.importorskip("albumentations")

import augment  # noqa: E402
from augment import _offline, _offline_core  # noqa: E402
from augment._lineage import LINEAGE_COLUMNS, lineage_rows  # noqa: E402
from curakit.exceptions import DataError  # noqa: E402
from curakit.imageio import read_png, read_png_text, write_png  # noqa: E402
from diagnose import Slice  # noqa: E402


def gray_pipeline():
    return A.Compose(
        [
            A.Affine(rotate=(-15, 15), scale=(0.9, 1.1), p=0.9),
            A.RandomBrightnessContrast(p=0.5),
            A.GaussNoise(std_range=(0.05, 0.1), p=0.5),
        ]
    )


@pytest.fixture(scope="module")
def rgb():
    """Real photos (sklearn's two sample images) cut into 48x48 RGB tiles, two classes."""
    from sklearn.datasets import load_sample_images

    tiles, labels = [], []
    for k, img in enumerate(load_sample_images().images):
        for i in range(0, 48 * 4, 48):
            for j in range(0, 48 * 5, 48):
                tiles.append(img[i : i + 48, j : j + 48])
                labels.append(k)
    return np.stack(tiles).astype(np.uint8), np.asarray(labels)


def test_in_memory_replay_is_bit_for_bit_and_manifest_is_complete(digits):
    images, labels = digits
    out = augment.offline(images, labels, gray_pipeline(), select={"classes": [3, 8]}, n=25, random_state=1)
    assert out.images.shape == (50, 8, 8, 1) and out.images.dtype == np.uint8
    assert list(out.manifest.columns) == [*LINEAGE_COLUMNS, "parent", "path", "label"]
    assert out.manifest["row_id"].tolist()[:2] == ["aug:3:0", "aug:3:1"]
    assert set(out.manifest["row_id"]) >= {"aug:8:0", "aug:8:24"}
    # labels follow the parents; each parent used floor/ceil(n / class size) times
    np.testing.assert_array_equal(out.labels, labels[out.manifest["parent"].to_numpy()])
    assert out.manifest["parent"].value_counts().max() == 1
    rows = lineage_rows(out.manifest)
    assert rows[0].origin == "augmented" and rows[0].operation == "albumentations" and rows[0].seed is not None
    assert rows[0].parent_ids == (str(out.manifest["parent"].iloc[0]),)
    # every image is replayed bit for bit from its row, its parent and the pipeline
    for k in range(len(out)):
        row = out.manifest.iloc[k]
        again = augment.replay(row, images[row["parent"]], gray_pipeline())
        np.testing.assert_array_equal(again, out.images[k])
    # a different pipeline is caught instead of silently giving another image
    other = A.Compose([A.Affine(rotate=(-40, 40), p=1.0)])
    applied = json.loads(out.manifest["params"].iloc[0])["applied"]
    assert applied and applied[0][0] in {"Affine", "RandomBrightnessContrast", "GaussNoise"}
    with pytest.raises(ValueError, match="applied other parameters than recorded"):
        augment.replay(out.manifest.iloc[0], images[out.manifest["parent"].iloc[0]], other)


def test_slice_mask_and_indices_select_the_same_rows(rgb):
    images, labels = rgb
    members = np.array([1, 4, 9, 22, 30])
    s = Slice(
        id="clusters-1a2b3c4d", method="clusters", description="dark tiles", indices=members,
        n_analysed=len(images), error_rate=0.5, baseline_error_rate=0.1,
    )
    pipe = A.Compose([A.HorizontalFlip(p=0.5), A.HueSaturationValue(p=0.8)])
    by_slice = augment.offline(images, labels, pipe, select=s, n=12, random_state=3)
    mask = np.zeros(len(images), dtype=bool)
    mask[members] = True
    by_mask = augment.offline(images, labels, pipe, select=mask, n=12, random_state=3)
    by_idx = augment.offline(images, labels, pipe, select=members.tolist(), n=12, random_state=3)
    assert set(by_slice.manifest["parent"]) == set(members.tolist())
    assert by_slice.manifest["row_id"].iloc[0] == "aug:clusters-1a2b3c4d:0"
    assert json.loads(by_slice.manifest["slice_ids"].iloc[0]) == ["clusters-1a2b3c4d"]
    np.testing.assert_array_equal(by_mask.images, by_idx.images)
    # the group name seeds the draws: a mask of the same rows uses the same parents, in another order
    assert set(by_mask.manifest["parent"]) == set(by_slice.manifest["parent"])
    # each of the 5 parents is used twice or three times for 12 images
    assert sorted(by_slice.manifest["parent"].value_counts().tolist()) == [2, 2, 2, 3, 3]
    # n=None: one new image per selected image
    assert len(augment.offline(images, labels, pipe, select=s, random_state=3)) == 5


def test_same_seed_same_images_any_n_jobs_and_other_seed_differs(rgb):
    images, labels = rgb
    pipe = A.Compose([A.Affine(rotate=(-20, 20), p=1.0), A.GaussNoise(p=0.5)])
    a = augment.offline(images, labels, pipe, n=40, random_state=5)
    b = augment.offline(images, labels, pipe, n=40, random_state=5, n_jobs=2)
    c = augment.offline(images, labels, pipe, n=40, random_state=6)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.manifest, b.manifest)
    assert not np.array_equal(a.images, c.images)


def test_progress_is_the_name_and_progress_bar_still_works(rgb):
    images, labels = rgb
    pipe = A.Compose([A.HorizontalFlip(p=1.0)])
    a = augment.offline(images, labels, pipe, n=4, random_state=1, progress=False)
    with pytest.warns(FutureWarning, match="'progress_bar' parameter of offline is renamed 'progress'"):
        b = augment.offline(images, labels, pipe, n=4, random_state=1, progress_bar=False)
    np.testing.assert_array_equal(a.images, b.images)


def test_pipeline_forms_dict_yaml_json_give_the_same_images(digits, tmp_path):
    images, labels = digits
    pipe = gray_pipeline()
    ref = augment.offline(images[:50], labels[:50], pipe, n=10, random_state=0).images
    A.save(pipe, str(tmp_path / "p.yaml"), data_format="yaml")
    A.save(pipe, str(tmp_path / "p.json"), data_format="json")
    bare = A.to_dict(pipe)["transform"]
    for form in (A.to_dict(pipe), bare, tmp_path / "p.yaml", str(tmp_path / "p.json")):
        got = augment.offline(images[:50], labels[:50], form, n=10, random_state=0).images
        np.testing.assert_array_equal(got, ref)


def test_out_dir_resumes_after_an_interruption_without_duplicates(digits, tmp_path, monkeypatch):
    images, labels = digits
    kwargs = dict(select={"classes": [1, 7]}, n={1: 9, 7: 6}, random_state=2)
    expected = augment.offline(images, labels, gray_pipeline(), **kwargs)
    out_dir = tmp_path / "aug"

    real_write = _offline_core._write_png_atomic
    calls = {"n": 0}

    def flaky_write(path, data, pid):
        if calls["n"] == 6:
            raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of the run
        calls["n"] += 1
        return real_write(path, data, pid)

    monkeypatch.setattr(_offline_core, "_write_png_atomic", flaky_write)
    with pytest.raises(KeyboardInterrupt):
        augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, **kwargs)
    assert not (out_dir / "manifest.parquet").exists()
    done = sorted(p for p in (out_dir / "images").rglob("*.png"))
    assert len(done) == 6 and all(read_png(p).shape == (8, 8, 1) for p in done)
    # each finished file carries its applied parameters
    assert all(json.loads(read_png_text(p)[1]) is not None for p in done)
    (done[0].parent / f".{done[0].name}.half.tmp").write_bytes(b"\x89PNG half")  # a half-written file

    monkeypatch.setattr(_offline_core, "_write_png_atomic", real_write)
    made = {"n": 0}
    real_apply, real_chunk = _offline.apply_pipeline, _offline_core.apply_chunk

    def counting_apply(*a, **k):
        made["n"] += 1
        return real_apply(*a, **k)

    def counting_chunk(compose, images, seeds):
        made["n"] += len(seeds)
        return real_chunk(compose, images, seeds)

    monkeypatch.setattr(_offline, "apply_pipeline", counting_apply)  # the probe
    monkeypatch.setattr(_offline_core, "apply_chunk", counting_chunk)  # the images
    out = augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, **kwargs)
    assert made["n"] == 1 + (15 - 6)  # the probe, then only the missing images
    np.testing.assert_array_equal(out.images, expected.images)
    pngs = sorted((out_dir / "images").rglob("*.png"))
    assert len(pngs) == 15 and not list(out_dir.rglob("*.tmp"))
    assert sorted(out.manifest["path"]) == sorted(p.relative_to(out_dir).as_posix() for p in pngs)
    for path, img in zip(out.manifest["path"], out.images):
        np.testing.assert_array_equal(read_png(out_dir / path), img)
    cols = [c for c in out.manifest.columns if c != "path"]
    pd.testing.assert_frame_equal(out.manifest[cols], expected.manifest[cols])

    # a finished out_dir is read back; another run is refused
    back = augment.AugmentedSet.load(out_dir)
    np.testing.assert_array_equal(back.images, out.images)
    np.testing.assert_array_equal(back.labels, out.labels)
    again = augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, **kwargs)
    np.testing.assert_array_equal(again.images, out.images)
    with pytest.raises(ValueError, match="holds another augmentation run"):
        augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, select={"classes": [1]}, n=3)


def test_leakage_guard_refuses_duplicates_of_evaluation_images(digits):
    images, labels = digits
    pipe = A.Compose([A.HorizontalFlip(p=0.5)])  # about half the copies are identical to their parent
    evals = {"holdout": images[:300]}
    sel = np.arange(300)
    out = augment.offline(images, labels, pipe, select=sel, n=60, random_state=0, eval_sets=evals)
    free = augment.offline(images, labels, pipe, select=sel, n=60, random_state=0)
    unflipped = [k for k in range(60) if not json.loads(free.manifest["params"].iloc[k])["applied"]]
    assert len(unflipped) > 5
    refused_ids = set(out.refused["row_id"])
    assert {free.manifest["row_id"].iloc[k] for k in unflipped} <= refused_ids
    assert not refused_ids & set(out.manifest["row_id"])
    assert len(out) + len(out.refused) == 60
    assert set(out.refused["eval_set"]) == {"holdout"} and "exact" in set(out.refused["match"])
    np.testing.assert_array_equal(images[out.refused["eval_position"].to_numpy()], free.images[out.refused["position"].to_numpy()])
    with pytest.raises(augment.LeakageError, match="duplicate evaluation rows"):
        augment.offline(images, labels, pipe, select=sel, n=60, eval_sets=evals, on_leak="raise")
    leaks = augment.find_leaks(free.images, evals)
    assert set(leaks["position"]) == set(out.refused["position"])


def test_bad_inputs_raise_one_line_errors_and_leave_nothing(digits, rgb, tmp_path):
    images, labels = digits
    out_dir = tmp_path / "never"
    with pytest.raises(ValueError, match=r"The 'n' parameter of offline must be a non-negative int or a mapping"):
        augment.offline(images, labels, gray_pipeline(), n=-5, out_dir=out_dir)
    with pytest.raises(ValueError, match=r"images must be uint8 in \[0, 255\]\. Got dtype float64"):
        augment.offline(images / 255.0, labels, gray_pipeline(), out_dir=out_dir)
    with pytest.raises(ValueError, match=r"Add a channel axis with images\[\.\.\., None\]"):
        augment.offline(images[..., 0], labels, gray_pipeline(), out_dir=out_dir)
    rgb_only = A.Compose([A.PlanckianJitter(p=1.0)])
    with pytest.raises(ValueError, match=r"The pipeline failed on an image shaped \(8, 8, 1\).*Use transforms suited to 1-channel"):
        augment.offline(images, labels, rgb_only, n=3, out_dir=out_dir)
    with pytest.raises(ValueError, match="changed the number of channels from 1 to 3"):
        augment.offline(images, labels, A.Compose([A.ToRGB(p=1.0)]), n=3, out_dir=out_dir)
    rgb_images = rgb[0]
    with pytest.raises(ValueError, match=r"has 3 channel\(s\) but the images have 1"):
        augment.offline(images, labels, gray_pipeline(), eval_sets={"val": rgb_images}, out_dir=out_dir)
    bad = tmp_path / "bad.yaml"
    bad.write_text("transform:\n  __class_fullname__: Compose\n  p: 1.0\n  transforms:\n"
                   "    - {__class_fullname__: HorizontalFlp, p: 0.5}\n")
    with pytest.raises(ValueError, match=r"Unknown albumentations transform 'HorizontalFlp' .*Did you mean 'HorizontalFlip'\?"):
        augment.offline(images, labels, bad, out_dir=out_dir)
    with pytest.raises(ValueError, match=r"Pipeline file '.*missing\.yaml' does not exist"):
        augment.offline(images, labels, tmp_path / "missing.yaml", out_dir=out_dir)
    with pytest.raises(ValueError, match=r"matches 0 of the offline rows"):
        augment.offline(images, labels, gray_pipeline(), select={"classes": [42]}, out_dir=out_dir)
    with pytest.raises(ValueError, match=r"To select classes pass \{'classes': \[\.\.\.\]\}"):
        augment.offline(images, labels, gray_pipeline(), select=["3"], out_dir=out_dir)
    assert not out_dir.exists()


def test_image_files_corrupt_missing_and_mixed_modes(digits, rgb, tmp_path):
    images, labels = digits
    paths = []
    for k in range(4):
        paths.append(write_png(tmp_path / f"{k}.png", images[k]))
    out = augment.offline(paths, labels[:4], gray_pipeline(), n=2, random_state=0)
    ref = augment.offline(images[:4], labels[:4], gray_pipeline(), n=2, random_state=0)
    np.testing.assert_array_equal(out.images, ref.images)
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"Image file 'bad.png' cannot be decoded \(corrupt or not an image\)"):
        augment.offline([*paths, tmp_path / "bad.png"], labels[:5], gray_pipeline())
    with pytest.raises(ValueError, match=r"Image file '.*gone.png' does not exist"):
        augment.offline([*paths, tmp_path / "gone.png"], labels[:5], gray_pipeline())
    colour = write_png(tmp_path / "colour.png", rgb[0][0])
    with pytest.raises(ValueError, match=r"mix \[1, 3\] channels \(grayscale and colour\)"):
        augment.offline([*paths, colour], labels[:5], gray_pipeline())


def test_oneof_records_only_the_transform_that_ran(digits):
    images, labels = digits
    pipe = A.Compose([A.OneOf([A.Blur(blur_limit=3, p=1.0), A.MedianBlur(blur_limit=3, p=1.0)], p=1.0),
                      A.HorizontalFlip(p=0.5)])
    out = augment.offline(images[:40], labels[:40], pipe, n=30, random_state=4)
    picked = []
    for k in range(len(out)):
        applied = [name for name, _ in json.loads(out.manifest["params"].iloc[k])["applied"]]
        assert sum(name in ("Blur", "MedianBlur") for name in applied) == 1, applied
        picked.append(applied[0])
        row = out.manifest.iloc[k]
        np.testing.assert_array_equal(augment.replay(row, images[row["parent"]], pipe), out.images[k])
    assert set(picked) == {"Blur", "MedianBlur"}


@pytest.mark.parametrize("leftover", ["empty", "truncated", "temp_only", "temp_and_truncated"])
def test_out_dir_resumes_after_a_kill_while_writing_the_first_run_json(digits, tmp_path, leftover):
    images, labels = digits
    kwargs = dict(select={"classes": [1, 7]}, n={1: 4, 7: 3}, random_state=2)
    expected = augment.offline(images, labels, gray_pipeline(), **kwargs)
    out_dir = tmp_path / "aug"
    out_dir.mkdir()
    # what a kill -9 inside atomic_write_json (or a crash before the data reached the disk) leaves
    if leftover in ("temp_only", "temp_and_truncated"):
        (out_dir / ".run.json.k3x9a.json").write_text('{"schema_version": 1, "finger')
    if leftover == "empty":
        (out_dir / "run.json").write_text("")
    if leftover in ("truncated", "temp_and_truncated"):
        (out_dir / "run.json").write_text('{"schema_version": 1, "fingerprint": "ab')
    out = augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, **kwargs)
    np.testing.assert_array_equal(out.images, expected.images)
    assert json.loads((out_dir / "run.json").read_text())["fingerprint"]
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".run.json.")]


def test_a_truncated_run_json_beside_user_files_is_still_refused(digits, tmp_path):
    images, labels = digits
    out_dir = tmp_path / "aug"
    out_dir.mkdir()
    (out_dir / "run.json").write_text("{")
    (out_dir / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        augment.offline(images, labels, gray_pipeline(), out_dir=out_dir, n=3, random_state=0)
    assert (out_dir / "notes.txt").read_text() == "mine" and (out_dir / "run.json").read_text() == "{"


def test_a_chunk_gives_what_apply_pipeline_gives_image_by_image(digits):
    from augment._pipeline import applied_json, apply_chunk, apply_pipeline, load_pipeline

    images, _ = digits
    seeds = np.array([5, 0, 77, 2**31 - 2, 5])
    chunk = apply_chunk(load_pipeline(gray_pipeline()), images[:5], seeds)
    one = load_pipeline(gray_pipeline())
    for (out, text), img, seed in zip(chunk, images[:5], seeds.tolist()):
        ref, applied = apply_pipeline(one, img, seed)
        np.testing.assert_array_equal(out, ref)
        assert text == applied_json(applied)


def test_vectorised_seed_states_equal_the_per_seed_ones():
    from augment._pipeline import _pcg64_word, pcg64_words

    seeds = np.array([0, 1, 2**31 - 2, 123456789, -5], dtype=np.int64)
    assert pcg64_words(seeds) == [_pcg64_word(int(s)) for s in seeds]
