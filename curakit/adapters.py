"""Calling a model the same way whatever it is: a torch ``nn.Module`` or a scikit-learn
estimator. Images reach a torch model as float32 (n, C, H, W) in [0, 1] unless the caller
passes ``transform=`` (a callable from a uint8 batch to the model's input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .exceptions import DataError, ParameterError
from .optional import import_optional

__all__ = ["images_to_tensor", "is_torch_model", "predict_proba", "resolve_layer"]


def is_torch_model(model: Any) -> bool:
    """True for a torch ``nn.Module`` (checked without importing torch when it is not loaded)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def images_to_tensor(batch: np.ndarray, transform: Callable | None = None):
    """uint8 (n, H, W, C) -> float32 tensor (n, C, H, W) in [0, 1], or ``transform(batch)``."""
    torch = import_optional("torch")
    if transform is not None:
        out = transform(batch)
        return out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
    arr = np.asarray(batch)
    if arr.dtype != np.uint8:
        raise DataError(
            f"Images for a torch model must be uint8 shaped (n, H, W, C). Got dtype {arr.dtype}. "
            "Pass transform= to feed another input format."
        )
    if arr.ndim == 3:
        arr = arr[..., None]
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    return x.to(torch.float32).div_(255.0)


def resolve_layer(model: Any, layer: str):
    """The submodule named ``layer`` as in ``model.named_modules()``; did-you-mean otherwise."""
    modules = dict(model.named_modules())
    if layer not in modules:
        from .plugins import did_you_mean

        names = [n for n in modules if n]
        raise ParameterError(
            f"Layer {layer!r} is not in the model.{did_you_mean(layer, names)} "
            f"Layers are named as in model.named_modules(): {', '.join(names[:12])}"
            + (", ..." if len(names) > 12 else "")
            + "."
        )
    return modules[layer]


def predict_proba(
    model: Any,
    X: Any,
    *,
    transform: Callable | None = None,
    batch_size: int = 256,
    device: str | None = None,
) -> np.ndarray:
    """Class probabilities (n, k) from a torch module (softmax of its logits) or an estimator.

    A torch model is put in eval mode for the call and restored afterwards.
    """
    if is_torch_model(model):
        torch = import_optional("torch")
        was_training = model.training
        model.eval()
        dev = torch.device(device) if device else next(
            (p.device for p in model.parameters()), torch.device("cpu")
        )
        outs = []
        try:
            with torch.no_grad():
                for start in range(0, len(X), batch_size):
                    xb = images_to_tensor(X[start : start + batch_size], transform).to(dev)
                    outs.append(torch.softmax(model(xb), dim=1).cpu().numpy())
        finally:
            model.train(was_training)
        if not outs:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(outs).astype(np.float64)
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    raise ParameterError(
        f"{type(model).__name__} has no predict_proba. Pass a torch nn.Module or a classifier with "
        "predict_proba (for example wrap an SVC with probability=True)."
    )
