"""augment: fill weak slices.

Offline image augmentation with stored parameters, online (per-epoch) augmentation weighted
toward weak slices, the SMOTE family via imbalanced-learn, feature-space SMOTE and transfer
learning. Every new row carries its lineage.
"""

from diagnose._exceptions import CurakitError, DataError, LeakageError, ParameterError

from ._leakage import find_leaks
from ._lineage import LineageRow, lineage_frame, lineage_rows
from ._offline import AugmentedSet, offline
from ._pipeline import load_pipeline, replay

__version__ = "0.1.0"

__all__ = [
    "AugmentedSet",
    "CurakitError",
    "DataError",
    "LeakageError",
    "LineageRow",
    "ParameterError",
    "find_leaks",
    "lineage_frame",
    "lineage_rows",
    "load_pipeline",
    "offline",
    "replay",
]
