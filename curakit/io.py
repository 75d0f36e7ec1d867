"""Atomic outputs: a crash mid-write leaves the earlier file or folder intact.

Files are written to a temporary sibling and moved into place with ``os.replace``; folders are
built in a temporary sibling and swapped in (one atomic exchange on Linux), the old one removed
only after the swap. A folder is only ever replaced if curakit wrote it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "OUTPUT_MARKER",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_dir",
    "read_table",
    "recover_dir",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path``.

    Use for writers that want a file name (``df.to_parquet(tmp)``, ``fig.savefig(tmp)``).
    """
    path = Path(path)
    if path.is_dir():
        from .exceptions import DataError

        raise DataError(f"{str(path)!r} is a folder; a file would replace it. Pass a file path (e.g. {path.name}/report.html).")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


#: Written into every folder :func:`atomic_dir` creates; only such folders (or empty ones) are replaced.
OUTPUT_MARKER = ".curakit-output"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dir(path: str | os.PathLike) -> None:
    """Undo what a killed :func:`atomic_dir` left beside ``path``: restore the earlier folder if the
    kill came between the two renames of the fallback swap, and remove dead runs' temporaries."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for leftover in sorted(path.parent.glob(f".{path.name}.*-*")):
        kind, _, rest = leftover.name[len(path.name) + 2:].partition("-")
        pid = rest.split("-")[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not path.exists():
            os.replace(leftover, path)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def check_output_dir(path: str | os.PathLike, what: str = "Output folder") -> Path:
    """Refuse to replace anything but a missing path, an empty folder or a curakit output folder."""
    from .exceptions import DataError

    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DataError(f"{what} {str(path)!r} is a file, not a folder. Choose a folder path.")
    if path.is_dir() and not (path / OUTPUT_MARKER).exists() and any(path.iterdir()):
        raise DataError(
            f"{what} {str(path)!r} already holds files that curakit did not write (no {OUTPUT_MARKER}); "
            "it would be replaced. Choose a new or empty folder."
        )
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces the folder ``path`` in one step.

    If the body raises, the temporary folder is removed and ``path`` is untouched. ``path`` must
    be missing, empty or an earlier curakit output (:func:`check_output_dir`); a user's own folder
    is never replaced. On Linux the swap is one ``renameat2`` exchange; elsewhere a kill between
    the two renames is undone by :func:`recover_dir` on the next write or load.
    """
    path = Path(path)
    recover_dir(path)
    check_output_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        yield tmp
        (tmp / OUTPUT_MARKER).write_text("written by curakit; the folder is replaced whole on the next run\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual permissions
    _swap_in(tmp, path)


def _swap_in(tmp: Path, path: Path) -> None:
    if path.exists() and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the earlier folder
        return
    backup = None
    if path.exists():
        backup = path.parent / f".{path.name}.old-{os.getpid()}"
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        if backup is not None:
            os.replace(backup, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def read_table(path: str | os.PathLike, what: str = "Table"):
    """A Parquet (``.parquet``/``.pq``) or CSV (``.csv``/``.txt``) file as a DataFrame.

    A missing file raises ``FileNotFoundError``; another extension or an unreadable Parquet
    file raises a one-line :class:`DataError` naming ``what`` (e.g. ``"--old"``) and the fix.
    """
    import pandas as pd

    from .exceptions import DataError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(p)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise DataError(f"{what} file {p.name!r} cannot be read as Parquet ({type(exc).__name__}). Check the file.") from None
        return _checked_table(frame, p, what)
    if suffix in (".csv", ".txt"):
        return _read_csv(p, what)
    raise DataError(f"{what} file {p.name!r} has an unsupported extension {suffix!r}. Use .parquet, .pq or .csv.")


def _read_csv(p: Path, what: str):
    import pandas as pd

    from .exceptions import DataError

    try:
        frame = pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise DataError(f"{what} file {p.name!r} is empty (no header row). Write a CSV with a header of column names.") from None
    except pd.errors.ParserError as exc:
        where = str(exc).splitlines()[0].split(": ", 1)[-1][:80] if str(exc) else ""
        raise DataError(f"{what} file {p.name!r} is not a well-formed CSV ({where}). Check its delimiters and quoting.") from None
    except UnicodeDecodeError:
        raise DataError(f"{what} file {p.name!r} is not UTF-8 text. Save the CSV as UTF-8, or pass a Parquet file.") from None
    return _checked_table(frame, p, what)


def _checked_table(frame, p: Path, what: str):
    """A table with at least one column and unique column names (pandas renames repeated CSV
    headers to ``a.1``; Parquet keeps them, and ``frame[name]`` would then be a table)."""
    from .exceptions import DataError

    if frame.shape[1] == 0:
        raise DataError(f"{what} file {p.name!r} has no columns. Write a table with a header of column names.")
    if not frame.columns.is_unique:
        dup = next(str(c) for c, d in zip(frame.columns, frame.columns.duplicated()) if d)
        raise DataError(f"{what} file {p.name!r} repeats the column name {dup!r}. Give every column its own name.")
    return frame
