"""Progress bars for long loops: ``tqdm.auto`` (notebook-aware), off when stderr is not a TTY,
when ``CURAKIT_PROGRESS=0``, or when the caller passes ``progress=False``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress", "progress_enabled"]

T = TypeVar("T")


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw a bar: an explicit bool wins, then ``CURAKIT_PROGRESS``, then TTY-ness."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("CURAKIT_PROGRESS")
    if env is not None:
        return env.strip().lower() not in {"0", "false", "no", "off", ""}
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(
    iterable: Iterable[T],
    *,
    desc: str | None = None,
    total: int | None = None,
    enabled: bool | None = None,
    unit: str = "it",
) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar when enabled; otherwise return it unchanged."""
    if not progress_enabled(enabled):
        return iter(iterable)
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # a widget bar in Jupyter, a text bar elsewhere
    else:
        from tqdm.std import tqdm  # without ipywidgets tqdm.auto only warns, then draws text anyway

    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True))
