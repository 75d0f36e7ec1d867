"""augment: fill weak slices.

Offline image augmentation with stored parameters, online (per-epoch) augmentation weighted
toward weak slices, the SMOTE family via imbalanced-learn, feature-space SMOTE and transfer
learning. Every new row carries its lineage; generated rows that duplicate evaluation rows are
refused.

``import augment`` loads neither torch nor albumentations: they are imported by the functions
that need them. The imbalanced-learn samplers load on first use of their names.
"""

import importlib as _importlib

from curakit import __version__ as __version__
from curakit.exceptions import CurakitError, DataError, LeakageError, ParameterError

from ._leakage import find_leaks
from ._lineage import LINEAGE_COLUMNS, LineageRow, lineage_frame, lineage_rows
from ._offline import AugmentedSet, offline
from ._online import OnlineAugment
from ._pipeline import load_pipeline, replay
from ._transfer import transfer

__all__ = [
    "AugmentedSet",
    "CurakitError",
    "DataError",
    "LINEAGE_COLUMNS",
    "LeakageError",
    "LineageADASYN",
    "LineageBorderlineSMOTE",
    "LineageRandomOverSampler",
    "LineageRandomUnderSampler",
    "LineageRow",
    "LineageSMOTE",
    "LineageSMOTENC",
    "OVERSAMPLERS",
    "OnlineAugment",
    "ParameterError",
    "VAEGenerator",
    "feature_smote",
    "find_leaks",
    "fit_head",
    "generate",
    "lineage_frame",
    "lineage_rows",
    "load_pipeline",
    "offline",
    "oversample",
    "replay",
    "transfer",
]

# names whose modules import imbalanced-learn (a second or two): loaded on first access
_LAZY = {
    "OVERSAMPLERS": "._oversample",
    "LineageADASYN": "._oversample",
    "LineageBorderlineSMOTE": "._oversample",
    "LineageRandomOverSampler": "._oversample",
    "LineageRandomUnderSampler": "._oversample",
    "LineageSMOTE": "._oversample",
    "LineageSMOTENC": "._oversample",
    "oversample": "._oversample",
    "feature_smote": "._feature",
    "fit_head": "._feature",
    "generate": "._generate",
    "VAEGenerator": "._vae_generator",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
