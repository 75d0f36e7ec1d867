"""augment.default_pipeline: the built-in label-keeping pipeline (also `curakit augment --pipeline default`)."""

import numpy as np
import pytest

import augment
from curakit.exceptions import ParameterError


def test_default_pipeline_keeps_the_image_shape_and_dtype():
    pipe = augment.default_pipeline((16, 16, 1))
    assert type(pipe).__name__ == "Compose"
    assert [type(t).__name__ for t in pipe.transforms] == ["Affine", "RandomBrightnessContrast", "GaussNoise"]
    img = (np.arange(16 * 16, dtype=np.uint16) % 256).astype(np.uint8).reshape(16, 16, 1)
    out = pipe(image=img)["image"]
    assert out.shape == img.shape and out.dtype == np.uint8


def test_default_pipeline_bad_shape_and_the_cli_uses_the_same_function():
    with pytest.raises(ParameterError, match=r"needs \(H, W\[, C\]\) images of at least 2x2; got \(1, 5\)"):
        augment.default_pipeline((1, 5))
    from curakit._cli.pipelines import PIPELINES, named_pipeline

    assert PIPELINES["default"] is augment.default_pipeline
    assert named_pipeline("my_pipeline.json", (8, 8)) == "my_pipeline.json"
