"""PNG files for augmented images and image folders (OpenCV, imported lazily).

* :func:`write_png` writes atomically: a hidden temporary sibling (``.<name>.<pid>.tmp``)
  then ``os.replace``, so a file under its final name is always complete (an interrupted run
  leaves at most a temporary file, which :func:`remove_temporaries` clears on resume). An
  optional text (the applied augmentation parameters) is stored in a PNG ``tEXt`` chunk.
* :func:`read_png` returns uint8 (H, W, C) in RGB(A) order, or (H, W, 1) for grayscale.
* :func:`read_image_folder` reads ``root/<label>/<file>.png`` in sorted order (label folder,
  then file name): the order every curakit command uses for an image folder.
* :func:`read_images` is the one reader every command uses: an image folder, an ``.npz``
  (``images``, ``labels``) or a Parquet/CSV table of image paths; :func:`class_indices` maps
  class names to indices (ImageFolder's sorted names, ``classes.txt``, or a given list).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from curakit.exceptions import DataError
from curakit.optional import import_optional

__all__ = [
    "decode_png",
    "encode_png",
    "png_text",
    "class_indices",
    "folder_class_names",
    "image_path_column",
    "is_image_source",
    "match_channels",
    "read_images",
    "parse_size",
    "read_image_folder",
    "read_png",
    "read_png_text",
    "remove_temporaries",
    "write_png",
]

_TMP_SUFFIX = ".tmp"


def _cv2():
    return import_optional("cv2")


_TEXT_KEY = b"curakit"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_text(data: bytes) -> str | None:
    """The curakit text chunk of PNG bytes (see :func:`encode_png`), or None."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"tEXt":
            body = data[pos + 8 : pos + 8 + length]
            key, _, value = body.partition(b"\0")
            if key == _TEXT_KEY:
                return value.decode("latin-1")
        if kind == b"IDAT" or kind == b"IEND":
            return None
        pos += 12 + length
    return None


def encode_png(image: np.ndarray, compression: int = 1, text: str | None = None) -> bytes:
    """PNG bytes of a uint8 (H, W, C) RGB(A) or (H, W, 1) image; ``text`` goes into a tEXt chunk."""
    cv2 = _cv2()
    img = np.ascontiguousarray(image)
    c = img.shape[-1]
    if c == 1:
        img = img[..., 0]
    elif c == 3:
        img = img[..., ::-1]
    elif c == 4:
        img = img[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:  # pragma: no cover - OpenCV encodes every uint8 1/3/4-channel image
        raise DataError(f"Could not encode an image shaped {image.shape} as PNG.")
    data = buf.tobytes()
    if text is None:
        return data
    # a tEXt chunk right after IHDR (signature 8 bytes + IHDR 25 bytes); tEXt is Latin-1
    payload = text.encode("ascii", "backslashreplace").decode("ascii").encode("latin-1")
    return data[:33] + _chunk(b"tEXt", _TEXT_KEY + b"\0" + payload) + data[33:]


def decode_png(data: bytes, name: str = "image") -> np.ndarray:
    cv2 = _cv2()
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if arr is None:
        raise DataError(f"Image file {name!r} cannot be decoded (corrupt or not an image). Remove or replace it.")
    if arr.dtype != np.uint8:
        raise DataError(
            f"Image file {name!r} has {arr.dtype} pixels; curakit reads 8-bit images. Convert it to 8-bit PNG."
        )
    if arr.ndim == 2:
        return arr[..., None]
    if arr.shape[-1] == 3:
        return np.ascontiguousarray(arr[..., ::-1])
    if arr.shape[-1] == 4:
        return np.ascontiguousarray(arr[..., [2, 1, 0, 3]])
    return arr


def write_png(path: str | os.PathLike, image: np.ndarray, text: str | None = None) -> Path:
    """Write ``image`` to ``path`` atomically (temporary sibling, then ``os.replace``).

    ``text`` (e.g. the applied parameters) is stored in the file; read it with :func:`read_png_text`.
    """
    path = Path(path)
    data = encode_png(image, text=text)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return path


def read_png_text(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """(image, the text stored by :func:`write_png`) of a PNG file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"Image file {str(path)!r} does not exist. Check the path.") from None
    return decode_png(data, path.name), png_text(data)


def read_png(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"Image file {str(path)!r} does not exist. Check the path.") from None
    return decode_png(data, path.name)


def remove_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporary files an interrupted :func:`write_png` may have left; returns how many."""
    count = 0
    for p in Path(folder).rglob(f".*{_TMP_SUFFIX}"):
        if p.is_file():
            p.unlink()
            count += 1
    return count


_IMAGE_SUFFIXES = (".png",)


#: the largest side ``--resize`` accepts (a guard against a typo that would fill the memory)
MAX_SIDE = 8192


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"28x28"`` (H x W) -> (28, 28); None passes through."""
    if text is None:
        return None
    h, sep, w = text.lower().partition("x")
    if not sep or not h.isdigit() or not w.isdigit() or int(h) < 1 or int(w) < 1:
        raise DataError(f"--resize takes HxW in pixels, such as 28x28. Got {text!r} instead.")
    if max(int(h), int(w)) > MAX_SIDE:
        raise DataError(f"--resize {text!r} asks for a side over {MAX_SIDE} pixels. Give a size the model takes, "
                        "such as 224x224.")
    return int(h), int(w)


def _check_fits(n: int, size: tuple[int, int], channels: int, root: str) -> None:
    """Refuse, before allocating, a resized stack larger than the memory this machine has free."""
    need = n * size[0] * size[1] * channels
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: no check
        return
    if need > free:
        raise DataError(f"Resizing the {n} images of {root!r} to {size[0]}x{size[1]} needs {need / 2**30:.1f} GiB, "
                        f"more than the {free / 2**30:.1f} GiB free. Pick a smaller --resize.")


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    cv2 = _cv2()
    out = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out[..., None] if out.ndim == 2 else out


def read_image_folder(root: str | os.PathLike, resize: tuple[int, int] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``root/<label>/<file>.png`` -> (uint8 images (n, H, W, C), labels (str), relative paths).

    Labels are the sub-folder names (as int64 when every name is an integer). All images must
    share one channel count, and one size unless ``resize=(H, W)`` (area interpolation) is given.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Image folder {str(root)!r} does not exist or is not a folder. Check the path.")
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    files = [p for p in files if p.parent != root]
    if not files:
        raise DataError(
            f"Image folder {root.name!r} holds no PNG files in sub-folders. Lay it out as <folder>/<label>/<image>.png."
        )
    images, labels, rel = [], [], []
    for p in files:
        image = read_png(p)
        if resize is not None and not images:
            _check_fits(len(files), resize, image.shape[2] if image.ndim == 3 else 1, root.name)
        images.append(image if resize is None else _resize(image, resize))
        labels.append(p.relative_to(root).parts[0])
        rel.append(p.relative_to(root).as_posix())
    _check_one_shape(images, root.name)
    lab: Any = np.asarray(labels, dtype=object)
    if all(s.lstrip("-").isdigit() for s in labels):
        lab = np.asarray([int(s) for s in labels], dtype=np.int64)
    else:
        lab = np.asarray(labels, dtype=str)
    return np.stack(images), lab, rel


def folder_class_names(root: str | os.PathLike) -> list[str]:
    """The class names of an image source, index order. A folder: ``classes.txt`` (one name a line)
    when present, else the sorted sub-folder names (torchvision ``ImageFolder``'s convention). A
    ``.npz``: its ``classes`` array when it has one, else []. A table of paths: [] (use the labels)."""
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".npz":
            with np.load(root, allow_pickle=False) as z:
                return [str(v) for v in z["classes"].tolist()] if "classes" in z.files else []
        return []
    listed = root / "classes.txt"
    if listed.is_file():
        names = [ln.strip() for ln in listed.read_text().splitlines() if ln.strip()]
        if len(set(names)) != len(names):
            raise DataError(f"{str(listed)!r} names a class twice. List each class once, one a line.")
        return names
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def class_indices(labels: np.ndarray, root: str | os.PathLike, n_classes: int | None = None, *,
                  classes: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Labels of an image source (:func:`read_images`) -> (class indices, class names).

    Integer labels ARE the class index (folder ``3`` = output 3). Name labels index by
    ``classes`` when given (one class list for old, new and eval sets), else by
    :func:`folder_class_names` (sorted folder names, ``classes.txt``, an ``.npz``'s ``classes``),
    else by the sorted names. With ``n_classes`` (the model's outputs) a class beyond it is an error.
    """
    root = Path(root)
    listed = root.is_dir() and (root / "classes.txt").is_file()
    if labels.dtype.kind in "iu" and not listed and classes is None:
        k = (int(labels.max()) + 1 if len(labels) else 0) if n_classes is None else n_classes
        outside = sorted({int(v) for v in labels if not 0 <= int(v) < k})
        if outside:
            raise DataError(
                f"Image folder {root.name!r} has class folder {str(outside[0])!r}, which the model does not know "
                f"(it has {k} outputs: classes 0..{k - 1}). Remove the folder or pass the matching model."
            )
        return labels.astype(np.int64), [str(i) for i in range(k)]
    names = list(classes) if classes is not None else (folder_class_names(root) or sorted({str(v) for v in labels}))
    index = {name: i for i, name in enumerate(names)}
    missing = sorted({str(v) for v in labels} - set(index))
    if missing:
        where = "the class list of the first data set" if classes is not None else "classes.txt"
        raise DataError(f"Image data {root.name!r} has class {missing[0]!r}, which {where} does not "
                        "list. Add it (classes.txt) or remove those images.")
    if n_classes is not None and len(names) > n_classes:
        raise DataError(
            f"Image folder {root.name!r} has {len(names)} classes but the model has {n_classes} outputs, so it does "
            f"not know class {names[n_classes]!r}. Remove that folder, list the model's classes in classes.txt, "
            "or pass the matching model."
        )
    return np.asarray([index[str(v)] for v in labels], dtype=np.int64), names


_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")
_PATH_COLUMNS = ("path", "image_path", "image")


def _table_columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".csv":
        import pandas as pd

        try:
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            return []  # not an image table; read_table then names the problem in one line
    pq = import_optional("pyarrow.parquet")
    try:
        return [str(c) for c in pq.read_schema(path).names]
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        return []  # not an image table; read_table then names the problem in one line


_IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def image_path_column(path: str | os.PathLike) -> str | None:
    """The image-path column (``path``, ``image_path`` or ``image``) of a Parquet/CSV table whose first
    values name image files (``.png``, ``.jpg``, ...), or None (a plain table)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in _TABLE_SUFFIXES:
        return None
    cols = _table_columns(path)
    col = next((c for c in _PATH_COLUMNS if c in cols), None)
    if col is None:
        return None
    import pandas as pd

    try:
        head = (pd.read_csv(path, usecols=[col], nrows=5) if path.suffix.lower() == ".csv"
                else pd.read_parquet(path, columns=[col]).head(5))[col]
    except Exception:  # noqa: BLE001 - a damaged file is not an image table; read_table reports it
        return None
    values = [str(v) for v in head.dropna().tolist()]
    return col if values and all(v.lower().endswith(_IMAGE_FILE_SUFFIXES) for v in values) else None


def is_image_source(path: str | os.PathLike) -> bool:
    """True for what :func:`read_images` reads: a folder, an ``.npz``, a table with an image-path column."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() == ".npz" or image_path_column(path) is not None


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        z = np.load(path, allow_pickle=False)
    except ValueError:
        raise DataError(f"{path.name!r} is not a plain .npz of numeric arrays. Save it with numpy.savez.") from None
    with z:
        if "images" not in z.files or "labels" not in z.files:
            raise DataError(f"{path.name!r} must hold arrays named 'images' and 'labels'. Got {sorted(z.files)}.")
        images, labels = z["images"], z["labels"]
    if images.ndim == 3:
        images = images[..., None]  # grayscale (n, H, W) is one channel, everywhere
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataError(f"{path.name!r}'s 'images' is {images.dtype} shaped {images.shape}; curakit reads uint8 "
                        "(n, H, W) or (n, H, W, C) images. Convert them to uint8 0..255.")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{path.name!r} has {len(images)} images but 'labels' shaped {labels.shape}. "
                        "Save one label per image.")
    return images, labels, [f"{path.name}:{k}" for k in range(len(images))]


def _read_path_table(path: Path, resize: tuple[int, int] | None, label_col: str
                     ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from .io import read_table

    col = image_path_column(path)
    table = read_table(path, "Image table")
    if col is None or label_col not in table.columns:
        raise DataError(f"Image table {path.name!r} needs a {col or 'path'!r} column (image files, relative to the "
                        f"table's folder) and a {label_col!r} column. Got {table.shape[1]} other columns.")
    if len(table) == 0:
        raise DataError(f"Image table {path.name!r} has no rows. List at least one image.")
    rel = [str(v) for v in table[col].tolist()]
    images = []
    for r in rel:
        image = read_png(path.parent / r) if Path(r).suffix.lower() == ".png" else _read_any(path.parent / r)
        images.append(image if resize is None else _resize(image, resize))
    _check_one_shape(images, path.name)
    labels = table[label_col].to_numpy()
    if labels.dtype.kind not in "iu":
        labels = labels.astype(str)
    return np.stack(images), labels, rel


def _read_any(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"Image file {str(path)!r} does not exist. Check the path.") from None
    return decode_png(data, path.name)  # OpenCV's imdecode reads JPEG, BMP, TIFF too


def _check_one_shape(images: list[np.ndarray], name: str) -> None:
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        channels = {s[-1] for s in shapes}
        if len(channels) > 1:
            raise DataError(f"Image data {name!r} mixes {sorted(channels)} channels (grayscale and colour). "
                            "Convert every image to one mode (all grayscale or all RGB) first.")
        raise DataError(f"Image data {name!r} holds images of {len(shapes)} different sizes. Resize them to one "
                        "size first, or pass --resize HxW (resize=(H, W)).")


def read_images(path: str | os.PathLike, resize: tuple[int, int] | None = None, *, label_col: str = "label"
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The one image reader of every curakit command: (uint8 images (n, H, W, C), labels, names).

    ``path`` is an image folder (``<label>/<file>.png``, :func:`read_image_folder`), an ``.npz``
    with ``images`` ((n, H, W) grayscale or (n, H, W, C) uint8) and ``labels`` (optional
    ``classes``: the names of the label indices), or a Parquet/CSV table with a ``path`` (or
    ``image_path`` / ``image``) column of image files relative to the table's folder and a
    ``label_col`` column. Labels come back as stored: ints, or names (str); map them to class
    indices with :func:`class_indices`. ``resize=(H, W)`` resizes (folders and tables).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        return read_image_folder(path, resize=resize)
    if path.suffix.lower() == ".npz":
        images, labels, names = _read_npz(path)
        if resize is not None and images.shape[1:3] != tuple(resize):
            images = np.stack([_resize(im, resize) for im in images])
        return images, labels, names
    if path.suffix.lower() in _TABLE_SUFFIXES:
        return _read_path_table(path, resize, label_col)
    raise DataError(f"{path.name!r} is not image data: pass an image folder (<label>/<image>.png), an .npz with "
                    "'images' and 'labels', or a Parquet/CSV table with a 'path' column.")


def match_channels(images: np.ndarray, channels: int | None, what: str, model: str) -> np.ndarray:
    """Images (n, H, W, C) with the model's input ``channels``: grayscale into a 3-channel model is
    repeated to RGB, as torchvision's ``ImageFolder`` loader (PIL ``convert("RGB")``) fed it in training,
    with a warning; any other mismatch is a one-line :class:`DataError`. ``None`` channels: unchanged."""
    have = int(images.shape[-1])
    if channels is None or have == channels:
        return images
    if have == 1 and channels == 3:
        import logging

        logging.getLogger(__name__).warning(
            "%s holds grayscale images and the model %s takes 3 channels: each image is repeated to RGB, as "
            "torchvision's ImageFolder loader does (PIL convert('RGB')).", what, model)
        return np.repeat(images, 3, axis=-1)
    raise DataError(f"{what} holds {have}-channel images (shape {tuple(images.shape[1:])}) but the model {model} "
                    f"expects {channels} channel(s). Convert the images (grayscale or RGB) to match the model.")
