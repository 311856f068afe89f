"""Reading tracks: probe a candidate, cut its 30 s window, write the clip.

Everything decodes with soundfile (libsndfile reads MP3, OGG, Opus and FLAC), and only
the window that is needed: ``sf.read(start=, stop=)`` seeks, so a 30 s crop out of a
150 s track costs about as much as decoding 30 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

#: Clips are stored losslessly so the clip stage adds no codec of its own: 16-bit PCM
#: WAV. FLAC holds the same samples in ~55-85 % of the bytes, but writing and reading it
#: back cost ~17 ms per track against ~2.5 ms, a quarter of the whole per-track stage
#: (bench/preprocess.py); the spectrogram sees identical samples either way.
CLIP_FORMAT = "WAV"
CLIP_SUBTYPE = "PCM_16"


class AudioError(ValueError):
    """A track that cannot be used, with the reason in words."""


@dataclass(frozen=True)
class Probe:
    """What a candidate track looks like, or why it cannot be used."""

    ok: bool
    reason: str
    duration_s: float
    samplerate: int


def probe(
    path: str | os.PathLike,
    *,
    offset_s: float = 0.0,
    seconds: float = 30.0,
    min_seconds: float | None = None,
    silence_dbfs: float = -60.0,
) -> Probe:
    """Check that a track decodes, is long enough and is not silent in its window.

    ``min_seconds`` (default: ``seconds`` less 0.5 s of encoder padding) is the shortest
    usable track; the window ``[offset_s, offset_s + seconds)`` must hold audio louder
    than ``silence_dbfs`` RMS.
    """
    min_seconds = seconds - 0.5 if min_seconds is None else min_seconds
    try:
        info = sf.info(str(path))
        duration = info.frames / info.samplerate if info.samplerate else 0.0
        if duration < min_seconds:
            return Probe(
                False,
                f"too short: {duration:.2f} s < {min_seconds:.2f} s",
                duration,
                info.samplerate,
            )
        y = read_window(path, offset_s, seconds, samplerate=None)
    except (sf.LibsndfileError, RuntimeError, AudioError, OSError) as err:
        return Probe(False, f"undecodable: {err}", 0.0, 0)
    if y.size == 0:
        return Probe(False, "no audio frames in window", duration, info.samplerate)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    level = 20 * np.log10(max(rms, 1e-12))
    if level < silence_dbfs:
        return Probe(
            False,
            f"silent: RMS {level:.1f} dBFS < {silence_dbfs:.1f} dBFS",
            duration,
            info.samplerate,
        )
    return Probe(True, "", duration, info.samplerate)


def source_rate(path: str | os.PathLike) -> int:
    """The sample rate a file decodes at."""
    return sf.info(str(path)).samplerate


def read_window(
    path: str | os.PathLike, offset_s: float, seconds: float, *, samplerate: int | None
) -> np.ndarray:
    """Decode ``seconds`` of mono float32 audio from ``offset_s``, resampled to ``samplerate``.

    A window that runs past the end is zero-padded (MP3 decoders differ by a few ms of
    encoder delay); ``samplerate=None`` keeps the file's own rate.
    """
    with sf.SoundFile(str(path)) as f:
        sr = f.samplerate
        start = int(round(offset_s * sr))
        n = int(round(seconds * sr))
        if start >= f.frames:
            raise AudioError(f"{path}: window starts at {offset_s:.2f} s, past the end")
        f.seek(start)
        y = f.read(n, dtype="float32", always_2d=True)
    y = downmix(y)
    if y.shape[0] < n:
        y = np.pad(y, (0, n - y.shape[0]))
    if samplerate is not None and samplerate != sr:
        y = resample(y, sr, samplerate)
        y = fix_length(y, int(round(seconds * samplerate)))
    return np.ascontiguousarray(y, dtype=np.float32)


def downmix(y: np.ndarray) -> np.ndarray:
    """Mono from ``(frames, channels)``: the channels' mean, as ``y.mean(axis=1)`` computes it.

    Same bits as ``mean`` (channels summed left to right, then divided by their number)
    at a fraction of its cost: numpy's reduction over a short inner axis is slow (~20 ms
    for 30 s of stereo at 44.1 kHz against ~0.6 ms here).
    """
    if y.ndim == 1:
        return y
    if y.shape[1] == 1:
        return y[:, 0]
    total = y[:, 0] + y[:, 1]
    for c in range(2, y.shape[1]):
        total += y[:, c]
    total /= y.shape[1]
    return total


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``librosa.resample(y, orig_sr=, target_sr=, res_type="soxr_hq")``, bit for bit.

    Calls soxr (librosa's own resampler, one of its dependencies) directly: the same
    samples without importing librosa, which costs ~3 s and ~200 MB in a fresh process.
    """
    if orig_sr == target_sr:
        return y
    if not np.isfinite(y).all():
        raise AudioError("audio buffer is not finite everywhere")
    import soxr  # librosa's resampler; imported lazily like librosa was

    n_out = int(np.ceil(y.shape[-1] * (float(target_sr) / orig_sr)))
    y_hat = fix_length(soxr.resample(y, orig_sr, target_sr, quality="soxr_hq"), n_out)
    return np.asarray(y_hat, dtype=y.dtype)


def fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    return y[:n] if y.shape[0] >= n else np.pad(y, (0, n - y.shape[0]))


def write_clip(path: str | os.PathLike, y: np.ndarray, samplerate: int) -> None:
    """Write a clip as 16-bit PCM WAV, atomically (a crashed job leaves no half file).

    The samples are quantised here exactly as libsndfile quantises floats for a PCM_16
    file (clip to [-1, 1], round half to even at 2**15, clip to int16), then handed over
    as int16: the same file, about 2 ms faster.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), quantise_pcm16(y), samplerate, format=CLIP_FORMAT, subtype=CLIP_SUBTYPE)
    os.replace(tmp, path)


def quantise_pcm16(y: np.ndarray) -> np.ndarray:
    """Float samples as the int16 values libsndfile (1.2) stores for them in a PCM_16 file."""
    y = np.asarray(y)
    dtype = np.float64 if y.dtype == np.float64 else np.float32  # libsndfile's float or double path
    q = np.clip(y.astype(dtype, copy=False), -1.0, 1.0)
    q *= dtype(32768.0)
    np.rint(q, out=q)
    np.clip(q, -32768.0, 32767.0, out=q)
    return q.astype(np.int16)


def read_clip(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a clip written by :func:`write_clip` as mono float32."""
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return downmix(y), sr


def make_clip(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    offset_s: float,
    seconds: float,
    samplerate: int,
) -> None:
    """The clip stage: the track's window, mono, at the configured rate, as 16-bit WAV."""
    write_clip(dest, read_window(source, offset_s, seconds, samplerate=samplerate), samplerate)
