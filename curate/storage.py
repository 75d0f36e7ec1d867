"""Object storage helpers for the command line: URL detection, storage errors, default storage options."""

from __future__ import annotations

from curate._dask.engine import default_storage_options
from curate._dask.objectstore import is_url, storage_errors

__all__ = ["default_storage_options", "is_url", "storage_errors"]
