"""Embeddings for cluster slices.

* :func:`embed` runs a torch model over images and returns the activations of one layer
  (a forward hook on the layer named as in ``model.named_modules()``; ``layer=None`` takes the
  *input* of the model's last ``nn.Linear``, i.e. the penultimate features). The model runs in
  eval mode under ``no_grad`` and its mode is restored afterwards.
* :class:`FeatureEmbedder` turns a table into an embedding for :func:`diagnose.find_slices`
  when ``features`` is given but ``embeddings`` is not: numeric columns standardised (mean 0,
  standard deviation 1, fitted on the analysed rows), categorical columns (object, string,
  category, bool) one-hot encoded with each indicator scaled by ``1/sqrt(2)`` so that two
  different categories are at distance 1, like one standard deviation. Missing categories are a
  category of their own; missing numeric values raise (impute them, or pass ``embeddings=``).
  The same fitted embedder maps training rows and new rows, so centroid slices found on
  tabular data are re-applied with ``slice.contains(embeddings=d.embed_features(new_rows))``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.adapters import hooks_unsupported, images_to_tensor, is_torch_model, resolve_layer, set_training
from curakit.exceptions import DataError, NotFittedError, ParameterError
from curakit.optional import import_optional
from curakit.progress import progress as progress_bar_iter
from curakit.validation import UNSET, check_columns, renamed

__all__ = ["FeatureEmbedder", "embed", "load_images"]

logger = logging.getLogger(__name__)


class _Captured(Exception):
    """Raised inside the hook to stop the forward pass once the layer has run."""


def load_images(paths: Sequence[Any]) -> np.ndarray:
    """Read image files (same size) into uint8 (n, H, W, C)."""
    from PIL import Image

    arrays = []
    for p in paths:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L") if im.mode in ("L", "1", "I", "I;16") else im.convert("RGB"))
        if arr.ndim == 2:
            arr = arr[..., None]
        arrays.append(arr.astype(np.uint8, copy=False))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"Image files differ in size ({len(shapes)} different shapes). Resize them to one size first."
        )
    if not arrays:
        raise DataError("embed got 0 images. Pass at least one image.")
    return np.stack(arrays)


def _last_linear_name(model: Any) -> str:
    torch = import_optional("torch")
    names = [name for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)]
    if not names:
        raise ParameterError(
            f"{type(model).__name__} has no nn.Linear layer, so layer=None (the input of the last "
            "nn.Linear) is undefined. Pass layer= with a name from model.named_modules()."
        )
    return names[-1]


def model_in_channels(model: Any) -> int | None:
    """Input channels of the model's first convolution (None when it has none; TorchScript too)."""
    from curakit.validation import model_input_channels

    return model_input_channels(model)


def _output_layer(model: Any, layer: str | None) -> bool:
    """True when ``embed`` must take the model's outputs: a TorchScript or ``torch.export`` module takes no
    forward hooks, so no inner layer can be read (``layer=`` on one is an error naming the fix)."""
    if not hooks_unsupported(model):
        return False
    kind = "TorchScript" if "ScriptModule" in type(model).__name__ else "torch.export"
    if layer is not None:
        raise ParameterError(
            f"A {kind} model takes no forward hooks, so layer {layer!r} cannot be read. Pass layer=None (its outputs "
            "are embedded), or load the model from its state dict with its class to embed an inner layer."
        )
    logger.warning("%s model: its layers take no forward hooks, so its outputs (logits) are embedded instead of "
                   "the input of its last Linear; for the penultimate features load it from its state dict and class",
                   kind)
    return True


def _check_embed_params(model: Any, images: Any, batch_size: Any, transform: Callable | None) -> Any:
    """Validate embed's arguments; return the images (loaded from paths, checked unless a transform is given)."""
    if not is_torch_model(model):
        raise ParameterError(
            f"embed needs a torch nn.Module. Got {type(model).__name__} instead. For tabular models, "
            "pass features= to find_slices (they are embedded with FeatureEmbedder)."
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ParameterError(f"The 'batch_size' parameter of embed must be an int >= 1. Got {batch_size!r} instead.")
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, os.PathLike)):
        images = load_images(images)
    if transform is None:
        from curakit.validation import check_images

        # the default transform feeds the channels as they are: they must match the first conv layer
        images = check_images(images, channels=model_in_channels(model))
    if len(images) == 0:
        raise DataError("embed got 0 images. Pass at least one image.")
    return images


def _capture_hook(module: Any, captured: list[Any], *, layer_input: bool) -> Any:
    """Register a hook that stores the module's input (``layer_input``) or output in ``captured``
    and stops the forward pass; return its handle."""
    if layer_input:

        def hook(_mod, args):
            captured.append(args[0].detach())
            raise _Captured

        return module.register_forward_pre_hook(hook)

    def hook_out(_mod, _args, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        captured.append(out.detach())
        raise _Captured

    return module.register_forward_hook(hook_out)


def embed(
    model: Any,
    images: Any,
    *,
    layer: str | None = None,
    batch_size: int = 256,
    transform: Callable | None = None,
    device: str | None = None,
    progress: bool | None = None,
    progress_bar: Any = UNSET,
) -> np.ndarray:
    """Activations of one layer of a torch model for each image, as float32 (n, d).

    Parameters
    ----------
    model : a torch ``nn.Module``.
    images : uint8 array (n, H, W, C), or a list of image file paths (same size).
    layer : a name from ``model.named_modules()`` (its *output* is taken, flattened per row);
        ``None`` takes the *input* of the last ``nn.Linear`` (penultimate features).
    batch_size : rows per forward pass.
    transform : callable from a uint8 batch to the model's input (default: float [0, 1], NCHW;
        the images' channels must then match the model's first ``Conv2d``, else a ``DataError``
        names the conversion).
    progress : draw a progress bar (None: automatic; ``progress_bar=`` is the old name, deprecated).
    """
    show = renamed("embed", "progress_bar", "progress", progress_bar, progress)
    images = _check_embed_params(model, images, batch_size, transform)
    n = len(images)
    torch = import_optional("torch")
    outputs = _output_layer(model, layer)
    name = "<outputs>" if outputs else _last_linear_name(model) if layer is None else layer
    captured: list[Any] = []
    handle = None if outputs else _capture_hook(resolve_layer(model, name), captured, layer_input=layer is None)
    was_training = model.training
    set_training(model, False)
    dev = torch.device(device) if device else next((p.device for p in model.parameters()), torch.device("cpu"))
    chunks = []
    starts = range(0, n, batch_size)
    try:
        with torch.no_grad():
            for start in progress_bar_iter(starts, desc="embed", total=len(starts), enabled=show, unit="batch"):
                xb = images_to_tensor(images[start : start + batch_size], transform).to(dev)
                captured.clear()
                try:
                    out = model(xb)
                    if outputs:
                        captured.append(out.detach())
                except _Captured:
                    pass
                except RuntimeError as exc:  # a shape the model's layers cannot take
                    shape = tuple(getattr(images, "shape", (n,))[1:])
                    raise DataError(f"The model cannot run on images shaped {shape} "
                                    f"({str(exc).splitlines()[0][:160]}). Pass images of the size and channels "
                                    "it was trained on.") from None
                if not captured:
                    raise ParameterError(
                        f"Layer {name!r} did not run during the forward pass. Pick a layer that the "
                        "model's forward() calls."
                    )
                chunks.append(captured[0].reshape(captured[0].shape[0], -1).float().cpu().numpy())
    finally:
        if handle is not None:
            handle.remove()
        set_training(model, was_training)
    out = np.concatenate(chunks).astype(np.float32, copy=False)
    logger.info("embedded %d images from layer %r into %d dims", n, name, out.shape[1])
    return out


_MISSING = "__missing__"


@dataclass(kw_only=True)
class FeatureEmbedder:
    """Numeric columns standardised, categorical columns one-hot (see the module docstring).

    ``fit(features)`` learns columns, means, scales and categories; ``transform(features)``
    returns float64 (n, d). ``to_dict`` / ``from_dict`` keep the fitted state as JSON.
    """

    numeric_: list[str] = field(default_factory=list)
    means_: list[float] = field(default_factory=list)
    scales_: list[float] = field(default_factory=list)
    categorical_: dict[str, list[Any]] = field(default_factory=dict)
    fitted_: bool = False

    @staticmethod
    def _is_categorical(series: pd.Series) -> bool:
        return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))

    @staticmethod
    def _cat_values(series: pd.Series) -> np.ndarray:
        vals = series.astype(object).where(series.notna(), _MISSING)
        return np.asarray([str(v) for v in vals], dtype=object)

    def fit(self, features: pd.DataFrame) -> FeatureEmbedder:
        if not isinstance(features, pd.DataFrame):
            raise DataError(f"features must be a pandas DataFrame. Got {type(features).__name__} instead.")
        check_columns(features, "features")
        if features.shape[1] == 0:
            raise DataError("features has no columns. Pass at least one feature column, or embeddings=.")
        self.numeric_, self.means_, self.scales_, self.categorical_ = [], [], [], {}
        for col in features.columns:
            s = features[col]
            if self._is_categorical(s):
                self.categorical_[str(col)] = sorted(set(self._cat_values(s).tolist()))
            else:
                x = s.to_numpy(dtype=np.float64)
                self._check_numeric(x, col)
                std = float(x.std())
                self.numeric_.append(str(col))
                self.means_.append(float(x.mean()))
                self.scales_.append(std if std > 0 and math.isfinite(std) else 1.0)
        self.fitted_ = True
        return self

    @staticmethod
    def _check_numeric(x: np.ndarray, col: Any) -> None:
        if not np.isfinite(x).all():
            raise DataError(
                f"Feature column {str(col)!r} has {int((~np.isfinite(x)).sum())} NaN or inf value(s), so it cannot "
                "be embedded for cluster slices. Impute it first, or pass embeddings=."
            )

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        if not self.fitted_:
            raise NotFittedError("This FeatureEmbedder is not fitted yet. Call fit(features) first.")
        if not isinstance(features, pd.DataFrame):
            raise DataError(f"features must be a pandas DataFrame. Got {type(features).__name__} instead.")
        check_columns(features, "features")
        cols = {str(c): c for c in features.columns}
        missing = [c for c in [*self.numeric_, *self.categorical_] if c not in cols]
        if missing:
            raise DataError(
                f"features lack {len(missing)} column(s) the embedding was fitted on (first: {missing[0]!r}). "
                "Pass the same columns as the analysed rows."
            )
        parts = []
        if self.numeric_:
            x = np.column_stack([features[cols[c]].to_numpy(dtype=np.float64) for c in self.numeric_])
            for j, c in enumerate(self.numeric_):
                self._check_numeric(x[:, j], c)
            parts.append((x - np.asarray(self.means_)) / np.asarray(self.scales_))
        inv = 1.0 / math.sqrt(2.0)
        for c, cats in self.categorical_.items():
            vals = self._cat_values(features[cols[c]])
            parts.append((vals[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(np.float64) * inv)
        return np.hstack(parts) if parts else np.zeros((len(features), 0))

    def fit_transform(self, features: pd.DataFrame) -> np.ndarray:
        return self.fit(features).transform(features)

    @property
    def n_dims(self) -> int:
        return len(self.numeric_) + sum(len(v) for v in self.categorical_.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric_),
            "means": list(self.means_),
            "scales": list(self.scales_),
            "categorical": {k: list(v) for k, v in self.categorical_.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEmbedder:
        from curakit.records import check_keys

        fix = "Re-fit it with FeatureEmbedder().fit(features)."
        check_keys(data, "FeatureEmbedder", ("numeric", "means", "scales", "categorical"), fix=fix)
        numeric, means, scales = data["numeric"], data["means"], data["scales"]
        if not (isinstance(numeric, list) and isinstance(means, list) and isinstance(scales, list)
                and len(numeric) == len(means) == len(scales) and isinstance(data["categorical"], Mapping)):
            raise DataError(f"FeatureEmbedder record has lists of different lengths or wrong types. {fix}")
        return cls(
            numeric_=list(data["numeric"]),
            means_=[float(v) for v in data["means"]],
            scales_=[float(v) for v in data["scales"]],
            categorical_={k: list(v) for k, v in data["categorical"].items()},
            fitted_=True,
        )
