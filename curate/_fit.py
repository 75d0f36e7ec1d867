"""``curate.fit``: train a model from nothing on (X, y), the way every strategy trains.

For the first model of a project (the incumbent), before there is an old and a new data set:
the same compact torch trainer the strategies use (seeded, early stopping on a held-out share),
or ``fit`` of a scikit-learn estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curakit.adapters import is_torch_model, num_outputs
from curakit.exceptions import DataError, ParameterError
from curakit.seeds import check_random_state, child_seed
from curakit.validation import UNSET, check_images, check_interval, check_labels, model_input_channels, renamed

from ._trainer import TrainConfig, fit_torch, sk_fit

__all__ = ["fit"]


def fit(
    model: Any,
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    validation: float = 0.1,
    patience: int | None = 3,
    sample_weight: Any = None,
    transform: Any = None,
    random_state: int = 0,
    progress: bool | None = None,
    progress_bar: Any = UNSET,
) -> tuple[Any, list[dict[str, Any]]]:
    """Train ``model`` in place on ``X``, ``y``; returns ``(model, history)``.

    Torch ``nn.Module``: images uint8 (n, H, W, C) or a float matrix; a seeded ``validation``
    share of the rows drives early stopping (``patience`` epochs), and the best epoch's weights
    are kept. scikit-learn estimator: ``model.fit(X, y)`` (the torch-only options are ignored).
    ``history`` has one entry per epoch (loss, accuracy, validation loss and accuracy, seconds).
    ``progress=`` draws a progress bar (None: automatic; ``progress_bar=`` is the old name).
    """
    progress = renamed("fit", "progress_bar", "progress", progress_bar, progress)
    y = check_labels(y, "labels", "fit")  # a string, NaN or None labels, mixed kinds: one line each
    if len(X) != len(y):
        raise ParameterError(f"X and y differ in length ({len(X)} vs {len(y)}). Pass one label per row.")
    if not is_torch_model(model):
        if not callable(getattr(model, "fit", None)):
            raise ParameterError(
                f"The 'model' parameter of fit must be a torch nn.Module or a scikit-learn estimator. "
                f"Got {type(model).__name__} instead."
            )
        return model, sk_fit(model, X, y, sample_weight=None if sample_weight is None else np.asarray(sample_weight))
    check_interval(validation, "validation", "fit", low=0.0, high=0.5)
    _check_torch_inputs(model, X, y, transform)
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                         patience=patience, progress=progress)
    order = check_random_state(child_seed(random_state, "fit", "split")).permutation(len(y))
    n_val = int(round(len(y) * validation))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[train]
    history = fit_torch(
        model, X[train], y[train], config=config, seed=child_seed(random_state, "fit", "train"),
        sample_weight=w, X_val=X[val] if n_val else None, y_val=y[val] if n_val else None,
        transform=transform, desc="fit",
    )
    return model, history


def _check_torch_inputs(model: Any, X: Any, y: np.ndarray, transform: Any) -> None:
    """Images whose channels the model's first convolution takes, and labels that are output indices."""
    if transform is None and isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 4:
        check_images(X, "images", channels=model_input_channels(model))
    if y.dtype.kind not in "iu" or not len(y):
        return
    k = num_outputs(model, X[:1], transform)
    if int(y.min()) < 0 or int(y.max()) >= k:
        raise DataError(
            f"labels hold class indices outside 0..{k - 1} but the model has {k} outputs. Encode them as 0..{k - 1} "
            "or build the model with more outputs."
        )
