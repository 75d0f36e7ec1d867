"""Tiny reference models (the demo's, the notebook's and the tests').

This public submodule imports torch when imported; ``import curate`` alone does not.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """A small CNN for low-resolution images.

    ``backbone``: two conv blocks (conv, batch norm, ReLU, 2x2 max pool), pooled to a 4x4 grid,
    flattened and projected to ``embedding_dim`` features (Linear + ReLU); then ``head``, one
    Linear layer. Works on any input of at least 4x4 pixels.

    Layer names (``model.named_modules()``): ``backbone``, ``backbone.0`` ... ``backbone.11``
    and ``head``. ``backbone`` is the embedding layer (the input of ``head``), ``head`` the layer
    ``finetune_head`` replaces, ``backbone.6`` (the ReLU after the last conv) a natural Grad-CAM
    target.
    """

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, width: int = 16, embedding_dim: int = 64
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.width = width
        self.embedding_dim = embedding_dim
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, embedding_dim),
            nn.ReLU(),
            nn.Dropout(0.1),
        )
        self.head = nn.Linear(embedding_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
