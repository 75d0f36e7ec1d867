"""diagnose.embed (forward hooks on a real small CNN) and FeatureEmbedder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import diagnose
from curate.models import SmallCNN
from diagnose import DataError, NotFittedError, ParameterError
from diagnose._embed import FeatureEmbedder


@pytest.fixture(scope="module")
def cnn_and_images(digits):
    images, labels = digits
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=4, embedding_dim=8)
    # a few optimiser steps so BatchNorm running stats differ from train-mode batch stats
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.from_numpy(images[:128]).permute(0, 3, 1, 2).float() / 255
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), torch.from_numpy(labels[:128])).backward()
        opt.step()
    return model, images[:96]


def test_default_layer_is_input_of_last_linear(cnn_and_images):
    model, images = cnn_and_images
    model.train()
    emb = diagnose.embed(model, images, batch_size=40)
    assert emb.shape == (96, 8) and emb.dtype == np.float32
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        ref = model.backbone(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    model.train()
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)


def test_named_layer_output_is_flattened(cnn_and_images):
    model, images = cnn_and_images
    emb = diagnose.embed(model, images[:10], layer="backbone.6")
    model.eval()
    with torch.no_grad():
        ref = model.backbone[:7](torch.from_numpy(images[:10]).permute(0, 3, 1, 2).float() / 255)
    model.train()
    assert emb.shape == (10, int(np.prod(ref.shape[1:])))
    np.testing.assert_allclose(emb, ref.reshape(10, -1).numpy(), rtol=1e-5, atol=1e-6)
    batch_independent = diagnose.embed(model, images[:10], layer="backbone.6", batch_size=3, progress=False)
    with pytest.warns(FutureWarning, match="'progress_bar' parameter of embed is renamed 'progress'"):
        old_name = diagnose.embed(model, images[:10], layer="backbone.6", batch_size=3, progress_bar=False)
    np.testing.assert_array_equal(old_name, batch_independent)
    np.testing.assert_allclose(emb, batch_independent, rtol=1e-5, atol=1e-6)


def test_transform_and_file_paths(cnn_and_images, tmp_path):
    from PIL import Image

    model, images = cnn_and_images
    paths = []
    for i in range(5):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(images[i, :, :, 0]).save(p)
        paths.append(p)
    np.testing.assert_allclose(diagnose.embed(model, paths), diagnose.embed(model, images[:5]), rtol=1e-5, atol=1e-6)
    doubled = diagnose.embed(
        model, images[:5], transform=lambda b: torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255
    )
    np.testing.assert_allclose(doubled, diagnose.embed(model, images[:5]), rtol=1e-5, atol=1e-6)


def test_embed_errors(cnn_and_images):
    model, images = cnn_and_images
    with pytest.raises(ParameterError, match=r"Layer 'backbone\.66' is not in the model\. Did you mean 'backbone\.6'\?"):
        diagnose.embed(model, images, layer="backbone.66")
    with pytest.raises(ParameterError, match="embed needs a torch nn.Module. Got LogisticRegression instead"):
        from sklearn.linear_model import LogisticRegression

        diagnose.embed(LogisticRegression(), images)
    with pytest.raises(ParameterError, match="has no nn.Linear layer"):
        diagnose.embed(nn.Sequential(nn.Flatten()), images)
    with pytest.raises(DataError, match="images must be uint8"):
        diagnose.embed(model, images.astype(np.float32))
    with pytest.raises(ParameterError, match="The 'batch_size' parameter of embed must be an int >= 1. Got 0 instead."):
        diagnose.embed(model, images, batch_size=0)
    # images whose channels differ from the model's first conv layer: one line naming the fix
    other = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images[..., :1]
    with pytest.raises(DataError, match=r"images have \d channel\(s\) but \d are expected\. Convert"):
        diagnose.embed(model, other)


def test_feature_embedder_scales_and_one_hot():
    df = pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0, 50.0],
            "city": ["a", "b", "a", None],
            "flag": [True, False, True, True],
            "const": [1, 1, 1, 1],
        }
    )
    fe = FeatureEmbedder().fit(df)
    x = fe.transform(df)
    assert fe.numeric_ == ["age", "const"]
    assert set(fe.categorical_) == {"city", "flag"}
    assert x.shape == (4, fe.n_dims) == (4, 2 + 3 + 2)
    np.testing.assert_allclose(x[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(x[:, 0].std(), 1)
    np.testing.assert_allclose(x[:, 1], 0)  # constant column: scale 1, centred
    onehot = x[:, 2:5] * np.sqrt(2)
    np.testing.assert_allclose(onehot.sum(1), 1)  # missing city is its own category
    # unseen category -> all zeros; same fitted state after a JSON round trip
    new = df.assign(city=["z", "a", "b", "a"])
    fe2 = FeatureEmbedder.from_dict(fe.to_dict())
    np.testing.assert_allclose(fe2.transform(new), fe.transform(new))
    assert fe.transform(new)[0, 2:5].sum() == 0


def test_feature_embedder_errors():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FeatureEmbedder().transform(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(DataError, match=r"Feature column 'a' has 1 NaN or inf value\(s\)"):
        FeatureEmbedder().fit(pd.DataFrame({"a": [1.0, np.nan]}))
    fe = FeatureEmbedder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(DataError, match=r"features lack 1 column\(s\) the embedding was fitted on \(first: 'b'\)"):
        fe.transform(pd.DataFrame({"a": [1.0]}))
