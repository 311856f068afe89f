"""The paper's transfer-learning model (section 4): ResNet18 with ImageNet weights, the
backbone frozen, a 1-logit head.

A module of its own because torchvision costs seconds to import (bench/README.md), and
every other model's job would pay them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import ResNet18_Weights
from torchvision.models.resnet import BasicBlock, ResNet

__all__ = ["FrozenResNet18", "WeightsUnavailableError", "build_resnet18"]


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

    takes_images = True  # synthdetect.models.networks.is_image_model

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
