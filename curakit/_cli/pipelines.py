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
    """``spec`` when it names a built-in pipeline -> that pipeline; else ``spec`` (a file path).

    A ``spec`` that is neither a built-in name nor an existing path, but close to a built-in name
    (``defualt``), is a one-line :class:`~curakit.exceptions.ParameterError` with a did-you-mean.
    """
    from pathlib import Path

    build = PIPELINES.get(spec)
    if build is not None:
        return build(image_shape)
    if isinstance(spec, str) and not Path(spec).exists():
        from curakit.exceptions import ParameterError
        from curakit.plugins import did_you_mean

        hint = did_you_mean(spec, list(PIPELINES))
        if hint:
            raise ParameterError(f"--pipeline {spec!r} is neither a built-in pipeline ({', '.join(PIPELINES)}) nor a "
                                 f"file.{hint}")
    return spec
