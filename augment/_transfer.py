"""Transfer learning: a backbone with a new head, frozen where asked, never downloading anything.

:func:`transfer` returns a :class:`TransferModel`-like ``nn.Module`` with two children,
``backbone`` (input -> feature vector) and ``head`` (feature vector -> ``num_classes`` logits),
so ``diagnose.embed(model, images)`` (layer=None: the input of the last ``nn.Linear``, which is
the head) and ``diagnose.embed(model, images, layer="backbone")`` both give the backbone's
features.

Splitting a model into backbone and head:

* a module with ``backbone`` and ``head`` children (``curate.models.SmallCNN``, an earlier
  :func:`transfer` result) is split along them;
* any other module (every torchvision classifier) is split at its last ``nn.Linear``, which must
  be the last layer the module registers (its final operation): the backbone is the module with
  that layer replaced by ``nn.Identity``.

Grayscale into an RGB backbone: pass ``in_channels=1``; the first convolution is rebuilt for one
channel with its weights summed over the input channels (the same response to a gray image as the
RGB model gives to that image repeated over three channels). Without it, a channel mismatch
raises a clear error at the first forward pass.

Frozen layers stay in eval mode while the model trains (batch-norm statistics do not move), and
their parameters have ``requires_grad=False``.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curakit.exceptions import DataError, ParameterError, UnknownNameError
from curakit.optional import import_optional
from curakit.plugins import did_you_mean
from curakit.validation import check_interval

__all__ = ["transfer"]

logger = logging.getLogger(__name__)

_MODEL_CLASS: type | None = None


def _torch():
    return import_optional("torch")


def _model_class() -> type:
    """``TransferModel(nn.Module)``: built on first use so that ``import augment`` stays torch-free."""
    global _MODEL_CLASS
    if _MODEL_CLASS is not None:
        return _MODEL_CLASS
    torch = _torch()
    nn = torch.nn

    class TransferModel(nn.Module):
        """``head(backbone(x))`` with some modules frozen (see :mod:`augment._transfer`)."""

        def __init__(self, backbone: nn.Module, head: nn.Module, frozen: Sequence[str] = (), in_channels: int | None = None):
            super().__init__()
            self.backbone = backbone
            self.head = head
            self.frozen = tuple(frozen)
            self.in_channels = in_channels

        def forward(self, x):
            if self.in_channels is not None and x.dim() == 4 and x.shape[1] != self.in_channels:
                raise DataError(
                    f"The model takes {self.in_channels}-channel images but got a batch shaped {tuple(x.shape)} "
                    f"({x.shape[1]} channels). Build it with transfer(..., in_channels={x.shape[1]}) to adapt the "
                    "first convolution, or convert the images (np.repeat(images, 3, axis=-1) for gray to RGB)."
                )
            return self.head(self.backbone(x))

        def train(self, mode: bool = True):
            super().train(mode)
            if mode:
                modules = dict(self.named_modules())
                for name in self.frozen:
                    modules[name].eval()
            return self

    TransferModel.__module__ = __name__
    TransferModel.__qualname__ = "TransferModel"
    _MODEL_CLASS = TransferModel
    return TransferModel


def __getattr__(name: str) -> Any:  # lets pickle / torch.save find the class
    if name == "TransferModel":
        return _model_class()
    raise AttributeError(name)


def _build_arch(name: str):
    tv = import_optional("torchvision")
    names = sorted(tv.models.list_models(module=tv.models))
    if name not in names:
        raise UnknownNameError(
            f"Unknown torchvision architecture {name!r}.{did_you_mean(name, names)} "
            "Use a name from torchvision.models.list_models(), or pass an nn.Module."
        )
    return tv.models.get_model(name, weights=None)


def _last_linear(model) -> tuple[str, Any]:
    torch = _torch()
    leaves = [(n, m) for n, m in model.named_modules() if n and len(list(m.children())) == 0]
    linears = [(n, m) for n, m in leaves if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ParameterError(
            f"{type(model).__name__} has no nn.Linear layer to replace with a new head. Pass a model with "
            "'backbone' and 'head' children, or one that ends in nn.Linear."
        )
    name, layer = linears[-1]
    trailing = [n for n, m in leaves[[n for n, _ in leaves].index(name) + 1 :] if len(list(m.parameters())) > 0]
    if trailing:
        raise ParameterError(
            f"The last nn.Linear of {type(model).__name__} ({name!r}) is followed by layers with parameters "
            f"({trailing[0]!r}), so it is not the model's head. Pass a model with 'backbone' and 'head' children."
        )
    return name, layer


def _set_child(model, dotted: str, new) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _split(model) -> tuple[Any, Any, int]:
    """(backbone, old head, feature size) of a module."""
    torch = _torch()
    children = dict(model.named_children())
    if "backbone" in children and "head" in children:
        head = children["head"]
        linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ParameterError(
                f"The head of {type(model).__name__} has no nn.Linear, so its feature size is unknown. Pass head= "
                "explicitly sized for the backbone's output."
            )
        return children["backbone"], head, int(linears[0].in_features)
    name, layer = _last_linear(model)
    _set_child(model, name, torch.nn.Identity())
    return model, layer, int(layer.in_features)


def _state_dict_from(weights: Any) -> dict[str, Any]:
    torch = _torch()
    if isinstance(weights, torch.nn.Module):
        return {k: v.detach().clone() for k, v in weights.state_dict().items()}
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.exists():
            raise DataError(f"Weights file {str(path)!r} does not exist. Pass the path of a saved state_dict.")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for unreadable files
            raise DataError(
                f"Weights file {path.name!r} could not be read as a state_dict ({type(exc).__name__}). "
                "Save it with torch.save(model.state_dict(), path)."
            ) from None
        if not isinstance(state, dict):
            raise DataError(
                f"Weights file {path.name!r} holds a {type(state).__name__}, not a state_dict. "
                "Save it with torch.save(model.state_dict(), path)."
            )
        return state
    if isinstance(weights, dict):
        return weights
    raise ParameterError(
        "The 'weights' parameter of transfer must be None, a state_dict file path, a state_dict or an nn.Module. "
        f"Got {type(weights).__name__} instead."
    )


def _load_backbone(backbone, state: dict[str, Any], full_model_head: str | None) -> None:
    """Load ``state`` (of the full source model) into ``backbone``; head keys are dropped."""
    keys = list(state)
    if keys and all(k.startswith(("backbone.", "head.")) for k in keys):
        sub = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    elif full_model_head is not None:
        prefix = full_model_head + "."
        sub = {k: v for k, v in state.items() if not k.startswith(prefix)}
    else:
        sub = dict(state)
    own = backbone.state_dict()
    missing = [k for k in own if k not in sub]
    unexpected = [k for k in sub if k not in own]
    if missing or unexpected:
        what = f"{len(missing)} missing (first: {missing[0]!r})" if missing else ""
        what += ("; " if missing and unexpected else "") + (
            f"{len(unexpected)} unexpected (first: {unexpected[0]!r})" if unexpected else ""
        )
        raise DataError(
            f"The weights do not fit the backbone: {what} parameter(s). Pass weights of the same architecture "
            "(a state_dict of the full model, or of a transfer() model)."
        )
    bad = [k for k in own if tuple(own[k].shape) != tuple(sub[k].shape)]
    if bad:
        raise DataError(
            f"The weights do not fit the backbone: {bad[0]!r} has shape {tuple(sub[bad[0]].shape)} in the weights but "
            f"{tuple(own[bad[0]].shape)} in the model. Pass weights of the same architecture and input channels."
        )
    backbone.load_state_dict(sub)


def _adapt_channels(backbone, in_channels: int) -> int:
    """Rebuild the first Conv2d for ``in_channels``; returns the model's original channel count."""
    torch = _torch()
    convs = [(n, m) for n, m in backbone.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ParameterError("in_channels= adapts the first nn.Conv2d, but the backbone has none. Leave in_channels unset.")
    name, conv = convs[0]
    old = conv.in_channels
    if old == in_channels:
        return old
    if conv.groups != 1:
        raise ParameterError(f"The first convolution ({name!r}) is grouped; in_channels= cannot adapt it. Convert the images instead.")
    new = torch.nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        summed = conv.weight.sum(dim=1, keepdim=True)  # (out, 1, kh, kw)
        new.weight.copy_(summed.repeat(1, in_channels, 1, 1) * (1.0 / in_channels if in_channels > 1 else 1.0))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    _set_child(backbone, name, new)
    logger.info("adapted %s from %d to %d input channels", name, old, in_channels)
    return old


def _first_conv_key(backbone) -> str | None:
    torch = _torch()
    for n, m in backbone.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            return f"{n}.weight" if n else "weight"
    return None


def _first_conv_channels(backbone) -> int | None:
    torch = _torch()
    for m in backbone.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
    return None


def transfer(
    backbone: Any,
    *,
    num_classes: int,
    weights: Any = None,
    freeze: str | Sequence[str] | None = "backbone",
    head: Any = None,
    in_channels: int | None = None,
    random_state: int | None = 0,
):
    """A model for a new task from an architecture or an earlier model.

    Parameters
    ----------
    backbone : a torchvision architecture name (``"resnet18"``, ``"mobilenet_v3_small"``; built with
        ``weights=None``) or an ``nn.Module`` (copied; the original is untouched).
    num_classes : classes of the new head.
    weights : None, a state_dict file path, a state_dict, or an ``nn.Module`` of the same architecture
        (e.g. the user's earlier model): loaded into the backbone (head weights are dropped).
    freeze : ``"backbone"`` (train only the head), ``"none"`` / None (train everything), or a list of
        module names as in ``model.named_modules()`` of the returned model (``["backbone.0", "backbone.1"]``).
    head : None (a new ``nn.Linear(features, num_classes)``), an ``nn.Module``, or a callable
        ``(features, num_classes) -> nn.Module``.
    in_channels : adapt the first convolution to this many input channels (see module docstring).
    random_state : seeds the new head's (and adapted layer's) initialisation.

    Returns
    -------
    ``TransferModel``: ``model.backbone``, ``model.head``, ``model.frozen`` (the frozen module names).
    """
    torch = _torch()
    num_classes = check_interval(num_classes, "num_classes", "transfer", kind=int, low=1)
    if in_channels is not None:
        in_channels = check_interval(in_channels, "in_channels", "transfer", kind=int, low=1)
    gen_state = torch.random.get_rng_state()
    if random_state is not None:
        torch.manual_seed(int(random_state))
    try:
        if isinstance(backbone, str):
            source = _build_arch(backbone)
        elif isinstance(backbone, torch.nn.Module):
            source = copy.deepcopy(backbone)
        else:
            raise ParameterError(
                "The 'backbone' parameter of transfer must be a torchvision architecture name or an nn.Module. "
                f"Got {type(backbone).__name__} instead."
            )
        split_by_children = {"backbone", "head"} <= set(dict(source.named_children()))
        head_name = "head" if split_by_children else _last_linear(source)[0]
        body, _, features = _split(source)
        native = _first_conv_channels(body)
        state = None if weights is None else _state_dict_from(weights)
        adapt_first = False
        if in_channels is not None and state is not None:
            key = _first_conv_key(body)
            stripped = {k[len("backbone.") :] if k.startswith("backbone.") else k: v for k, v in state.items()}
            adapt_first = key is not None and key in stripped and stripped[key].dim() == 4 and stripped[key].shape[1] == in_channels
        if in_channels is not None and adapt_first:
            _adapt_channels(body, in_channels)
        if state is not None:
            _load_backbone(body, state, head_name)
        if in_channels is not None and not adapt_first:
            _adapt_channels(body, in_channels)
        expected = in_channels if in_channels is not None else native
        new_head = _make_head(head, features, num_classes)
    finally:
        if random_state is not None:
            torch.random.set_rng_state(gen_state)
    model = _model_class()(body, new_head, (), expected)
    frozen = _freeze(model, freeze)
    model.frozen = tuple(frozen)
    model.train()
    return model


def _make_head(head: Any, features: int, num_classes: int):
    torch = _torch()
    if head is None:
        return torch.nn.Linear(features, num_classes)
    if isinstance(head, torch.nn.Module):
        return copy.deepcopy(head)
    if callable(head):
        made = head(features, num_classes)
        if not isinstance(made, torch.nn.Module):
            raise ParameterError(f"The head factory returned {type(made).__name__}, not an nn.Module.")
        return made
    raise ParameterError(
        "The 'head' parameter of transfer must be None, an nn.Module or a callable (features, num_classes) -> "
        f"nn.Module. Got {type(head).__name__} instead."
    )


def _freeze(model, freeze: Any) -> list[str]:
    modules = dict(model.named_modules())
    if freeze is None or freeze == "none":
        names: list[str] = []
    elif freeze == "backbone":
        names = ["backbone"]
    elif isinstance(freeze, str):
        raise ParameterError(
            "The 'freeze' parameter of transfer must be 'backbone', 'none', None or a list of module names. "
            f"Got {freeze!r} instead.{did_you_mean(freeze, ['backbone', 'none'])}"
        )
    elif isinstance(freeze, Sequence):
        names = list(freeze)
        for name in names:
            if name not in modules or not name:
                known = [n for n in modules if n]
                raise UnknownNameError(
                    f"Cannot freeze {name!r}: no such module.{did_you_mean(str(name), known)} "
                    "Name modules as in model.named_modules() of the returned model (e.g. 'backbone.0')."
                )
    else:
        raise ParameterError(
            "The 'freeze' parameter of transfer must be 'backbone', 'none', None or a list of module names. "
            f"Got {type(freeze).__name__} instead."
        )
    for name in names:
        for p in modules[name].parameters():
            p.requires_grad_(False)
    return names


def trainable_parameters(model) -> list[Any]:
    """The parameters an optimiser should get (those not frozen)."""
    return [p for p in model.parameters() if p.requires_grad]

