"""Transfer learning: torchvision names without downloads, weights from files and earlier models,
freezing (parameters and batch-norm statistics), head replacement, grayscale adapter, embed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import augment  # noqa: E402
from curate.models import SmallCNN  # noqa: E402
from diagnose._embed import embed  # noqa: E402


def _step(model, x, y):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_resnet18_frozen_backbone_does_not_move_and_head_does():
    model = augment.transfer("resnet18", num_classes=3)
    assert isinstance(model.head, torch.nn.Linear) and model.head.out_features == 3 and model.head.in_features == 512
    assert model.frozen == ("backbone",)
    before_b, before_h = _snapshot(model.backbone), _snapshot(model.head)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 1])
    _step(model, x, y)
    after_b = _snapshot(model.backbone)
    assert all(torch.equal(before_b[k], after_b[k]) for k in before_b), "frozen weights and BN statistics must not move"
    assert not torch.equal(before_h["weight"], model.head.weight)
    assert model.training and not model.backbone.training  # frozen layers stay in eval mode
    # the features diagnose.embed takes (input of the last Linear) are the backbone's output
    imgs = (torch.rand(5, 32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
    z = embed(model, imgs)
    with torch.no_grad():
        model.eval()
        ref = model.backbone(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255)
    np.testing.assert_allclose(z, ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed(model, imgs, layer="backbone"), z, rtol=1e-5, atol=1e-6)


def test_mobilenet_split_at_the_last_linear_and_unfrozen_training():
    model = augment.transfer("mobilenet_v3_small", num_classes=4, freeze=None)
    assert model.head.in_features == 1024 and model.frozen == ()
    assert isinstance(model.backbone.classifier[3], torch.nn.Identity)
    before = _snapshot(model.backbone)
    _step(model, torch.rand(2, 3, 32, 32), torch.tensor([0, 3]))
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_grayscale_adapter_matches_rgb_model_on_repeated_channels():
    rgb = augment.transfer("resnet18", num_classes=2, random_state=1)
    gray = augment.transfer("resnet18", num_classes=2, weights=rgb, in_channels=1, random_state=1)
    rgb.eval()
    gray.eval()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(gray.backbone(x), rgb.backbone(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"The model takes 3-channel images but got a batch shaped \(2, 1, 32, 32\).*in_channels=1"):
        rgb(x)
    # weights of a grayscale model load into a grayscale model
    again = augment.transfer("resnet18", num_classes=5, weights=gray, in_channels=1)
    torch.testing.assert_close(again.backbone.conv1.weight, gray.backbone.conv1.weight)


def test_weights_from_an_earlier_model_and_from_a_file(digits, tmp_path):
    images, labels = digits
    torch.manual_seed(0)
    earlier = SmallCNN(num_classes=10)
    x = torch.from_numpy(images[:64]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels[:64])
    for _ in range(3):
        _step(earlier, x, y)
    model = augment.transfer(earlier, num_classes=3, weights=earlier)
    for k, v in earlier.backbone.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v)
    assert model.head.out_features == 3 and model.head.in_features == earlier.head.in_features
    assert earlier.head.out_features == 10  # the source is untouched
    torch.save(earlier.state_dict(), tmp_path / "w.pt")
    from_file = augment.transfer(SmallCNN(num_classes=10), num_classes=3, weights=tmp_path / "w.pt")
    for k, v in earlier.backbone.state_dict().items():
        torch.testing.assert_close(from_file.backbone.state_dict()[k], v)
    # a transfer() model is a valid source too (keys 'backbone.*' / 'head.*')
    second = augment.transfer(SmallCNN(num_classes=10), num_classes=2, weights=model.state_dict())
    torch.testing.assert_close(second.backbone[0].weight, earlier.backbone[0].weight)
    with pytest.raises(ValueError, match=r"The weights do not fit the backbone: .*has shape"):
        augment.transfer(SmallCNN(num_classes=10, width=8), num_classes=3, weights=earlier)
    with pytest.raises(ValueError, match=r"Weights file '.*nothing.pt' does not exist"):
        augment.transfer("resnet18", num_classes=3, weights=tmp_path / "nothing.pt")


def test_freeze_named_layers_and_errors():
    model = augment.transfer(SmallCNN(), num_classes=10, freeze=["backbone.0", "backbone.1"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"backbone.0.weight", "backbone.0.bias", "backbone.1.weight", "backbone.1.bias"}
    before = _snapshot(model)
    _step(model, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    after = _snapshot(model)
    for k in before:
        moved = not torch.equal(before[k], after[k])
        if k.startswith(("backbone.0.", "backbone.1.")):
            assert not moved, k
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert not torch.equal(before["backbone.4.weight"], after["backbone.4.weight"])
    with pytest.raises(ValueError, match=r"Cannot freeze 'backbon\.0': no such module\. Did you mean 'backbone\.0'\?"):
        augment.transfer(SmallCNN(), num_classes=2, freeze=["backbon.0"])
    with pytest.raises(ValueError, match=r"Unknown torchvision architecture 'resnet81'\. Did you mean 'resnet18'\?"):
        augment.transfer("resnet81", num_classes=2)
    with pytest.raises(ValueError, match=r"The 'num_classes' parameter of transfer must be an int in the range \[1, inf\)"):
        augment.transfer("resnet18", num_classes=0)
    with pytest.raises(ValueError, match=r"The 'freeze' parameter of transfer must be 'backbone', 'none'"):
        augment.transfer(SmallCNN(), num_classes=2, freeze="backbones")


def test_custom_head_and_same_seed_same_head():
    m1 = augment.transfer(SmallCNN(), num_classes=3, head=lambda d, k: torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.ReLU(), torch.nn.Linear(8, k)))
    assert m1(torch.rand(2, 1, 8, 8)).shape == (2, 3)
    a = augment.transfer(SmallCNN(), num_classes=3, random_state=4)
    b = augment.transfer(SmallCNN(), num_classes=3, random_state=4)
    torch.testing.assert_close(a.head.weight, b.head.weight)
