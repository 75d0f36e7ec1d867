"""curakit: the shared core of the three stages (``diagnose`` <- ``augment`` <- ``curate``).

Nothing here is stage-specific. The public modules:

* :mod:`curakit.exceptions` -- the one exception tree (re-exported by each stage);
* :mod:`curakit.records` -- JSON values and the ``schema_version`` check shared by every record;
* :mod:`curakit.validation` -- parameter and input checks with one-line messages;
* :mod:`curakit.seeds` -- one ``random_state`` spawning child seeds for numpy, torch, UMAP, ...;
* :mod:`curakit.io` -- atomic writes and table reading; :mod:`curakit.imageio` -- PNG files and
  image folders;
* :mod:`curakit.progress`, :mod:`curakit.optional` (heavy imports on first use),
  :mod:`curakit.plugins` (named registries), :mod:`curakit.html` (report pieces),
  :mod:`curakit.adapters` (calling a torch module or a scikit-learn estimator the same way).

The ``curakit`` command line (``curakit._cli``) sits on top of all three stages; the core
modules above import none of them. ``import curakit`` loads nothing heavy; ``curakit.validation``
(and the other public modules) import on first access.
"""

import importlib as _importlib

__version__ = "0.1.0"

__all__ = ["__version__"]

#: the public core modules, importable as attributes (``curakit.validation``) on first access
_MODULES = frozenset({
    "adapters", "dedup", "exceptions", "html", "imageio", "io", "modelfile", "optional", "plugins",
    "progress", "records", "seeds", "trust", "validation",
})


def __getattr__(name: str) -> object:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _MODULES)
