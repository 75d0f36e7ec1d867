"""augment: fill weak slices.

Offline image augmentation with stored parameters, online (per-epoch) augmentation weighted
toward weak slices, the SMOTE family via imbalanced-learn, feature-space SMOTE and transfer
learning. Every new row carries its lineage; generated rows that duplicate evaluation rows are
refused.

``import augment`` is light: it loads neither torch nor albumentations, nor pandas,
scikit-learn or imbalanced-learn. Every public name except the exceptions and ``__version__``
loads its module on first access (PEP 562); ``from augment import offline`` works as usual.
"""

from curakit import __version__ as __version__
from curakit.exceptions import CurakitError, CurakitWarning, DataError, LeakageError, ParameterError
from curakit.optional import lazy_names as _lazy_names

__all__ = [
    "AugmentedSet",
    "CurakitError",
    "CurakitWarning",
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
    "default_pipeline",
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

#: public name -> the module defining it (imported on first access)
_LAZY = {
    "find_leaks": "._leakage",
    "LINEAGE_COLUMNS": "._lineage",
    "LineageRow": "._lineage",
    "lineage_frame": "._lineage",
    "lineage_rows": "._lineage",
    "AugmentedSet": "._offline",
    "offline": "._offline",
    "OnlineAugment": "._online",
    "load_pipeline": "._pipeline",
    "replay": "._pipeline",
    "transfer": "._transfer",
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
    "default_pipeline": "._default_pipeline",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())
