"""Heavy and optional dependencies, imported only inside the functions that need them.

``import diagnose`` / ``augment`` / ``curate`` never import torch, torchvision, umap, shap,
albumentations or matplotlib; every such import goes through :func:`import_optional`,
whose error names the extra to install.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = ["import_optional", "lazy_names"]

# module -> (pip extra of curakit, distribution name)
_EXTRAS = {
    "torch": ("vision", "torch"),
    "torchvision": ("vision", "torchvision"),
    "albumentations": ("vision", "albumentations"),
    "pytorch_grad_cam": ("vision", "grad-cam"),
    "cv2": ("vision", "opencv-python-headless"),
    "umap": ("umap", "umap-learn"),
    "shap": ("shap", "shap"),
    "matplotlib": ("", "matplotlib"),
    "mlflow": ("", "mlflow"),
    "dask": ("dask", "dask[dataframe]"),
    "distributed": ("dask", "distributed"),
}


def import_optional(name: str) -> ModuleType:
    """Import ``name`` (a module path such as ``"matplotlib.pyplot"``) or raise a clear error."""
    top = name.split(".", 1)[0]
    if top == "albumentations":
        # albumentations pings the network on every import unless told not to.
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if top == "matplotlib":
        os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra, dist = _EXTRAS.get(top, ("", top))
        how = f"pip install 'curakit[{extra}]'" if extra else f"pip install {dist}"
        raise MissingDependencyError(
            f"{name!r} is needed for this step but could not be imported ({exc}). Install it with: {how}."
        ) from exc


def lazy_names(package: str, table: dict[str, str], namespace: dict, *, before=None):
    """PEP 562 ``__getattr__`` and ``__dir__`` for a package whose public names load on first use.

    ``table`` maps each public name to the module that defines it, relative to ``package``
    (``{"find_slices": "._find"}``); a loaded name is cached in ``namespace`` (the package's
    ``globals()``), so the module is imported once. ``before`` runs before the first name is
    returned (diagnose registers its built-in diagnosers there).
    """

    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if before is not None:
            before()
        value = getattr(importlib.import_module(table[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
