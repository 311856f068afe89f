"""The "autoencoder" generator: a small waveform autoencoder shaped like a neural codec.

Afchar et al. (Deezer, ICASSP 2025) make AI-class audio by passing human tracks through
neural autoencoders, so both classes carry the same music and only the generation path
differs. No codec weights can be downloaded here, so this module trains its own: a strided
Conv1d encoder, a narrow latent (a real bottleneck, so reconstructions are imperfect, as a
codec's are) and one of two decoders:

``"transposed"``
    strided ``ConvTranspose1d`` layers, as in most codec decoders (EnCodec, DAC). Their
    ISMIR 2025 paper ("A Fourier Explanation of AI-music Artifacts") shows why these leave
    periodic peaks in the average spectrum: a transposed convolution of stride ``s`` is
    periodic in time with period ``s``, so the whole decoder is periodic with period
    ``hop = prod(strides)`` and its output has lines at multiples of ``sr / hop``. The
    lines are a property of the architecture, present before any training.
``"upsample"``
    nearest-neighbour ``nn.Upsample`` followed by a ``Conv1d``. Repeating samples is a
    box filter whose nulls sit exactly on the images a constant (or slowly varying) input
    would create, so this decoder does not put the same peak pattern in the spectrum:
    a detector trained on one design can be tested on the other (an unseen generator).

Training (:func:`train_autoencoder`) is short and seeded and stops after ``max_steps``;
:func:`reconstruct` runs a trained model over a whole track in chunks.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthdetect.corpora.autoencoder_spec import DECODERS, AutoencoderSpec, check_settings
from synthdetect.cpu import configure_cpu

__all__ = [
    "DECODERS",
    "AutoencoderSpec",
    "WaveAutoencoder",
    "check_settings",
    "load_autoencoder",
    "multires_stft_loss",
    "reconstruct",
    "reconstruction_loss",
    "save_autoencoder",
    "train_autoencoder",
]

log = logging.getLogger(__name__)

_NAME = "generator autoencoder"


def _int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


_FORMAT = "synthdetect-autoencoder/1"
_STFT_SIZES = (256, 512, 1024)


# --------------------------------------------------------------------------- model


class WaveAutoencoder(nn.Module):
    """Conv1d encoder -> ``latent``-channel bottleneck -> transposed or upsample decoder.

    Input and output are ``(batch, 1, samples)``. Inputs are zero-padded at the end to a
    multiple of ``hop`` and the output is cropped back, so any length works.
    """

    def __init__(self, spec: AutoencoderSpec):
        super().__init__()
        spec = check_settings(spec)
        self.spec = spec
        w, k = spec.widths, spec.kernel_size
        enc: list[nn.Module] = [nn.Conv1d(1, w[0], k, padding=k // 2), nn.ELU()]
        for i, s in enumerate(spec.strides):
            enc += [nn.Conv1d(w[i], w[i + 1], 2 * s, stride=s, padding=(s + 1) // 2), nn.ELU()]
        enc.append(nn.Conv1d(w[-1], spec.latent, 3, padding=1))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv1d(spec.latent, w[-1], k, padding=k // 2), nn.ELU()]
        for i in reversed(range(len(spec.strides))):
            s = spec.strides[i]
            if spec.decoder == "transposed":
                # kernel 2s, padding ceil(s/2), output_padding s % 2: exactly s * length out
                up: list[nn.Module] = [
                    nn.ConvTranspose1d(
                        w[i + 1],
                        w[i],
                        2 * s,
                        stride=s,
                        padding=(s + 1) // 2,
                        output_padding=s % 2,
                    )
                ]
            else:
                up = [
                    nn.Upsample(scale_factor=s, mode="nearest"),
                    nn.Conv1d(w[i + 1], w[i], k, padding=k // 2),
                ]
            dec += [*up, nn.ELU()]
        dec.append(nn.Conv1d(w[0], 1, k, padding=k // 2))
        self.decoder = nn.Sequential(*dec)

    @property
    def hop(self) -> int:
        return self.spec.hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        pad = -n % self.hop
        if pad:
            x = F.pad(x, (0, pad))
        return self.decoder(self.encoder(x))[..., :n]

    def context(self) -> int:
        """Samples of context either side that make a chunk's output equal the whole-track
        output: the receptive field of encoder + decoder, rounded up to whole ``hop``s."""
        k, hop = self.spec.kernel_size, self.hop
        half = k // 2
        reach, rate = half, 1  # one side, in input samples; rate = spacing of the layer's input
        for s in self.spec.strides:  # strided conv: kernel 2s
            reach += 2 * s * rate
            rate *= s
        reach += (1 + half) * rate  # latent conv, decoder's first conv
        for s in reversed(self.spec.strides):
            reach += 2 * rate  # a transposed or repeated output sees <= 2 input frames
            rate //= s
            reach += half * rate  # the upsample decoder's conv
        reach += half
        return hop * (-(-reach // hop) + 1)


# --------------------------------------------------------------------------- loss


def multires_stft_loss(
    y_hat: torch.Tensor, y: torch.Tensor, fft_sizes: Sequence[int] = _STFT_SIZES
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over STFT sizes (hop = size / 4).

    The waveform L1 alone lets a model smear high frequencies; matching magnitudes at
    several resolutions makes the reconstruction sound like its input.
    """
    y_hat, y = y_hat.reshape(-1, y_hat.shape[-1]), y.reshape(-1, y.shape[-1])
    total = y.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=y.device, dtype=y.dtype)
        kw = {"n_fft": n_fft, "hop_length": n_fft // 4, "window": window, "return_complex": True}
        mag_hat = torch.stft(y_hat, **kw).abs().clamp_min(1e-7)
        mag = torch.stft(y, **kw).abs().clamp_min(1e-7)
        sc = torch.linalg.norm(mag - mag_hat) / torch.linalg.norm(mag).clamp_min(1e-7)
        total = total + sc + F.l1_loss(mag_hat.log(), mag.log())
    return total / len(fft_sizes)


def reconstruction_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Waveform L1 + multi-resolution STFT loss (the training objective)."""
    return F.l1_loss(y_hat, y) + multires_stft_loss(y_hat, y)


# --------------------------------------------------------------------------- training


def _clip_list(clips: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(clips, np.ndarray):
        clips = [clips] if clips.ndim == 1 else list(clips)
    out = []
    for i, c in enumerate(clips):
        c = np.asarray(c, dtype=np.float32)
        if c.ndim != 1 or c.size == 0:
            raise ValueError(f"{_NAME}: clip {i} must be non-empty mono (1-D), got {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{_NAME}: clip {i} has non-finite samples")
        out.append(c)
    if not out:
        raise ValueError(f"{_NAME}: no clips to train on")
    return out


def _positive(key: str, value: Any, kind: type = int) -> None:
    ok = (
        _int(value)
        if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    )
    if not ok or value <= 0:
        raise ValueError(f"{_NAME}: {key} must be a positive {kind.__name__}, got {value!r}")


def train_autoencoder(
    clips: Sequence[np.ndarray] | np.ndarray,
    spec: AutoencoderSpec | Mapping[str, Any],
    *,
    seed: int,
    max_steps: int,
    max_seconds: float,
    batch_size: int = 8,
    segment_samples: int = 8192,
    lr: float = 1e-3,
    threads: int = 1,
) -> tuple[WaveAutoencoder, dict[str, Any]]:
    """Train a :class:`WaveAutoencoder` on random segments of float32 mono ``clips``.

    Each step draws ``batch_size`` segments of ``segment_samples`` (a clip, then an offset,
    from a seeded ``torch.Generator``; shorter clips are zero-padded) and takes one Adam
    step on :func:`reconstruction_loss`.

    Training stops after ``max_steps``. ``max_seconds`` of wall time is only a safety cap:
    configure ``max_steps`` so that it is reached first, because weights that stop on the
    clock depend on the machine's speed. When the step bound stops training, the weights
    depend only on the clips, ``spec``, ``seed`` and ``threads``: torch's thread count
    changes the order of floating-point sums, so it is set here from ``threads`` (and
    restored afterwards) and must be fixed for byte-identical weights. One thread is the
    default because workflow jobs share the cores: torch's spinning worker threads slow down
    many times over when the machine is oversubscribed.

    Returns the model (in eval mode) and a history: ``loss`` per step, ``steps``,
    ``stopped_by`` (``"max_steps"`` or ``"max_seconds"``), ``wall_seconds`` and
    ``steps_per_second`` (the last two for reports only).
    """
    spec = check_settings(spec)
    data = _clip_list(clips)
    for key, value in (
        ("max_steps", max_steps),
        ("batch_size", batch_size),
        ("segment_samples", segment_samples),
        ("threads", threads),
    ):
        _positive(key, value)
    _positive("max_seconds", max_seconds, float)
    _positive("lr", lr, float)
    if not _int(seed) or seed < 0:
        raise ValueError(f"{_NAME}: seed must be a non-negative integer, got {seed!r}")

    lengths = torch.tensor([c.size for c in data])
    tensors = [torch.from_numpy(c) for c in data]
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    configure_cpu(int(threads))
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = WaveAutoencoder(spec)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=float(lr))
        gen = torch.Generator().manual_seed(seed)
        losses: list[float] = []
        stopped_by = "max_steps"
        start = time.perf_counter()
        batch = torch.zeros(batch_size, 1, segment_samples)
        for _step in range(max_steps):
            if time.perf_counter() - start > max_seconds:
                stopped_by = "max_seconds"
                log.warning(
                    "%s: stopped on the %g s wall-time cap after %d of %d steps; these "
                    "weights depend on the machine's speed (raise max_seconds or lower "
                    "max_steps)",
                    _NAME,
                    max_seconds,
                    len(losses),
                    max_steps,
                )
                break
            which = torch.randint(len(data), (batch_size,), generator=gen)
            u = torch.rand(batch_size, generator=gen, dtype=torch.float64)
            batch.zero_()
            for b in range(batch_size):
                c = int(which[b])
                room = max(int(lengths[c]) - segment_samples, 0)
                off = int(u[b] * (room + 1))
                seg = tensors[c][off : off + segment_samples]
                batch[b, 0, : seg.numel()] = seg
            loss = reconstruction_loss(model(batch), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    model.eval()
    history = {
        "loss": losses,
        "steps": len(losses),
        "stopped_by": stopped_by,
        "wall_seconds": wall,
        "steps_per_second": len(losses) / wall if wall > 0 else float("nan"),
        "threads": int(threads),
    }
    return model, history


# --------------------------------------------------------------------------- inference


def reconstruct(
    model: WaveAutoencoder,
    y: np.ndarray,
    *,
    chunk_samples: int = 131072,
    threads: int | None = None,
) -> np.ndarray:
    """Pass mono ``y`` through ``model`` in chunks; float32, ``len(y)`` samples.

    Each chunk starts on a multiple of ``hop`` and is given :meth:`WaveAutoencoder.context`
    samples of real neighbouring audio either side, so the chunks join without seams and
    the decoder's periodic pattern keeps one phase across the whole track. ``threads``
    (restored afterwards) fixes torch's thread count, which byte-identical output needs;
    ``None`` keeps the current one.
    """
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{_NAME}: expected non-empty mono audio (1-D), got shape {x.shape}")
    _positive("chunk_samples", chunk_samples)
    if threads is not None:
        _positive("threads", threads)
    hop, ctx = model.hop, model.context()
    chunk = max(hop, chunk_samples - chunk_samples % hop)
    n = x.size
    padded = np.zeros(ctx + n + ctx + chunk, dtype=np.float32)
    padded[ctx : ctx + n] = x
    xt = torch.from_numpy(padded)
    out = np.empty(n, dtype=np.float32)
    was_training = model.training
    prev_threads = torch.get_num_threads()
    configure_cpu(threads)
    model.eval()
    try:
        with torch.inference_mode():
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                # padded[a : a + 2 ctx + chunk] = x[a - ctx : a + chunk + ctx]
                seg = xt[a : a + 2 * ctx + (b - a)].reshape(1, 1, -1)
                out[a:b] = model(seg)[0, 0, ctx : ctx + (b - a)].numpy()
    finally:
        model.train(was_training)
        torch.set_num_threads(prev_threads)
    return out


# --------------------------------------------------------------------------- persistence


def save_autoencoder(
    model: WaveAutoencoder, spec: AutoencoderSpec | None, path: str | os.PathLike
) -> None:
    """Save the spec (plain types) and the state dict in one ``torch.save`` file, atomically.

    ``spec`` defaults to the model's own and must match it.
    """
    spec = model.spec if spec is None else check_settings(spec)
    if spec != model.spec:
        raise ValueError(f"{_NAME}: spec {spec} does not match the model's {model.spec}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": _FORMAT, "spec": spec.to_dict(), "state_dict": state}, tmp)
    os.replace(tmp, path)


def load_autoencoder(path: str | os.PathLike) -> WaveAutoencoder:
    """Rebuild a model saved by :func:`save_autoencoder` (read with ``weights_only=True``)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a {_FORMAT} file")
    model = WaveAutoencoder(check_settings(blob["spec"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval()
