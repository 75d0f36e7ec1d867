"""``--out`` / ``--force`` for the commands that write a result folder (augment, build, retrain).

The rule (issue 9, the same as ``curakit diagnose --out/--force``):

* ``--out`` may be new, an empty folder, or a folder curakit wrote before (its marker file
  ``.curakit-output``): that folder is replaced whole, in one atomic swap, at the end;
* a file is never replaced (a one-line error), with or without ``--force``;
* a non-empty folder curakit did not write is refused before any work, unless ``--force``: then
  the result is written beside it first and only curakit's own entries (its file and folder
  names) are moved into it, each in one rename; the user's other files stay, and no marker is
  added (the folder stays the user's: the next run needs ``--force`` again).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["check_apart", "check_out", "file_above", "publish", "publish_folder", "user_folder"]


def _is_curakit(out: Path) -> bool:
    from curakit.io import OUTPUT_MARKER

    return (out / OUTPUT_MARKER).exists()  # only the marker: a user's folder may well hold images/ and run.json


def user_folder(out: Path) -> bool:
    """True when ``out`` is a non-empty folder curakit did not write."""
    return out.is_dir() and not out.is_symlink() and not _is_curakit(out) and any(out.iterdir())


def file_above(path: str | os.PathLike) -> Path | None:
    """The first folder of ``path`` (its parents, nearest first) that exists and is a file, if any:
    nothing can be written under it (``afile/sub``)."""
    for parent in Path(path).parents:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def check_out(out: str | os.PathLike, force: bool, flag: str = "--out") -> Path:
    """Before any work: refuse a file, a path under a file, a symlink, or (without ``force``) a
    user's non-empty folder."""
    from curakit.exceptions import DataError

    out = Path(out)
    blocker = file_above(out)
    if blocker is not None:
        raise DataError(f"{flag} {str(out)!r} lies under {str(blocker)!r}, which is a file, not a folder. "
                        "Choose a path under a folder.")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DataError(f"{flag} {str(out)!r} is a file, not a folder. Choose a folder path (a file is never replaced).")
    if user_folder(out) and not force:
        raise DataError(
            f"{flag} {str(out)!r} already holds files that curakit did not write; it would be replaced. Choose a new "
            "or empty folder, or pass --force to write only curakit's files into it."
        )
    return out


def check_apart(out: str | os.PathLike, inputs: dict[str, object], flag: str = "--out", force: bool = False) -> None:
    """Before any work: ``out`` must not be, hold or lie inside one of the ``inputs`` (``{flag: path}``,
    None skipped): replacing ``out`` would destroy that input (``curakit retrain ts --out ts``), and an
    output inside an input folder would become part of that input (a new class folder of images).
    With ``force`` (only curakit's own entries are written into ``out``) an input inside ``out`` is
    allowed (``--out . --force`` beside the input files)."""
    from curakit.exceptions import DataError

    target = Path(out).resolve()
    for what, path in inputs.items():
        if not path:
            continue
        src = Path(str(path))
        if not src.exists() and "@" in str(path):
            src = Path(str(path).rpartition("@")[0])  # REG@v3 -> the registry folder
        src = src.resolve()
        inside_out = src.is_relative_to(target) and not force
        if target == src or inside_out or (src.is_dir() and target.is_relative_to(src)):
            raise DataError(f"{flag} {str(out)!r} overlaps the input {what} {str(path)!r}; writing it would replace or "
                            f"change that input. Choose an output folder outside the inputs.")


def _stage(out: Path) -> Path:
    stage = out.parent / f".{out.name}.force-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    return stage


def publish_folder(stage: Path, out: Path) -> None:
    """Move every entry of the finished folder ``stage`` into the user's folder ``out`` (``--force``):
    each entry replaces the one of the same name in one rename; the marker is not moved."""
    from curakit.io import OUTPUT_MARKER

    for entry in sorted(stage.iterdir()):
        if entry.name == OUTPUT_MARKER:
            continue
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            old = out / f".{entry.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(entry, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(entry, target)
    shutil.rmtree(stage, ignore_errors=True)


def publish(out: str | os.PathLike, force: bool, write: Callable[[Path], object]) -> Path:
    """Write the result with ``write(path)`` (which writes a whole folder at ``path`` atomically, as
    ``TrainingSet.save`` does) at ``out``, or, for a user's folder under ``--force``, beside it and
    then into it (:func:`publish_folder`)."""
    out = check_out(out, force)
    if not user_folder(out):
        write(out)
        return out
    stage = _stage(out)
    try:
        write(stage)
        publish_folder(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
