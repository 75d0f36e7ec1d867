"""``augment.default_pipeline``: a light, label-keeping albumentations pipeline.

Each step is applied with probability 0.5 or more:

* ``Affine``: rotate within +-10 degrees, scale 0.9..1.1, shift up to 6 % of each side
  (border pixels repeated from the edge, so no black corners);
* ``RandomBrightnessContrast``: brightness and contrast within +-0.15;
* ``GaussNoise``: weak noise (standard deviation up to 3 % of the range).

No flips and no colour changes: a flipped ``2`` or ``b`` is another class, and colour can be the
label. The image size never changes. ``curakit augment --pipeline default`` uses it.
"""

from __future__ import annotations

from typing import Any

from curakit.exceptions import ParameterError
from curakit.optional import import_optional

__all__ = ["default_pipeline"]


def default_pipeline(image_shape: tuple[int, ...] | None = None) -> Any:
    """The ``default`` pipeline (an ``albumentations.Compose``) for images shaped ``image_shape``
    ((H, W) or (H, W, C); used only to check it is an image shape)."""
    if image_shape is not None and (len(image_shape) not in (2, 3) or min(image_shape[:2]) < 2):
        raise ParameterError(f"The default pipeline needs (H, W[, C]) images of at least 2x2; got {image_shape}.")
    A = import_optional("albumentations")
    cv2 = import_optional("cv2")
    return A.Compose([
        A.Affine(rotate=(-10, 10), scale=(0.9, 1.1), translate_percent=(-0.06, 0.06),
                 border_mode=cv2.BORDER_REPLICATE, p=0.7),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.GaussNoise(std_range=(0.0, 0.03), p=0.3),
    ])
