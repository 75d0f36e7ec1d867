"""curakit.imageio: class-name folders, classes.txt, unknown classes, mixed sizes and --resize."""

from __future__ import annotations

import numpy as np
import pytest

from curakit.exceptions import DataError
from curakit.imageio import class_indices, parse_size, read_image_folder, write_png

pytest.importorskip("cv2")


def _img(h, w, v=0):
    return np.full((h, w, 1), v, dtype=np.uint8)


def test_class_name_folders_sorted_and_classes_txt(tmp_path):
    for name in ("shirt", "bag", "coat"):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "a.png", _img(4, 4, len(name)))
    _, labels, rel = read_image_folder(tmp_path)
    idx, names = class_indices(labels, tmp_path)
    assert names == ["bag", "coat", "shirt"] and idx.tolist() == [0, 1, 2] and rel[0] == "bag/a.png"
    (tmp_path / "classes.txt").write_text("shirt\ncoat\nbag\n")
    idx, names = class_indices(labels, tmp_path)
    assert names == ["shirt", "coat", "bag"] and idx.tolist() == [2, 1, 0]
    with pytest.raises(DataError, match="does not know class"):
        class_indices(labels, tmp_path, n_classes=2)
    (tmp_path / "classes.txt").write_text("shirt\ncoat\n")
    with pytest.raises(DataError, match="does not list"):
        class_indices(labels, tmp_path)


def test_integer_folders_are_indices_and_unknown_refused(tmp_path):
    for k in (0, 2, 10):
        (tmp_path / str(k)).mkdir()
        write_png(tmp_path / str(k) / "a.png", _img(3, 3))
    _, labels, _ = read_image_folder(tmp_path)
    idx, _ = class_indices(labels, tmp_path, n_classes=11)
    assert idx.tolist() == [0, 10, 2]  # files in sorted path order; the folder name is the index
    with pytest.raises(DataError, match="does not know"):
        class_indices(labels, tmp_path, n_classes=5)


def test_mixed_sizes_refused_or_resized(tmp_path):
    (tmp_path / "a").mkdir()
    write_png(tmp_path / "a" / "1.png", _img(4, 4, 10))
    write_png(tmp_path / "a" / "2.png", _img(6, 8, 20))
    with pytest.raises(DataError, match="--resize HxW") as info:
        read_image_folder(tmp_path)
    assert "\n" not in str(info.value)
    images, _, _ = read_image_folder(tmp_path, resize=parse_size("5x7"))
    assert images.shape == (2, 5, 7, 1) and images[1].min() == 20
    for bad in ("5", "0x3", "axb"):
        with pytest.raises(DataError, match="HxW"):
            parse_size(bad)


def test_read_images_npz_path_tables_and_plain_tables(tmp_path):
    import pandas as pd

    from curakit.imageio import is_image_source, read_images

    gray = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    np.savez(tmp_path / "a.npz", images=gray, labels=np.array([0, 1, 1]))
    images, labels, _ = read_images(tmp_path / "a.npz")
    assert images.shape == (3, 4, 5, 1) and labels.tolist() == [0, 1, 1]  # (n, H, W) is one channel
    for k in range(3):
        write_png(tmp_path / f"{k}.png", gray[k][..., None])
    pd.DataFrame({"path": [f"{k}.png" for k in range(3)], "label": ["b", "a", "b"]}).to_csv(tmp_path / "t.csv",
                                                                                           index=False)
    images2, labels2, rel = read_images(tmp_path / "t.csv")
    np.testing.assert_array_equal(images2, images)
    idx, names = class_indices(labels2, tmp_path / "t.csv")
    assert names == ["a", "b"] and idx.tolist() == [1, 0, 1] and rel[0] == "0.png"
    # a plain table with a column named "path" is not image data
    pd.DataFrame({"path": [1.0, 2.0], "y": [0, 1]}).to_parquet(tmp_path / "plain.parquet")
    assert is_image_source(tmp_path / "t.csv") and not is_image_source(tmp_path / "plain.parquet")
    np.savez(tmp_path / "bad.npz", images=gray.astype(np.float32), labels=np.arange(3))
    with pytest.raises(DataError, match="uint8"):
        read_images(tmp_path / "bad.npz")


def test_resize_bounded_before_allocating(tmp_path, monkeypatch):
    """A --resize typo (99999x99999) is refused before any image is resized; a size that fits no free
    memory is refused before the stack is built."""
    (tmp_path / "a").mkdir()
    write_png(tmp_path / "a" / "1.png", _img(4, 4, 10))
    with pytest.raises(DataError, match="over 8192 pixels") as info:
        parse_size("99999x99999")
    assert "\n" not in str(info.value)
    assert parse_size("8192x8192") == (8192, 8192)
    import curakit.imageio as imageio

    real = imageio.os.sysconf
    monkeypatch.setattr(imageio.os, "sysconf", lambda name: 1 if name == "SC_AVPHYS_PAGES" else real(name))
    with pytest.raises(DataError, match="Pick a smaller --resize"):
        read_image_folder(tmp_path, resize=(4096, 4096))
