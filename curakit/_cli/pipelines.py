"""Built-in albumentations pipelines for ``curakit augment --pipeline NAME``.

``default``: :func:`augment.default_pipeline` (light and label-keeping: small affine moves,
brightness/contrast, weak noise; no flips, no colour changes; the image size never changes).
"""

from __future__ import annotations

from typing import Any

from augment import default_pipeline

__all__ = ["PIPELINES", "default_pipeline", "named_pipeline"]


#: Names ``--pipeline`` takes besides a file path.
PIPELINES = {"default": default_pipeline}


def named_pipeline(spec: str, image_shape: tuple[int, ...]) -> Any:
    """``spec`` when it names a built-in pipeline -> that pipeline; else ``spec`` (a file path)."""
    build = PIPELINES.get(spec)
    return spec if build is None else build(image_shape)
