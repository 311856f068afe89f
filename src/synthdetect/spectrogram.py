"""The image the models see: a dB spectrogram coloured blue (quiet) to red (loud).

The paper drew its spectrograms with ``librosa.display.specshow`` on
``amplitude_to_db(|STFT|)`` (reference 1.0). That data is signed, so specshow picks the
diverging ``coolwarm`` map and scales it from the image's minimum to its maximum: energy
shows red on a blue background, which is why the paper's colour features use R and B.
We reproduce that mapping without a matplotlib figure per track: dB values become 256
colour indices, the index image is area-resized to the model's input size, and a
256-entry colour table turns it into RGB.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
from PIL import Image

#: zlib level for PNGs: fixed so the bytes are reproducible; 6 is PIL's own default.
PNG_COMPRESS_LEVEL = 6


def stft_db(
    y: np.ndarray,
    *,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    ref: float | str = 1.0,
    top_db: float | None = 80.0,
    scale: str = "linear",
    n_mels: int = 128,
) -> np.ndarray:
    """dB magnitude spectrogram, frequency on axis 0 (lowest bin first).

    ``ref`` is a number (librosa's default 1.0, as the paper) or ``"max"``;
    ``scale="mel"`` gives a mel spectrogram with ``n_mels`` bands instead of STFT bins.
    """
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    if scale == "mel":
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        S = mel @ S
    elif scale != "linear":
        raise ValueError(f"spectrogram.scale must be 'linear' or 'mel', not {scale!r}")
    ref_value = np.max if ref == "max" else float(ref)
    return librosa.amplitude_to_db(S, ref=ref_value, top_db=top_db).astype(np.float32)


@lru_cache(maxsize=8)
def colour_table(cmap: str) -> np.ndarray:
    """The colormap sampled at 256 levels as uint8 RGB (matplotlib's own table)."""
    from matplotlib import colormaps  # only the table is needed, never a figure

    rgba = colormaps[cmap](np.linspace(0.0, 1.0, 256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def render(
    db: np.ndarray,
    *,
    size: tuple[int, int] = (224, 224),
    cmap: str = "coolwarm",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Colour a dB spectrogram into an (H, W, 3) uint8 image, low frequencies at the bottom.

    ``vmin``/``vmax`` default to the image's own range, as specshow does.
    """
    lo = float(db.min()) if vmin is None else float(vmin)
    hi = float(db.max()) if vmax is None else float(vmax)
    scaled = (db[::-1] - lo) * (255.0 / max(hi - lo, 1e-6))
    height, width = size
    index = Image.fromarray(np.ascontiguousarray(scaled, dtype=np.float32), mode="F")
    index = np.asarray(index.resize((width, height), Image.Resampling.BOX))
    index = np.clip(np.rint(index), 0, 255).astype(np.uint8)
    return colour_table(cmap)[index]


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB image as PNG atomically, with reproducible bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image, mode="RGB").save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    os.replace(tmp, path)


def load_png(path: str | os.PathLike) -> np.ndarray:
    """Read a spectrogram PNG as (H, W, 3) uint8."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def spectrogram_image(y: np.ndarray, *, sample_rate: int, **params) -> np.ndarray:
    """The spectrogram stage from samples to RGB, with the configured parameters.

    ``params`` are the keys of the config's ``spectrogram`` section.
    """
    stft_keys = ("n_fft", "hop_length", "ref", "top_db", "scale", "n_mels")
    render_keys = ("cmap", "vmin", "vmax")
    db = stft_db(y, sample_rate=sample_rate, **{k: params[k] for k in stft_keys if k in params})
    size = tuple(params.get("size", (224, 224)))
    return render(db, size=size, **{k: params[k] for k in render_keys if k in params})
