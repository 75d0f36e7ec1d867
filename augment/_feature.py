"""Feature-space augmentation: SMOTE in a frozen backbone's embedding space, then a new head.

When a slice or class is too thin for its images to be augmented well, interpolate in the
feature space of the (frozen) model instead:

1. :func:`feature_smote` embeds the images with ``diagnose.embed`` (layer=None: the input of the
   model's last ``nn.Linear``, i.e. what the head sees) and oversamples the embeddings with
   :func:`augment.oversample` (any method, a selected slice, recorded parents);
2. :func:`fit_head` trains a new linear head on those features (full-batch Adam on cross-entropy,
   seeded) and, given the model, returns a copy of the model with that head in place.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import numbers
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.optional import import_optional
from curakit.validation import UNSET, renamed

from ._oversample import oversample

__all__ = ["feature_smote", "fit_head"]

logger = logging.getLogger(__name__)


def feature_smote(
    model: Any,
    images: Any,
    labels: Any,
    *,
    select: Any = None,
    layer: str | None = None,
    method: str = "smote",
    n: int | dict[Any, int] | None = None,
    k_neighbors: int = 5,
    random_state: int = 0,
    batch_size: int = 256,
    transform: Any = None,
    embeddings: Any = None,
    target: Any = UNSET,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Oversample in the embedding space of ``model`` (frozen: it is only run in eval mode).

    ``select`` chooses what to fill (a ``Slice``, mask, positions or ``{"classes": [...]}``; a cluster
    slice is re-applied on these embeddings; ``target`` is its deprecated old name, with a FutureWarning); ``layer`` is passed to ``diagnose.embed`` (None: the
    head's input). ``embeddings`` skips the forward pass when the features are already known.
    Returns ``(Z2, y2, prov)`` as :func:`augment.oversample` does: every input row, then the new
    ones, ``prov`` recording both parents and the interpolation factor of each new row.
    """
    select = renamed("feature_smote", "target", "select", target, select)
    if embeddings is None:
        from diagnose import embed

        Z = embed(model, images, layer=layer, batch_size=batch_size, transform=transform)
    else:
        Z = np.asarray(embeddings, dtype=np.float32)
        if Z.ndim != 2 or len(Z) != len(labels):
            raise DataError(
                f"embeddings must be shaped (n, d) with one row per label. Got shape {Z.shape} for {len(labels)} labels."
            )
    Z = np.asarray(Z, dtype=np.float64)
    select = _pin_slice(select, Z, np.asarray(labels))
    Z2, y2, prov = oversample(
        Z, labels, method=method, select=select, n=n, k_neighbors=k_neighbors, random_state=random_state, **options
    )
    prov = prov.copy()
    syn = (prov["origin"] == "synthetic").to_numpy()
    space = {"space": "embedding", "layer": layer}
    prov.loc[syn, "params"] = [json.dumps({**json.loads(t), **space}, sort_keys=True) for t in prov.loc[syn, "params"]]
    return np.asarray(Z2), np.asarray(y2), prov


def _pin_slice(select: Any, Z: np.ndarray, labels: np.ndarray) -> Any:
    """A Slice re-applied on these embeddings, kept as a Slice (same id) defined by row positions."""
    from diagnose import Slice

    from ._select import resolve_groups

    if not isinstance(select, Slice):
        return select
    (group,) = resolve_groups(select, len(Z), labels=labels, embeddings=Z, param="select", owner="feature_smote")
    return dataclasses.replace(select, indices=group.positions, n_analysed=len(Z), definition={"kind": "indices"})


def fit_head(
    Z: Any,
    y: Any,
    *,
    model: Any = None,
    num_classes: int | None = None,
    epochs: int = 300,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    random_state: int = 0,
    sample_weight: Any = None,
):
    """Train a linear head on features ``Z`` (float (n, d)) and labels ``y`` (ints in [0, num_classes)).

    Full-batch Adam on (weighted) cross-entropy for ``epochs`` steps, seeded by ``random_state``.
    Returns the ``nn.Linear``; with ``model`` (a module with a ``head`` child whose input is the
    features, e.g. ``SmallCNN`` or a :func:`augment.transfer` model) returns a copy of the model
    with the new head instead.
    """
    torch = import_optional("torch")
    Z = np.asarray(Z, dtype=np.float32)
    y = np.asarray(y)
    if Z.ndim != 2 or len(Z) != len(y):
        raise DataError(f"Z must be (n, d) with one label per row. Got shape {Z.shape} for {len(y)} labels.")
    if not np.isfinite(Z).all():
        raise DataError(f"Z contains NaN or inf (shape {Z.shape}). Remove those rows first.")
    if y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise DataError(f"y must hold class indices (non-negative ints). Got dtype {y.dtype}. Encode labels as 0..k-1 first.")
    k = int(num_classes) if num_classes is not None else int(y.max()) + 1
    if len(y) and y.max() >= k:
        raise DataError(f"y holds class {int(y.max())} but num_classes={k}. Pass num_classes > the largest label.")
    for name, value, lo in (("epochs", epochs, 1),):
        if not isinstance(value, numbers.Integral) or value < lo:
            raise ParameterError(f"The {name!r} parameter of fit_head must be an int >= {lo}. Got {value!r} instead.")
    if not isinstance(lr, numbers.Real) or lr <= 0:
        raise ParameterError(f"The 'lr' parameter of fit_head must be a float > 0. Got {lr!r} instead.")
    if model is not None:
        head_old = dict(model.named_children()).get("head")
        if head_old is None:
            raise ParameterError(
                f"fit_head(model=...) needs a model with a 'head' child; {type(model).__name__} has none. "
                "Call fit_head without model= and attach the returned layer yourself."
            )
    state = torch.random.get_rng_state()
    torch.manual_seed(int(random_state))
    try:
        head = torch.nn.Linear(Z.shape[1], k)
    finally:
        torch.random.set_rng_state(state)
    xb = torch.from_numpy(Z)
    yb = torch.from_numpy(y.astype(np.int64))
    w = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float32)
        if sw.shape != (len(y),):
            raise DataError(f"sample_weight has shape {sw.shape} for {len(y)} rows. Pass one weight per row.")
        w = torch.from_numpy(sw)
    opt = torch.optim.Adam(head.parameters(), lr=float(lr), weight_decay=float(weight_decay))
    for _ in range(int(epochs)):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(xb), yb, reduction="none")
        loss = (loss * w).sum() / w.sum() if w is not None else loss.mean()
        loss.backward()
        opt.step()
    logger.info("fit_head: %d rows, %d features, %d classes, final loss %.4f", len(y), Z.shape[1], k, float(loss.detach()))
    if model is None:
        return head
    out = copy.deepcopy(model)
    out.head = head
    return out
