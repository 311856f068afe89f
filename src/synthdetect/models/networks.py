"""Model architectures of the paper (section 4): histogram MLP, custom CNN, frozen ResNet18.

Every model returns one logit per sample, shape ``(N, 1)``; P(AI) is its sigmoid
(labels: 1 = AI, 0 = human). The two image models take ImageNet-normalised float NCHW
tensors made from uint8 NHWC RGB spectrograms by :func:`normalise`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.models import ResNet18_Weights
from torchvision.models.resnet import BasicBlock, ResNet

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FrozenResNet18",
    "HistogramMLP",
    "PaperCNN",
    "WeightsUnavailableError",
    "build_resnet18",
    "is_image_model",
    "normalise",
]

# ImageNet channel statistics (the ones torchvision's ResNet18 weights were trained with).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def normalise(
    batch: np.ndarray | torch.Tensor,
    *,
    device: torch.device | str | None = None,
    channels_last: bool = False,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """uint8 RGB images ``(N, H, W, 3)`` -> float32 ``(N, 3, H, W)``, ImageNet-normalised.

    ``x = (pixel / 255 - mean) / std`` per channel. Works on numpy arrays (memmaps
    included) and on uint8 tensors already on a device; the arithmetic runs on
    ``device`` (default: where the tensor is, CPU for numpy), so a GPU gets the 4x
    smaller uint8 batch. The result is contiguous NCHW, or channels_last when asked;
    ``out`` (float32, that shape and layout, on that device) receives it without a new
    allocation.
    """
    if isinstance(batch, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(batch))
    elif isinstance(batch, torch.Tensor):
        t = batch
    else:
        raise TypeError(f"expected a numpy array or a tensor, got {type(batch).__name__}")
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 images shaped (N, H, W, 3), got {t.dtype} {tuple(t.shape)}"
        )
    if device is not None:
        t = t.to(device, non_blocking=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    t = t.permute(0, 3, 1, 2)  # NHWC memory seen as NCHW = channels_last strides
    if out is None:
        out = torch.empty(t.shape, dtype=torch.float32, device=t.device, memory_format=fmt)
    elif (
        out.shape != t.shape
        or out.dtype != torch.float32
        or not out.is_contiguous(memory_format=fmt)
    ):
        raise ValueError(f"out must be float32 {tuple(t.shape)} in {fmt}, got {out.dtype}")
    # (p / 255 - mean) / std  ==  p * scale - offset, in two passes over the batch
    scale = [1.0 / (255.0 * s) for s in IMAGENET_STD]
    offset = [m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    torch.mul(t, torch.tensor(scale, device=t.device).view(1, 3, 1, 1), out=out)
    return out.sub_(torch.tensor(offset, device=t.device).view(1, 3, 1, 1))


class PaperCNN(nn.Module):
    """The paper's custom CNN.

    Three blocks of Conv2d(3x3, padding 1) + BatchNorm2d + ReLU + MaxPool2d(2), then
    dropout, then two fully connected layers (-> ``hidden``, ReLU -> 1 logit). Each
    block applies its ReLU after the pooling: ReLU and max commute, so the output is the
    paper's, and the ReLU (forward and backward) sees a quarter of the elements. The
    parameter names are the paper order's (``features.0`` conv, ``features.1`` norm).
    """

    def __init__(
        self,
        in_size: int = 224,
        channels: tuple[int, ...] = (16, 32, 64),
        dropout: float = 0.5,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if in_size < 2 ** len(channels):
            raise ValueError(f"in_size {in_size} too small for {len(channels)} pooling blocks")
        self.in_size = int(in_size)
        blocks: list[nn.Module] = []
        c_in, side = 3, self.in_size
        for c_out in channels:
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.MaxPool2d(2),
                nn.ReLU(inplace=True),
            ]
            c_in, side = c_out, side // 2
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(c_in * side * side, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.in_size, self.in_size):
            raise ValueError(
                f"PaperCNN(in_size={self.in_size}) got images of {tuple(x.shape[-2:])}; "
                "build it with the image size of the data"
            )
        x = self.features(x)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc2(self.relu(self.fc1(x)))


class HistogramMLP(nn.Module):
    """Three fully connected layers on a histogram feature vector -> 1 logit."""

    def __init__(self, n_in: int, hidden: tuple[int, int] = (64, 32)) -> None:
        super().__init__()
        h1, h2 = hidden
        self.n_in = int(n_in)
        self.net = nn.Sequential(
            nn.Linear(self.n_in, h1),
            nn.ReLU(inplace=True),
            nn.Linear(h1, h2),
            nn.ReLU(inplace=True),
            nn.Linear(h2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained (typically: no network)."""


class FrozenResNet18(ResNet):
    """torchvision's ResNet18 with a 1-logit ``fc`` head and (optionally) a frozen backbone.

    With ``freeze_backbone`` every parameter except ``fc``'s has ``requires_grad=False``
    and ``train()`` keeps every module but ``fc`` in eval mode, so BatchNorm running
    statistics never move: the backbone is a fixed function, which is what lets
    :func:`synthdetect.models.training.train_resnet18_head` train the head on cached features.
    State-dict keys are torchvision's (``conv1.weight``, ..., ``fc.weight``).
    """

    def __init__(self, freeze_backbone: bool = True) -> None:
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=1000)
        self.freeze_backbone = bool(freeze_backbone)

    def _replace_head(self) -> None:
        self.fc = nn.Linear(self.fc.in_features, 1)
        if self.freeze_backbone:
            for name, p in self.named_parameters():
                p.requires_grad_(name.startswith("fc."))
        self.train(self.training)

    def train(self, mode: bool = True) -> FrozenResNet18:
        super().train(mode)
        if self.freeze_backbone:
            for name, child in self.named_children():
                if name != "fc":
                    child.train(False)
        return self


def _offline_message(err: BaseException) -> str:
    url = ResNet18_Weights.IMAGENET1K_V1.url
    hub = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return (
        f"could not obtain the ImageNet weights for ResNet18 ({type(err).__name__}: {err}). "
        "torchvision downloads them on first use, which needs network access. Either: "
        f"(1) download {url} on a machine with network and place it at {hub} "
        "(or set TORCH_HOME); (2) set the ResNet18 weights option to the path of that "
        "file (or of any ResNet18 state dict, .pth/.pt); or (3) set it to 'none' to "
        "train from random initialisation (this is not the paper's transfer learning)."
    )


def _load_state_file(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # re-raised with the file named
        raise WeightsUnavailableError(
            f"could not read ResNet18 weights from {path}: {err}"
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{path} does not hold a state dict")
    return state


def build_resnet18(
    weights: str | os.PathLike | None = "imagenet",
    *,
    freeze_backbone: bool = True,
    progress: bool = True,
) -> FrozenResNet18:
    """ResNet18 for binary classification: backbone frozen, ``fc`` = Linear(512, 1).

    ``weights``:
      * ``"imagenet"`` - torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (downloaded
        once into the torch hub cache, hash-checked). Without network and without a
        cached copy this raises :class:`WeightsUnavailableError` saying how to proceed.
      * ``"none"`` - random initialisation.
      * a path to a state-dict file (``.pth``/``.pt``, read with ``weights_only=True``):
        either a torchvision ResNet18 checkpoint (1000-class ``fc``, e.g. the ImageNet
        file downloaded by hand; the head is then replaced) or a state dict of this
        model (1-logit ``fc``, e.g. one saved after training; loaded as is).
    """
    model = FrozenResNet18(freeze_backbone=freeze_backbone)
    key = "none" if weights is None else os.fspath(weights)
    if key.lower() == "imagenet":
        try:
            state = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(
                progress=progress, check_hash=True
            )
        except (OSError, RuntimeError) as err:  # URLError is an OSError; hash -> Runtime
            raise WeightsUnavailableError(_offline_message(err)) from err
        model.load_state_dict(state)
        model._replace_head()
    elif key.lower() == "none":
        model._replace_head()
    else:
        path = Path(key)
        if not path.is_file():
            raise WeightsUnavailableError(
                f"ResNet18 weights file {path} does not exist; the weights option takes "
                "'imagenet', 'none' or the path of a state-dict file"
            )
        state = _load_state_file(path)
        fc_w = state.get("fc.weight")
        head_first = fc_w is not None and tuple(fc_w.shape) == (1, 512)
        try:
            if head_first:
                model._replace_head()
            model.load_state_dict(state)
        except RuntimeError as err:
            raise WeightsUnavailableError(
                f"{path} is not a ResNet18 state dict (1000- or 1-output fc): {err}"
            ) from err
        if not head_first:
            model._replace_head()
    return model


def is_image_model(model: nn.Module) -> bool:
    """True for the models fed with images (run channels_last; bf16 autocast on CUDA)."""
    return isinstance(model, PaperCNN | ResNet)
