"""A model's own view of its input: the vectors an out-of-distribution score reads.

A feature model (the forests, the MLPs, the fakeprint's logistic regression) sees its
feature row, so that row is its vector. An image model sees pixels, which are far too
many and too correlated for a distance; its vector is the **penultimate embedding**,
the input of the final linear layer (``fc2`` of the paper's CNN, ``fc`` of ResNet18):
what the head separates the classes on. It is read with a forward pre-hook during the
same batched, normalised inference that :func:`synthdetect.models.training.predict_logits`
runs, so the embedding is exactly what the logit was computed from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthdetect.models import registry

__all__ = ["embeddings", "head", "logits_and_embeddings", "model_vectors"]


def head(model: Any):
    """The final linear layer of a torch model (its input is the penultimate embedding)."""
    from torch import nn

    from synthdetect.models.networks import HistogramMLP, PaperCNN

    if isinstance(model, PaperCNN):
        return model.fc2
    if isinstance(model, HistogramMLP):
        return model.net[-1]
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear):  # torchvision's ResNet (FrozenResNet18)
        return fc
    raise TypeError(f"no known final layer in a {type(model).__name__}")


def embeddings(model: Any, X: np.ndarray, *, batch_size: int = 256, device=None) -> np.ndarray:
    """Penultimate embeddings ``(N, d)`` float64 of images (uint8 NHWC) or feature rows."""
    return logits_and_embeddings(model, X, batch_size=batch_size, device=device)[1]


def logits_and_embeddings(
    model: Any, X: np.ndarray, *, batch_size: int = 256, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """The logits ``(N,)`` and penultimate embeddings ``(N, d)`` of one inference pass."""
    from synthdetect.models.training import predict_logits

    chunks: list[np.ndarray] = []

    def keep(_module, inputs):
        chunks.append(inputs[0].detach().float().reshape(inputs[0].shape[0], -1).cpu().numpy())

    hook = head(model).register_forward_pre_hook(keep)
    try:
        z = predict_logits(model, X, batch_size=batch_size, device=device)
    finally:
        hook.remove()
    if not chunks:
        return z, np.empty((0, 0), dtype=np.float64)
    return z, np.concatenate(chunks).astype(np.float64)


def model_vectors(name: str, model: Any, X: np.ndarray, *, device=None) -> np.ndarray:
    """The vectors model ``name`` is judged on: embeddings for an image model, else its
    feature rows (``registry.get(name).images`` decides)."""
    if registry.get(name).images:
        return embeddings(model, X, device=device)
    return np.asarray(X, dtype=np.float64)
