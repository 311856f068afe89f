"""Architectures: shapes, the paper's layer structure, ResNet18 weights and freezing."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import ResNet18_Weights

from synthdetect.models.networks import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    HistogramMLP,
    PaperCNN,
    normalise,
)
from synthdetect.models.resnet18 import WeightsUnavailableError, build_resnet18


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- normalise


def test_normalise_is_imagenet_normalisation_in_nchw():
    imgs = _images(3, 8)
    x = normalise(imgs)
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 3, 8, 8) and x.is_contiguous()
    mean = np.array(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(IMAGENET_STD).reshape(1, 3, 1, 1)
    expected = (imgs.transpose(0, 3, 1, 2) / 255.0 - mean) / std
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-5)


def test_normalise_constants_are_torchvisions_resnet18_ones():
    tf = ResNet18_Weights.IMAGENET1K_V1.transforms()
    assert tuple(tf.mean) == IMAGENET_MEAN
    assert tuple(tf.std) == IMAGENET_STD


def test_normalise_accepts_tensor_and_channels_last():
    imgs = _images(2, 6)
    a = normalise(imgs)
    b = normalise(torch.from_numpy(imgs), channels_last=True)
    assert b.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 3, 8, 8), np.uint8), [1, 2]]
)
def test_normalise_rejects_non_uint8_nhwc(bad):
    with pytest.raises((ValueError, TypeError)):
        normalise(bad)


# --------------------------------------------------------------------------- PaperCNN


def test_paper_cnn_224_gives_one_logit():
    model = PaperCNN().eval()
    with torch.no_grad():
        out = model(normalise(_images(2, 224)))
    assert tuple(out.shape) == (2, 1)


def test_paper_cnn_has_the_papers_layers():
    model = PaperCNN(in_size=224, channels=(16, 32, 64), dropout=0.5, hidden=128)
    blocks = list(model.features)
    # ReLU after the pooling: the same function as the paper's Conv, BN, ReLU, MaxPool
    assert [type(m) for m in blocks] == [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU] * 3
    convs = [m for m in blocks if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(64 * 28 * 28, 128), (128, 1)]
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.modules())


def test_paper_cnn_equals_the_papers_layer_order_forward_and_backward():
    import copy

    torch.manual_seed(0)
    model = PaperCNN(in_size=32, channels=(4, 8, 8), hidden=16)
    paper = copy.deepcopy(model)
    mods = list(paper.features)
    for i in range(2, len(mods), 4):  # Conv, BN, MaxPool, ReLU -> Conv, BN, ReLU, MaxPool
        mods[i], mods[i + 1] = mods[i + 1], mods[i]
    paper.features = nn.Sequential(*mods)
    assert [type(m) for m in paper.features][:4] == [
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.MaxPool2d,
    ]
    x = normalise(_images(4, 32))
    for net in (model, paper):
        net.train()
        torch.manual_seed(1)  # the same dropout mask
        net(x).sum().backward()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, paper(x))
    for (name, p), q in zip(model.named_parameters(), paper.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_paper_cnn_other_size_and_wrong_input():
    model = PaperCNN(in_size=64, channels=(4, 8, 8), hidden=16).eval()
    with torch.no_grad():
        assert tuple(model(normalise(_images(3, 64))).shape) == (3, 1)
        with pytest.raises(ValueError, match="in_size"):
            model(normalise(_images(1, 32)))


# --------------------------------------------------------------------------- HistogramMLP


def test_histogram_mlp_three_linear_layers():
    model = HistogramMLP(20)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(20, 64), (64, 32), (32, 1)]
    assert tuple(model(torch.zeros(5, 20)).shape) == (5, 1)


# --------------------------------------------------------------------------- ResNet18


def test_resnet18_none_224_one_logit_and_frozen_backbone():
    model = build_resnet18("none")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    assert (model.fc.in_features, model.fc.out_features) == (512, 1)
    model.train()  # the backbone must stay in eval mode: BN statistics never move
    assert model.fc.training
    assert all(not m.training for n, m in model.named_modules() if n and not n.startswith("fc"))
    before = model.bn1.running_mean.clone()
    out = model(normalise(_images(2, 224)))
    assert tuple(out.shape) == (2, 1)
    torch.testing.assert_close(model.bn1.running_mean, before)
    out.sum().backward()
    assert model.fc.weight.grad is not None and model.conv1.weight.grad is None


def test_resnet18_unfrozen_option_trains_everything():
    model = build_resnet18("none", freeze_backbone=False)
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert model.bn1.training


def test_resnet18_loads_a_torchvision_checkpoint_from_a_path(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)  # 1000-class head, as ImageNet's
    path = tmp_path / "resnet18-local.pth"
    torch.save(reference.state_dict(), path)
    model = build_resnet18(str(path))
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert model.fc.out_features == 1
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]


def test_resnet18_loads_its_own_trained_state_dict(tmp_path):
    torch.manual_seed(2)
    trained = build_resnet18("none")
    path = tmp_path / "resnet18.pt"
    torch.save(trained.state_dict(), path)
    model = build_resnet18(path)
    for k, v in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


def test_resnet18_bad_weights_argument(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_resnet18(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    torch.save({"foo": torch.zeros(1)}, junk)
    with pytest.raises(WeightsUnavailableError, match="not a ResNet18 state dict"):
        build_resnet18(junk)


def test_resnet18_imagenet_offline_raises_weights_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # empty cache
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as info:
        build_resnet18("imagenet", progress=False)
    assert calls == [ResNet18_Weights.IMAGENET1K_V1.url]  # torchvision's real loader ran
    msg = str(info.value)
    assert "network" in msg and "'none'" in msg and ResNet18_Weights.IMAGENET1K_V1.url in msg
    assert str(tmp_path / "torch-home") in msg  # where to put the file by hand
    assert isinstance(info.value.__cause__, urllib.error.URLError)
