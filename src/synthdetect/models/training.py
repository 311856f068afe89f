"""Training, prediction and persistence for the models of Table 1.

Labels are 1 = AI, 0 = human; models emit one logit and P(AI) = sigmoid(logit).

* :func:`train_classifier` trains any of the torch models (BCEWithLogitsLoss + Adam),
  keeping the epoch with the lowest validation loss. ``X`` is either a float feature
  matrix (MLP) or uint8 NHWC images (an array or the memmap of an image cache), turned
  into normalised NCHW tensors batch by batch.
* :func:`train_resnet18_head` is the fast path for the frozen ResNet18: the backbone's
  pooled features are computed once and only the ``fc`` head is trained on them, which
  equals training the whole model with the frozen (eval-mode) backbone.
* The scikit-learn models (random forests, the fakeprint's logistic regression) are
  :mod:`synthdetect.models.forest`'s.
* Image models run channels_last (also faster on CPU); on CUDA with bf16 autocast, and
  image arrays that fit are uploaded to the GPU once, otherwise batches go through
  pinned memory. ``precision="bf16"`` trains with bf16 autocast on the CPU too (fp32
  weights and optimiser; the CPU's AVX-512 BF16 kernels), at the cost of numbers that
  differ from fp32 training by more than summation order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthdetect.cpu import configure_cpu
from synthdetect.models.networks import is_image_model, normalise

if TYPE_CHECKING:
    from synthdetect.models.resnet18 import FrozenResNet18

__all__ = [
    "PRECISIONS",
    "TrainResult",
    "backbone_features",
    "configure_cpu",
    "load_state_dict",
    "pick_device",
    "predict_logits",
    "predict_proba",
    "save_state_dict",
    "seed_everything",
    "set_threads",
    "train_classifier",
    "train_resnet18_head",
]

log = logging.getLogger(__name__)

ArrayPair = tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- set-up


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch (CPU and CUDA); prefer deterministic kernels.

    With ``deterministic`` torch uses deterministic algorithms where it has them
    (``warn_only=True``: ops without one warn instead of failing), cuDNN autotuning is
    off, and cuBLAS gets a fixed workspace (only effective before CUDA starts).
    CPU runs with the same seed and thread count give identical results.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:  # fastest kernels (cuDNN autotuning); GPU runs may then differ in the last bits
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


#: The name the evaluation and serving layers call :func:`configure_cpu` by.
set_threads = configure_cpu


def pick_device(prefer: str = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU. ``"cpu"``, ``"cuda"``, ``"cuda:1"``... as asked.

    Asking for CUDA where there is none raises ``RuntimeError`` instead of falling back
    silently.
    """
    prefer = (prefer or "auto").strip().lower()
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(prefer)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {prefer!r} requested but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {prefer!r} requested but MPS is not available here")
    return dev


def _as_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return pick_device("auto")
    return device if isinstance(device, torch.device) else pick_device(str(device))


#: ``precision`` of an image model: ``auto`` (bf16 autocast on CUDA, fp32 elsewhere),
#: ``fp32`` everywhere, or ``bf16`` autocast on every device
PRECISIONS = ("auto", "fp32", "bf16")


def _autocast(
    device: torch.device, images: bool, precision: str = "auto"
) -> contextlib.AbstractContextManager:
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if images and bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _is_images(X: np.ndarray) -> bool:
    return X.dtype == np.uint8 and X.ndim == 4 and X.shape[-1] == 3


# --------------------------------------------------------------------------- data


class _Data:
    """Batches of (x, y) on the device from a feature matrix or a uint8 NHWC image array.

    Host images are gathered into one uint8 buffer and normalised into one float buffer,
    both allocated once for ``batch_size`` rows: a batch is valid until the next call.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray | None,
        device: torch.device,
        batch_size: int | None = None,
    ) -> None:
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self.n = len(X)
        self.device = device
        self.images = _is_images(X)
        self.cuda = device.type == "cuda"
        if y is not None and not np.isin(np.asarray(y), (0, 1)).all():
            raise ValueError("labels must be 0 (human) or 1 (AI)")
        self.y = None if y is None else torch.as_tensor(np.asarray(y, dtype=np.float32))
        self.X_dev: torch.Tensor | None = None
        self.X = X
        if not self.images:
            if X.ndim != 2:
                raise ValueError(
                    f"expected features (N, F) or uint8 images (N, H, W, 3), {X.shape}"
                )
            self.X_dev = torch.as_tensor(np.asarray(X, dtype=np.float32)).to(device)
        elif self.cuda and X.nbytes <= _gpu_budget(device):
            self.X_dev = _upload(X, device)
        self._raw: np.ndarray | None = None  # the host batch buffers, made on first use
        self._norm: torch.Tensor | None = None
        self._rows = max(int(batch_size or 0), 1)
        if self.y is not None:
            self.y = self.y.to(device)

    def x(self, idx: np.ndarray | slice) -> torch.Tensor:
        if self.X_dev is not None:
            key = idx if isinstance(idx, slice) else torch.as_tensor(idx, device=self.device)
            xb = self.X_dev[key]
        else:  # images on host (CPU training, or too big for the GPU)
            xb = torch.from_numpy(self._gather(idx))
            if self.cuda:
                xb = xb.pin_memory().to(self.device, non_blocking=True)
        if not self.images:
            return xb
        out = None
        if not self.cuda:  # channels_last: faster convolutions on CPU and GPU
            if self._norm is None or len(self._norm) < len(xb):
                self._norm = torch.empty(
                    (max(self._rows, len(xb)), 3, *xb.shape[1:3]),
                    dtype=torch.float32,
                ).contiguous(memory_format=torch.channels_last)
            out = self._norm[: len(xb)]
        return normalise(xb, channels_last=True, out=out)

    def _gather(self, idx: np.ndarray | slice) -> np.ndarray:
        """The rows ``idx`` of the host images, C-contiguous, in the reused uint8 buffer."""
        rows = np.arange(self.n)[idx] if isinstance(idx, slice) else np.asarray(idx)
        if self._raw is None or len(self._raw) < len(rows):
            self._raw = np.empty((max(self._rows, len(rows)), *self.X.shape[1:]), np.uint8)
        buf = self._raw[: len(rows)]
        if isinstance(idx, slice):
            buf[...] = self.X[idx]  # one sequential read (a memmap slice is a view)
        else:  # mode="clip" writes straight into out ("raise" buffers), so check first
            if len(rows) and (rows.min() < 0 or rows.max() >= self.n):
                raise IndexError(f"batch rows outside 0..{self.n - 1}")
            np.take(self.X, rows, axis=0, out=buf, mode="clip")
        return buf

    def yb(self, idx: np.ndarray | slice) -> torch.Tensor:
        assert self.y is not None
        key = idx if isinstance(idx, slice) else torch.as_tensor(idx, device=self.device)
        return self.y[key]


def _gpu_budget(device: torch.device) -> int:
    free, _total = torch.cuda.mem_get_info(device)
    return free // 4


def _upload(X: np.ndarray, device: torch.device, chunk: int = 1024) -> torch.Tensor:
    out = torch.empty(X.shape, dtype=torch.uint8, device=device)
    for a in range(0, len(X), chunk):
        # a writable copy: torch.from_numpy warns on the read-only memmap of the image cache
        out[a : a + chunk].copy_(torch.from_numpy(np.array(X[a : a + chunk])))
    return out


def _prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    if is_image_model(model):
        return model.to(device, memory_format=torch.channels_last)
    return model.to(device)


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """A trained model (best validation epoch restored) and how training went.

    ``history`` has one row per epoch: ``epoch`` (1-based), ``train_loss`` (mean over
    the epoch's batches, train mode), ``val_loss`` and ``val_accuracy`` (eval mode,
    threshold P(AI) >= 0.5) and ``seconds`` (wall time of the epoch, validation
    included). ``setup_seconds`` is work done once before the epochs (the ResNet18
    backbone feature pass); ``seconds`` the whole call.
    """

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    best_val_loss: float
    device: str
    seconds: float
    setup_seconds: float = 0.0

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.history["seconds"].mean()) if len(self.history) else float("nan")


def _evaluate(
    model: nn.Module, data: _Data, batch_size: int, criterion: nn.Module, precision: str
) -> tuple[float, float]:
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.device)
    with torch.inference_mode(), _autocast(data.device, data.images, precision):
        for a in range(0, data.n, batch_size):
            sl = slice(a, min(a + batch_size, data.n))
            logits = model(data.x(sl)).float().reshape(-1)
            yb = data.yb(sl)
            loss_sum += criterion(logits, yb).double() * yb.numel()
            correct += ((logits >= 0).float() == yb).sum()
    n = max(data.n, 1)
    return float(loss_sum) / n, float(correct) / n


def train_classifier(
    model: nn.Module,
    train: ArrayPair,
    val: ArrayPair,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: torch.device | str | None = None,
    weight_decay: float = 0.0,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
    threads: int | None = None,
    deterministic: bool = True,
    precision: str = "auto",
) -> TrainResult:
    """Train ``model`` (1 logit) with BCEWithLogitsLoss and Adam; keep the best val epoch.

    ``train``/``val`` are ``(X, y)`` with ``y`` in {0, 1} (1 = AI) and ``X`` either a
    float matrix ``(N, F)`` or uint8 images ``(N, H, W, 3)`` (array or memmap),
    normalised per batch. Only parameters with ``requires_grad`` are optimised (a
    frozen ResNet18 trains its head only). ``transform`` (training batches only) gets
    the normalised batch tensor on the device and returns one of the same shape, e.g.
    an augmentation drawing from torch's global RNG, which is seeded here.

    Seeds everything with ``seed`` (shuffling, dropout); build the model after
    :func:`seed_everything` for a reproducible initialisation too. On CPU the same
    seed and thread count give an identical history and identical weights.
    ``deterministic=False`` lets CUDA pick its fastest (autotuned) kernels instead.
    ``threads`` sets torch's CPU threads (``None``: leave as is). ``precision``
    (:data:`PRECISIONS`) sets the autocast of an image model's training and validation
    passes. The model is returned on ``device`` with the best epoch's weights loaded.
    """
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    configure_cpu(threads)
    seed_everything(seed, deterministic=deterministic)
    dev = _as_device(device)
    t_start = time.perf_counter()
    model = _prepare_model(model, dev)
    tr, va = _Data(*train, dev, batch_size), _Data(*val, dev, batch_size)
    if tr.n == 0 or va.n == 0:
        raise ValueError(f"empty split: {tr.n} training and {va.n} validation samples")
    if tr.images != va.images:
        raise ValueError("train and val X must be the same kind (features or images)")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    # fused: one kernel for the whole parameter update (CPU and CUDA)
    optimiser = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    criterion = nn.BCEWithLogitsLoss()
    shuffler = torch.Generator().manual_seed(seed)
    n_buckets = (tr.n + batch_size - 1) // batch_size
    name = type(model).__name__

    rows: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), 0, None
    bar = _progress_bar(progress, epochs * n_buckets, f"train {name}")
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(tr.n, generator=shuffler).numpy()
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            for b in range(n_buckets):
                # sorted: sequential reads from a memmap; a batch's order changes nothing
                idx = np.sort(perm[b * batch_size : (b + 1) * batch_size])
                xb, yb = tr.x(idx), tr.yb(idx)
                if transform is not None:
                    xb = transform(xb)
                with _autocast(dev, tr.images, precision):
                    logits = model(xb)
                loss = criterion(logits.float().reshape(-1), yb)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                loss_sum += loss.detach().double() * len(idx)
                if bar is not None:
                    bar.update(1)
            train_loss = float(loss_sum) / tr.n
            val_loss, val_acc = _evaluate(model, va, batch_size, criterion, precision)
            secs = time.perf_counter() - t0
            rows.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "seconds": secs,
                }
            )
            improved = val_loss < best_loss
            if improved:
                best_loss, best_epoch = val_loss, epoch
                best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                }
            log.info(
                "%s epoch %d/%d train_loss=%.4f val_loss=%.4f val_acc=%.4f %.1fs (%.0f/s)%s",
                name,
                epoch,
                epochs,
                train_loss,
                val_loss,
                val_acc,
                secs,
                tr.n / secs if secs > 0 else float("inf"),
                " *" if improved else "",
            )
    finally:
        if bar is not None:
            bar.close()
    if best_state is None:  # validation loss was never finite: keep the last epoch
        best_epoch, best_loss = epochs, float("nan")
        log.warning("%s: validation loss never finite; keeping the last epoch", name)
    else:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(
        rows, columns=["epoch", "train_loss", "val_loss", "val_accuracy", "seconds"]
    )
    log.info("%s: best epoch %d (val_loss=%.4f)", name, best_epoch, best_loss)
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_loss,
        device=str(dev),
        seconds=time.perf_counter() - t_start,
    )


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bars are optional; the per-epoch log lines remain
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, mininterval=1.0)


# --------------------------------------------------------------------------- ResNet18 head


@contextlib.contextmanager
def _without_head(model: nn.Module):
    fc, was_training = model.fc, model.training
    model.fc = nn.Identity()
    try:
        yield model
    finally:
        model.fc = fc
        model.train(was_training)


def backbone_features(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    *,
    progress: bool = False,
) -> np.ndarray:
    """The ResNet's pooled 512-d features (input of ``fc``) of uint8 NHWC images, float32.

    Runs the backbone in eval mode without gradients, so for a frozen backbone
    ``model.fc(features) == model(images)``.
    """
    dev = _as_device(device)
    configure_cpu()
    model = _prepare_model(model, dev)
    data = _Data(images, None, dev, batch_size)
    if not data.images:
        raise ValueError("backbone_features needs uint8 images (N, H, W, 3)")
    out = np.empty((data.n, model.fc.in_features), dtype=np.float32)
    bar = _progress_bar(progress, (data.n + batch_size - 1) // batch_size, "backbone")
    with _without_head(model) as backbone:
        backbone.eval()
        with torch.inference_mode(), _autocast(dev, True):
            for a in range(0, data.n, batch_size):
                b = min(a + batch_size, data.n)
                out[a:b] = backbone(data.x(slice(a, b))).float().cpu().numpy()
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return out


def train_resnet18_head(
    model: FrozenResNet18,
    train_images: np.ndarray,
    y_train: np.ndarray,
    val_images: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: torch.device | str | None = None,
    weight_decay: float = 0.0,
    progress: bool = True,
    threads: int | None = None,
    feature_batch_size: int | None = None,
    deterministic: bool = True,
) -> TrainResult:
    """Train a frozen ResNet18's ``fc`` on backbone features computed once.

    Same result as :func:`train_classifier` on the full model (same seed, batch size,
    optimiser; the frozen backbone is a fixed function in eval mode), at the cost of one
    backbone pass instead of one per epoch. No augmentation here: with a ``transform``
    the features change every epoch, so use :func:`train_classifier` for that.
    Returns the full model (backbone + best head) on ``device``; ``setup_seconds`` is
    the feature pass.
    """
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if not trainable or any(not n.startswith("fc.") for n in trainable):
        raise ValueError("train_resnet18_head needs a ResNet whose only trainable part is fc")
    configure_cpu(threads)
    seed_everything(seed, deterministic=deterministic)
    dev = _as_device(device)
    t0 = time.perf_counter()
    fbs = feature_batch_size or max(batch_size, 64)
    f_train = backbone_features(model, train_images, fbs, dev, progress=progress)
    f_val = backbone_features(model, val_images, fbs, dev, progress=progress)
    setup = time.perf_counter() - t0
    log.info(
        "ResNet18 backbone features: %d images in %.1fs (%.0f img/s)",
        len(f_train) + len(f_val),
        setup,
        (len(f_train) + len(f_val)) / setup if setup > 0 else float("inf"),
    )
    head = train_classifier(
        model.fc,
        (f_train, y_train),
        (f_val, y_val),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=dev,
        weight_decay=weight_decay,
        progress=progress,
        deterministic=deterministic,
    )
    model.eval()
    return TrainResult(
        model=model,
        history=head.history,
        best_epoch=head.best_epoch,
        best_val_loss=head.best_val_loss,
        device=str(dev),
        seconds=time.perf_counter() - t0,
        setup_seconds=setup,
    )


# --------------------------------------------------------------------------- prediction


def predict_logits(
    model: nn.Module,
    X: np.ndarray,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Logits, shape ``(N,)`` float32, of features or uint8 images (eval mode, no grad).

    ``device`` defaults to where the model's parameters are.
    """
    if device is None:
        p = next(model.parameters(), None)
        dev = p.device if p is not None else torch.device("cpu")
    else:
        dev = _as_device(device)
    configure_cpu()
    model = _prepare_model(model, dev)
    data = _Data(X, None, dev, batch_size)
    out = np.empty(data.n, dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), _autocast(dev, data.images):
            for a in range(0, data.n, batch_size):
                b = min(a + batch_size, data.n)
                out[a:b] = model(data.x(slice(a, b))).float().reshape(-1).cpu().numpy()
    finally:
        model.train(was_training)
    return out


def predict_proba(
    model: nn.Module,
    X: np.ndarray,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """P(AI) = sigmoid(logit), shape ``(N,)`` float64."""
    z = predict_logits(model, X, batch_size, device).astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = sigmoid, without overflow warnings


# --------------------------------------------------------------------------- persistence


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".tmp")


def save_state_dict(model: nn.Module, path: str | os.PathLike) -> None:
    """Save ``model.state_dict()`` (tensors on CPU) with ``torch.save``, atomically."""
    path = Path(path)
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    tmp = _atomic_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state_dict(model: nn.Module, path: str | os.PathLike, *, strict: bool = True) -> nn.Module:
    """Load a state dict saved by :func:`save_state_dict` (``weights_only=True``) into
    ``model`` (built with the same architecture; for ResNet18 ``build_resnet18("none")``)
    and return the model in eval mode."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=strict)
    return model.eval()
