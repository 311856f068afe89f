"""The image the models see: a dB spectrogram colored blue (quiet) to red (loud).

The paper drew its spectrograms with ``librosa.display.specshow`` on
``amplitude_to_db(|STFT|)`` (reference 1.0). That data is signed, so specshow picks the
diverging ``coolwarm`` map and scales it from the image's minimum to its maximum: energy
shows red on a blue background, which is why the paper's color features use R and B.
We reproduce that mapping without a matplotlib figure per track: dB values become 256
color indices, the index image is area-resized to the model's input size, and a
256-entry color table turns it into RGB.

Speed (the per-track stage runs thousands of times; see ``bench/preprocess.py``):

* :func:`stft_db` computes ``librosa.amplitude_to_db(np.abs(librosa.stft(y)))`` without
  librosa: the same zero-padded frames and Hann window (:func:`hann_window`, scipy's
  formula), the FFT on cache-sized blocks of contiguous frames instead of strided
  columns, and the dB steps in place; a process that makes spectrograms no longer
  imports librosa. Float64 audio gives librosa's values bit for bit; float32 audio
  (the clips) is transformed in float32, faster and within float32 rounding of librosa
  (:func:`stft_magnitude`).
* :func:`render_index` scales the (time, frequency) array where it lies and lets PIL
  rotate it instead of copying a flipped, transposed float array twice.
* PNGs are written as 8-bit palette images (:func:`save_palette_png`): the color
  indices plus the color table. They decode to exactly the RGB pixels of
  :func:`spectrogram_image`, and are smaller and faster to write than RGB PNGs
  (bench/README.md has the figures).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

#: zlib level for PNGs: fixed so the bytes are reproducible; 6 is PIL's own default.
PNG_COMPRESS_LEVEL = 6

#: Frames per FFT call in :func:`stft_magnitude`: small enough to stay in cache.
_FFT_BLOCK = 64


@lru_cache(maxsize=8)
def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window, float64: ``scipy.signal.get_window("hann", n)`` bit for bit.

    (scipy's ``general_cosine`` formula, without importing scipy.signal.)
    """
    if n <= 1:
        w = np.ones(n, dtype=np.float64)
    else:
        fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
        w = np.zeros(n + 1, dtype=np.float64)
        for k, a in enumerate((0.5, 0.5)):
            w += a * np.cos(k * fac)
        w = w[:-1]
    w.flags.writeable = False
    return w


def stft_magnitude(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=, hop_length=)).T``: shape (frames, bins).

    librosa's defaults: periodic Hann window of ``n_fft``, centred frames (``n_fft // 2``
    zeros padded on both sides). Float64 input gives librosa's values bit for bit. Float32
    input (every clip) is transformed in float32 (scipy.fft), where librosa computes in
    float64 and stores complex64: faster, values within float32 rounding of librosa's
    (bench/README.md says how many pixels of a demo image move).
    """
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating) or y.ndim != 1:
        raise ValueError(f"audio must be a 1-d floating-point array, not {y.dtype} {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("audio buffer is not finite everywhere")
    if n_fft > y.shape[0]:
        warnings.warn(
            f"n_fft={n_fft} is too large for input signal of length={y.shape[0]}", stacklevel=2
        )
    pad = n_fft // 2
    padded = np.zeros(y.shape[0] + 2 * pad, dtype=y.dtype)
    padded[pad : pad + y.shape[0]] = y
    if padded.shape[0] < n_fft:
        raise ValueError(f"n_fft={n_fft} is too large for input signal of length={y.shape[0]}")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = hann_window(n_fft)
    n_frames, n_bins = frames.shape[0], n_fft // 2 + 1
    if y.dtype == np.float32:
        return _stft_magnitude_f32(frames, window.astype(np.float32), n_bins)
    complex_dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    magnitude = np.empty((n_frames, n_bins), dtype=np.float32 if y.dtype == np.float32 else y.dtype)
    rows = min(_FFT_BLOCK, n_frames)
    block = np.empty((rows, n_fft), dtype=np.float64)
    spec = np.empty((rows, n_bins), dtype=np.complex128)
    spec_out = spec if complex_dtype == np.complex128 else np.empty((rows, n_bins), complex_dtype)
    for a in range(0, n_frames, rows):
        k = min(rows, n_frames - a)
        np.multiply(frames[a : a + k], window, out=block[:k])
        np.fft.rfft(block[:k], axis=-1, out=spec[:k])
        if spec_out is not spec:  # librosa stores the float64 FFT as complex64
            spec_out[:k] = spec[:k]
        np.abs(spec_out[:k], out=magnitude[a : a + k])
    return magnitude


def _stft_magnitude_f32(frames: np.ndarray, window: np.ndarray, n_bins: int) -> np.ndarray:
    import scipy.fft  # single-precision transforms (numpy's rfft computes in float64)

    n_frames, n_fft = frames.shape
    magnitude = np.empty((n_frames, n_bins), dtype=np.float32)
    rows = min(_FFT_BLOCK, n_frames)
    block = np.empty((rows, n_fft), dtype=np.float32)
    for a in range(0, n_frames, rows):
        k = min(rows, n_frames - a)
        np.multiply(frames[a : a + k], window, out=block[:k])
        np.abs(scipy.fft.rfft(block[:k], axis=-1), out=magnitude[a : a + k])
    return magnitude


def amplitude_to_db(
    magnitude: np.ndarray, *, ref: float | str, top_db: float | None, amin: float = 1e-5
) -> np.ndarray:
    """``librosa.amplitude_to_db(magnitude, ref=, top_db=)`` bit for bit, in place.

    ``magnitude`` (non-negative, overwritten) is returned as dB. Every step and every
    scalar type is librosa's (``power_to_db`` on the squared magnitude), so the rounding
    is too.
    """
    ref_value = np.max(magnitude) if ref == "max" else np.abs(ref)
    ref_power, amin_power = ref_value**2, amin**2
    power = np.square(magnitude, out=magnitude)
    log_spec = np.maximum(amin_power, power, out=power)
    np.log10(log_spec, out=log_spec)
    np.multiply(10.0, log_spec, out=log_spec)
    offset = 10.0 * np.log10(np.maximum(amin_power, np.abs(ref_power)))
    if offset != 0:  # x - 0.0 == x: skip a pass for ref=1.0
        log_spec -= offset
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        np.maximum(log_spec, log_spec.max() - top_db, out=log_spec)
    return log_spec


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
    The values are ``librosa.amplitude_to_db(np.abs(librosa.stft(y)), ...)`` exactly
    (as float32); the array is a transposed view of a (frames, bins) array.
    """
    if scale not in ("linear", "mel"):
        raise ValueError(f"spectrogram.scale must be 'linear' or 'mel', not {scale!r}")
    S = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length).T
    if scale == "mel":
        import librosa  # only the mel filter bank; the linear path never imports librosa

        S = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels) @ S
    return amplitude_to_db(S, ref=ref, top_db=top_db).astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def color_table(cmap: str) -> np.ndarray:
    """The colormap sampled at 256 levels as uint8 RGB (matplotlib's own table)."""
    from matplotlib import colormaps  # only the table is needed, never a figure

    rgba = colormaps[cmap](np.linspace(0.0, 1.0, 256))
    table = np.round(rgba[:, :3] * 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def render_index(
    db: np.ndarray,
    *,
    size: tuple[int, int] = (224, 224),
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """The color indices (H, W) uint8 of :func:`render`: the image before its color table."""
    return _render_index(db, size=size, vmin=vmin, vmax=vmax, overwrite=False)


def _render_index(
    db: np.ndarray,
    *,
    size: tuple[int, int],
    vmin: float | None,
    vmax: float | None,
    overwrite: bool,
) -> np.ndarray:
    """:func:`render_index`; ``overwrite=True`` scales ``db`` in place (saves a copy)."""
    lo = float(db.min()) if vmin is None else float(vmin)
    hi = float(db.max()) if vmax is None else float(vmax)
    gain = 255.0 / max(hi - lo, 1e-6)
    height, width = size
    if db.ndim == 2 and db.T.flags.c_contiguous and db.dtype == np.float32:
        # (frames, bins) in memory, as stft_db returns it: scale it where it lies, then
        # PIL's rotation by 90 degrees is the flip + transpose, on the float image.
        scaled = np.subtract(db.T, lo, out=db.T if overwrite and db.flags.writeable else None)
        scaled *= gain
        index = Image.fromarray(scaled).transpose(Image.Transpose.ROTATE_90)
    else:
        scaled = (db[::-1] - lo) * gain
        index = Image.fromarray(np.ascontiguousarray(scaled, dtype=np.float32), mode="F")
    index = np.asarray(index.resize((width, height), Image.Resampling.BOX))
    return np.clip(np.rint(index), 0, 255).astype(np.uint8)


def render(
    db: np.ndarray,
    *,
    size: tuple[int, int] = (224, 224),
    cmap: str = "coolwarm",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Color a dB spectrogram into an (H, W, 3) uint8 image, low frequencies at the bottom.

    ``vmin``/``vmax`` default to the image's own range, as specshow does.
    """
    return color_table(cmap)[render_index(db, size=size, vmin=vmin, vmax=vmax)]


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB image as PNG atomically, with reproducible bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image, mode="RGB").save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    os.replace(tmp, path)


def save_palette_png(index: np.ndarray, path: str | os.PathLike, *, cmap: str) -> None:
    """Write color indices (H, W) uint8 as an 8-bit palette PNG of ``cmap``, atomically.

    Decoded to RGB (:func:`load_png`, any image viewer) it is exactly
    ``color_table(cmap)[index]``, i.e. :func:`spectrogram_image`'s pixels.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8))
    image.putpalette(color_table(cmap).tobytes())
    image.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    os.replace(tmp, path)


def load_png(path: str | os.PathLike) -> np.ndarray:
    """Read a spectrogram PNG (RGB or palette) as (H, W, 3) uint8."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


_STFT_KEYS = ("n_fft", "hop_length", "ref", "top_db", "scale", "n_mels")
_RENDER_KEYS = ("vmin", "vmax")


def spectrogram_index(y: np.ndarray, *, sample_rate: int, **params) -> np.ndarray:
    """The spectrogram stage from samples to color indices (H, W) uint8.

    ``params`` are the keys of the config's ``spectrogram`` section; ``cmap`` is not
    needed here (it only picks the color table).
    """
    db = stft_db(y, sample_rate=sample_rate, **{k: params[k] for k in _STFT_KEYS if k in params})
    size = tuple(params.get("size", (224, 224)))
    limits = {k: params.get(k) for k in _RENDER_KEYS}
    return _render_index(db, size=size, **limits, overwrite=True)  # db is ours to reuse


def spectrogram_image(y: np.ndarray, *, sample_rate: int, **params) -> np.ndarray:
    """The spectrogram stage from samples to RGB, with the configured parameters.

    ``params`` are the keys of the config's ``spectrogram`` section.
    """
    index = spectrogram_index(y, sample_rate=sample_rate, **params)
    return color_table(params.get("cmap", "coolwarm"))[index]
