"""Fakeprints: the periodic high-frequency peaks that upsampling layers leave in audio.

Re-derived from the idea of Afchar et al., "A Fourier Explanation of AI-music Artifacts"
(ISMIR 2025, arXiv 2506.19108); no code of theirs is used. A decoder that upsamples by
a stride ``s`` (transposed convolution, zero insertion) repeats the spectrum of its
input every ``sr / s`` Hz, so whatever energy the input has near 0 Hz (a bias, a slow
envelope) reappears as narrow peaks at multiples of ``sr / s``. Recorded music has no
reason to peak there. The fakeprint of a clip is that comb, isolated:

1. the **mean log-power spectrum**: ``10 log10 |STFT|^2`` averaged over frames. The log
   comes first so the average is a geometric mean: a loud passage cannot outweigh the
   rest, and the clip's gain only shifts the curve (removed in step 3);
2. restricted to a **high band** ``[f_min_hz, f_max_hz]`` (default 5 kHz to Nyquist),
   where music is quiet and the peaks stand out;
3. minus its **lower envelope**, clipped at 0, so only narrow peaks remain;
4. **normalised** (by its maximum, its L2 norm, or not at all).

The lower envelope is a morphological *opening* of the curve: a running minimum over
``envelope_hz`` followed by a running maximum over the same width (``curve - opening`` is
the white top-hat transform). It never lies above the curve, it removes every peak
narrower than the window and it follows every wider shape exactly, including monotone
slopes and steps. A lower convex hull was the alternative; it was rejected because a
hull bridges every concave stretch with a chord: the low-pass cliff of an MP3 encoder
(flat, then a drop near 16 kHz) or the roll-off of a band-limited master would leave a
broad hump in the residual that has nothing to do with upsampling. The window only
needs to exceed a peak's width (a Hann window's main lobe is 4 bins wide); the default
of 100 Hz is about 9 bins at ``n_fft=2048`` and 22.05 kHz.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "DEFAULTS",
    "NORMS",
    "check_settings",
    "fakeprint",
    "fakeprint_names",
    "fakeprint_table",
    "write_track_fakeprint",
]

#: Every setting of :func:`fakeprint` and its default (the keyword arguments' names).
DEFAULTS: dict[str, Any] = {
    "n_fft": 2048,
    "hop_length": 512,
    "f_min_hz": 5000.0,
    "f_max_hz": None,
    "envelope_hz": 100.0,
    "norm": "max",
}
#: Normalisations of the residual: by its maximum, by its L2 norm, or none (dB above
#: the envelope, which keeps how strong the peaks are).
NORMS = ("max", "l2", "none")
#: Power floor before the log (-100 dB), as librosa's ``amin=1e-5`` on amplitudes.
POWER_FLOOR = 1e-10
#: A residual whose largest value is below this (dB) is treated as flat (e.g. silence).
FLAT_DB = 1e-9


# --------------------------------------------------------------------------- settings


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))


def check_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings with defaults filled in, or ``ValueError`` naming the first bad key.

    The result can be passed on as ``fakeprint(y, sr, **check_settings(cfg))``. The
    band is checked against a sample rate only in :func:`fakeprint`.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"fakeprint settings must be a mapping, not {type(settings).__name__}")
    for key in settings:
        if key not in DEFAULTS:
            raise ValueError(
                f"fakeprint settings: unknown key {key!r}; expected some of {sorted(DEFAULTS)}"
            )
    out = {**DEFAULTS, **settings}

    def bad(key: str, wanted: str) -> ValueError:
        return ValueError(f"fakeprint setting {key!r} must be {wanted}, not {out[key]!r}")

    if not _is_int(out["n_fft"]) or out["n_fft"] < 16:
        raise bad("n_fft", "an integer >= 16")
    if not _is_int(out["hop_length"]) or out["hop_length"] < 1:
        raise bad("hop_length", "a positive integer")
    if not _is_real(out["f_min_hz"]) or out["f_min_hz"] < 0:
        raise bad("f_min_hz", "a number >= 0")
    if out["f_max_hz"] is not None and (
        not _is_real(out["f_max_hz"]) or out["f_max_hz"] <= out["f_min_hz"]
    ):
        raise bad("f_max_hz", f"null or a number above f_min_hz={out['f_min_hz']}")
    if not _is_real(out["envelope_hz"]) or out["envelope_hz"] <= 0:
        raise bad("envelope_hz", "a positive number")
    if out["norm"] not in NORMS:
        raise bad("norm", f"one of {list(NORMS)}")
    out["n_fft"], out["hop_length"] = int(out["n_fft"]), int(out["hop_length"])
    out["f_min_hz"], out["envelope_hz"] = float(out["f_min_hz"]), float(out["envelope_hz"])
    if out["f_max_hz"] is not None:
        out["f_max_hz"] = float(out["f_max_hz"])
    return out


def _band(sr: int, n_fft: int, f_min_hz: float, f_max_hz: float | None) -> tuple[int, int]:
    """FFT bins ``[lo, hi)`` whose centre frequency ``k * sr / n_fft`` lies in the band."""
    if not _is_int(sr) or sr <= 0:
        raise ValueError(f"sample rate must be a positive integer, not {sr!r}")
    nyquist = sr / 2
    top = nyquist if f_max_hz is None else f_max_hz
    if f_min_hz >= nyquist:
        raise ValueError(f"f_min_hz={f_min_hz} is not below the Nyquist frequency {nyquist} Hz")
    if top > nyquist:
        raise ValueError(f"f_max_hz={f_max_hz} lies above the Nyquist frequency {nyquist} Hz")
    per_bin = n_fft / sr
    lo = math.ceil(f_min_hz * per_bin - 1e-9)
    hi = min(math.floor(top * per_bin + 1e-9), n_fft // 2) + 1
    if hi - lo < 3:
        raise ValueError(
            f"the band {f_min_hz}-{top} Hz holds {max(hi - lo, 0)} FFT bins at sr={sr}, "
            f"n_fft={n_fft}; a fakeprint needs at least 3"
        )
    return lo, hi


def fakeprint_names(
    sr: int, n_fft: int = 2048, f_min_hz: float = 5000.0, f_max_hz: float | None = None
) -> list[str]:
    """Column names of :func:`fakeprint`'s values: ``fp_<centre frequency>Hz`` per bin.

    Frequencies are rounded to whole Hz, or to as many decimals as keep the names
    distinct when bins are narrower than 1 Hz.
    """
    lo, hi = _band(sr, n_fft, float(f_min_hz), f_max_hz)
    spacing = sr / n_fft
    decimals = 0 if spacing >= 1 else math.ceil(-math.log10(spacing))
    names = [f"fp_{k * spacing:.{decimals}f}Hz" for k in range(lo, hi)]
    assert len(set(names)) == len(names), "fakeprint names collide"
    return names


# --------------------------------------------------------------------------- the vector


def _opening_width(envelope_hz: float, sr: int, n_fft: int) -> int:
    """The envelope window in bins: odd (centred), at least 3."""
    w = int(round(envelope_hz * n_fft / sr))
    return max(3, w | 1)


def mean_log_power(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``mean over frames of 10 log10(|STFT|^2)``, float64, one value per FFT bin.

    The STFT is :func:`synthdetect.features.spectrogram.stft_magnitude` (librosa's centred Hann
    frames), floored at -100 dB so silent frames stay finite.
    """
    from synthdetect.features.spectrogram import stft_magnitude

    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio must be a 1-d floating-point array, not {y.dtype} {y.shape}")
    if len(y) < n_fft:
        raise ValueError(f"the clip ({len(y)} samples) is shorter than one frame (n_fft={n_fft})")
    mag = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length).astype(np.float64)
    power = np.maximum(np.square(mag, out=mag), POWER_FLOOR, out=mag)
    return 10.0 * np.log10(power, out=power).mean(axis=0)


def fakeprint(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    f_min_hz: float = 5000.0,
    f_max_hz: float | None = None,
    envelope_hz: float = 100.0,
    norm: str = "max",
) -> np.ndarray:
    """The clip's fakeprint: float32, one value per FFT bin of the band, all ``>= 0``.

    Its length depends on the settings and ``sr`` only (``len(fakeprint_names(...))``),
    never on the clip's duration. ``norm="max"`` scales the largest value to 1 (the
    shape of the comb), ``"l2"`` to unit norm, ``"none"`` keeps dB above the envelope;
    a flat residual (e.g. silence, or a pure tone below the band) stays all zeros.
    """
    s = check_settings(
        {
            "n_fft": n_fft,
            "hop_length": hop_length,
            "f_min_hz": f_min_hz,
            "f_max_hz": f_max_hz,
            "envelope_hz": envelope_hz,
            "norm": norm,
        }
    )
    from scipy import ndimage

    lo, hi = _band(sr, s["n_fft"], s["f_min_hz"], s["f_max_hz"])
    curve = mean_log_power(y, n_fft=s["n_fft"], hop_length=s["hop_length"])[lo:hi]
    width = _opening_width(s["envelope_hz"], sr, s["n_fft"])
    envelope = ndimage.grey_opening(curve, size=width, mode="reflect")
    residual = np.clip(curve - envelope, 0.0, None)
    if s["norm"] != "none":
        peak = residual.max()
        scale = peak if s["norm"] == "max" else float(np.linalg.norm(residual))
        residual = residual / scale if peak > FLAT_DB else np.zeros_like(residual)
    return residual.astype(np.float32)


# --------------------------------------------------------------------------- files


#: Schema metadata key of a per-track file: the bin names, as JSON.
NAMES_KEY = b"synthdetect.fakeprint_names"


def write_track_fakeprint(
    path: str | os.PathLike, source: str, track: str, vector: np.ndarray, names: Sequence[str]
) -> None:
    """One row: the track and its fakeprint as one float32 list column, the bin names in
    the file's metadata (atomically). A column per bin made the file's schema hundreds of
    fields wide: writing and reading it cost ~100 ms a track (bench/README.md)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(vector) != len(names):
        raise ValueError(f"{len(vector)} fakeprint values for {len(names)} names")
    table = pa.table(
        {
            "source": [source],
            "track": [track],
            "fakeprint": pa.array([np.asarray(vector, dtype=np.float32)], pa.list_(pa.float32())),
        },
        metadata={NAMES_KEY: json.dumps(list(names))},
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def fakeprint_table(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The per-track fakeprint files stacked: ``source, track`` and one column per bin.

    Every file must hold the same bins (the same settings and sample rate); a file that
    does not is named."""
    if not paths:
        raise ValueError("no fakeprint files to stack")
    tables = [pq.read_table(p) for p in paths]
    names = None
    for path, table in zip(paths, tables, strict=True):
        own = (table.schema.metadata or {}).get(NAMES_KEY)
        if own is None or "fakeprint" not in table.column_names:
            raise ValueError(
                f"{path} is not a per-track fakeprint file of this version (no "
                f"{NAMES_KEY.decode()} metadata); rerun the fakeprint stage"
            )
        names = names or own
        if own != names:
            raise ValueError(
                f"{path}: its fakeprint bins differ from {paths[0]}'s; rerun the fakeprint "
                "stage with one set of settings and one sample rate"
            )
    stacked = pa.concat_tables(tables)
    values = np.stack(stacked.column("fakeprint").to_numpy(zero_copy_only=False))
    table = pd.DataFrame(values.astype(np.float32, copy=False), columns=json.loads(names))
    table.insert(0, "track", stacked.column("track").to_numpy(zero_copy_only=False))
    table.insert(0, "source", stacked.column("source").to_numpy(zero_copy_only=False))
    return table
