"""Model architectures of the paper (section 4): histogram MLP, custom CNN (the frozen
ResNet18 is :mod:`synthdetect.models.resnet18`: torchvision takes seconds to import, and
only that model needs it).

Every model returns one logit per sample, shape ``(N, 1)``; P(AI) is its sigmoid
(labels: 1 = AI, 0 = human). The two image models take ImageNet-normalised float NCHW
tensors made from uint8 NHWC RGB spectrograms by :func:`normalise`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "HistogramMLP",
    "PaperCNN",
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

    takes_images = True  # is_image_model

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


def is_image_model(model: nn.Module) -> bool:
    """True for the models fed with images (run channels_last; bf16 autocast on CUDA)."""
    return bool(getattr(model, "takes_images", False))
