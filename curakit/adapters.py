"""Calling a model the same way whatever it is: a torch ``nn.Module`` or a scikit-learn
estimator. Images reach a torch model as float32 (n, C, H, W) in [0, 1] unless the caller
passes ``transform=`` (a callable from a uint8 batch to the model's input)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

from .exceptions import DataError, ParameterError
from .optional import import_optional

__all__ = [
    "eval_mode",
    "hooks_unsupported",
    "images_to_tensor",
    "is_torch_model",
    "model_input",
    "num_outputs",
    "predict_proba",
    "resolve_layer",
    "set_training",
    "take_rows",
]


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


def set_training(model: Any, mode: bool) -> None:
    """``model.train(mode)``; a module loaded from a ``torch.export`` program refuses ``train()`` /
    ``eval()`` (NotImplementedError) and keeps the mode it was exported in (its graph is fixed)."""
    try:
        model.train(mode)
    except NotImplementedError:
        pass


def hooks_unsupported(model: Any) -> bool:
    """True for modules whose layers cannot take forward hooks: TorchScript (``torch.jit``) modules, and
    modules loaded from a ``torch.export`` program (one flat graph: its sub-modules hold weights only)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return False
    if isinstance(model, torch.jit.ScriptModule):
        return True
    fx = sys.modules.get("torch.fx")
    return fx is not None and isinstance(model, fx.GraphModule) and not any(
        isinstance(m, torch.nn.Linear) for m in model.modules())


@contextmanager
def eval_mode(model: Any):
    """Run a torch module in eval mode without gradients; its train/eval mode is restored after."""
    torch = import_optional("torch")
    was_training = model.training
    set_training(model, False)
    try:
        with torch.no_grad():
            yield model
    finally:
        set_training(model, was_training)


def take_rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or a DataFrame (by position)."""
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def model_input(batch: Any, transform: Callable | None = None):
    """A batch as a torch model's input: images (uint8 (n, H, W[, C])) via :func:`images_to_tensor`
    (or ``transform``), anything else (a feature matrix or DataFrame) as a float32 matrix."""
    torch = import_optional("torch")
    if transform is not None:
        return images_to_tensor(batch, transform)
    arr = batch.to_numpy() if hasattr(batch, "to_numpy") else np.asarray(batch)
    if arr.dtype == np.uint8 and arr.ndim in (3, 4):
        return images_to_tensor(arr)
    return torch.as_tensor(np.ascontiguousarray(arr, dtype=np.float32))


def num_outputs(model: Any, X: Any = None, transform: Callable | None = None) -> int:
    """Number of logits a torch classifier produces: one forward pass on the first row of ``X``;
    with no rows, the ``out_features`` of its last layer that has one."""
    if X is None or len(X) == 0:
        widths = [m.out_features for m in model.modules() if isinstance(getattr(m, "out_features", None), int)]
        if not widths:
            raise DataError(
                "Cannot tell how many classes the torch model predicts from an empty input and no "
                "layer with out_features. Pass at least one row."
            )
        return int(widths[-1])
    with eval_mode(model):
        out = model(model_input(take_rows(X, np.arange(1)), transform))
    if out.ndim != 2:
        raise DataError(
            f"A torch classifier must return logits shaped (n, n_classes). Got output of shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


def _torch_proba(model: Any, X: Any, transform: Callable | None, batch_size: int, device: str | None) -> np.ndarray:
    torch = import_optional("torch")
    if transform is None and isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 4:
        from .validation import check_images, model_input_channels

        check_images(X, "images", channels=model_input_channels(model))  # RGB into a 1-channel model, ...
    if len(X) == 0:
        return np.zeros((0, num_outputs(model)), dtype=np.float64)
    dev = torch.device(device) if device else next((p.device for p in model.parameters()), torch.device("cpu"))
    outs = []
    with eval_mode(model):
        for start in range(0, len(X), batch_size):
            xb = model_input(take_rows(X, np.arange(start, min(start + batch_size, len(X)))), transform)
            try:
                logits = model(xb.to(dev))
            except RuntimeError as exc:  # images of another size than trained on, wrong feature count, ...
                raise DataError(
                    f"The model cannot run on inputs shaped {tuple(np.shape(X)[1:])} ({str(exc).splitlines()[0][:160]}). "
                    "Pass inputs of the size and channels it was trained on."
                ) from None
            outs.append(torch.softmax(logits, dim=1).double().cpu().numpy())
    return np.concatenate(outs)


def predict_proba(
    model: Any,
    X: Any,
    *,
    transform: Callable | None = None,
    batch_size: int = 256,
    device: str | None = None,
) -> np.ndarray:
    """Class probabilities (n, k) float64 from a torch module (softmax of its logits) or an estimator.

    ``X`` is images (uint8 (n, H, W[, C])), a feature matrix or a DataFrame. A torch model is put
    in eval mode for the call and restored afterwards; an empty ``X`` gives a (0, k) array.
    """
    if is_torch_model(model):
        return _torch_proba(model, X, transform, batch_size, device)
    if hasattr(model, "predict_proba"):
        from .validation import check_fitted

        check_fitted(model, "predict_proba")  # an unfitted estimator: one line, not scikit-learn's NotFittedError
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    raise ParameterError(
        f"{type(model).__name__} has no predict_proba. Pass a torch nn.Module or a classifier with "
        "predict_proba (for example wrap an SVC with probability=True)."
    )
