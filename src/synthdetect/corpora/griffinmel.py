"""The "griffinmel" generator: a human track resynthesised from its mel spectrogram.

Afchar et al. (Deezer, ICASSP 2025) build part of their AI class this way: the mel power
spectrogram keeps the music (notes, timbre, loudness over time) and throws away the phase
and the fine frequency detail, and Griffin-Lim invents a phase that fits the magnitudes.
Both classes then carry the same music and differ only in the generation path, so a
detector that separates them has learnt the path's artifacts, not the repertoire.

:func:`librosa.feature.inverse.mel_to_audio` does not pass a random state to Griffin-Lim
(its random init would come from an unseeded generator), so :func:`griffinmel` calls
:func:`librosa.feature.inverse.mel_to_stft` and :func:`librosa.griffinlim` itself with a
seeded ``numpy`` generator: the same input and seed give the same output.

The mel-to-linear step is librosa's non-negative least squares (``inverse: nnls``, the
faithful one) or the mel filter bank's pseudo-inverse, clipped at zero (``pinv``), which
costs a small fraction of NNLS's time (one matrix product instead of an iterative solve
per frame) for a coarser high band.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import librosa
import numpy as np

__all__ = ["DEFAULTS", "check_settings", "griffinmel"]

#: Settings of the generator and their defaults (librosa's own defaults at 22.05 kHz).
DEFAULTS: dict[str, int | str] = {
    "n_mels": 128,
    "n_fft": 2048,
    "hop_length": 512,
    "n_iter": 32,
    "inverse": "nnls",
}
#: How the mel power spectrogram goes back to a linear one.
INVERSES = ("nnls", "pinv")

_NAME = "generator griffinmel"


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{_NAME}: {key} must be a positive integer, got {value!r}")
    return int(value)


def check_settings(settings: Mapping[str, Any] | None) -> dict[str, int | str]:
    """Validate a config mapping of griffinmel settings; return it with defaults filled in.

    Unknown keys are rejected (a misspelt key would otherwise be silently ignored), and
    every message names the offending key.
    """
    settings = {} if settings is None else settings
    if not isinstance(settings, Mapping):
        raise ValueError(f"{_NAME}: settings must be a mapping, got {type(settings).__name__}")
    unknown = sorted(str(k) for k in set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"{_NAME}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}"
        )
    out: dict[str, int | str] = {
        key: _positive_int(key, settings.get(key, default))
        for key, default in DEFAULTS.items()
        if key != "inverse"
    }
    inverse = settings.get("inverse", DEFAULTS["inverse"])
    if inverse not in INVERSES:
        raise ValueError(f"{_NAME}: inverse must be one of {', '.join(INVERSES)}, got {inverse!r}")
    out["inverse"] = inverse
    if out["n_fft"] < 16:
        raise ValueError(f"{_NAME}: n_fft must be >= 16, got {out['n_fft']}")
    if out["hop_length"] > out["n_fft"]:
        raise ValueError(
            f"{_NAME}: hop_length must be <= n_fft ({out['n_fft']}), got {out['hop_length']}"
        )
    if out["n_mels"] > out["n_fft"] // 2 + 1:
        raise ValueError(
            f"{_NAME}: n_mels must be <= n_fft // 2 + 1 ({out['n_fft'] // 2 + 1}), "
            f"got {out['n_mels']}"
        )
    return out


def griffinmel(
    y: np.ndarray,
    sr: int,
    *,
    n_mels: int = DEFAULTS["n_mels"],
    n_fft: int = DEFAULTS["n_fft"],
    hop_length: int = DEFAULTS["hop_length"],
    n_iter: int = DEFAULTS["n_iter"],
    inverse: str = DEFAULTS["inverse"],
    seed: int,
) -> np.ndarray:
    """Mel power spectrogram of mono ``y`` -> NNLS (or pseudo-) inverse -> seeded
    Griffin-Lim.

    Returns float32 audio of ``len(y)`` samples. The phase is Griffin-Lim's, started from a
    random phase drawn from ``numpy.random.default_rng(seed)``, so the waveform is unlike the
    input sample by sample while the mel envelope is kept.
    """
    s = check_settings(
        {
            "n_mels": n_mels,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "n_iter": n_iter,
            "inverse": inverse,
        }
    )
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr < 1:
        raise ValueError(f"{_NAME}: sr must be a positive integer, got {sr!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{_NAME}: seed must be a non-negative integer, got {seed!r}")
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{_NAME}: expected non-empty mono audio (1-D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{_NAME}: audio has non-finite samples")
    mel = librosa.feature.melspectrogram(
        y=x, sr=int(sr), n_fft=s["n_fft"], hop_length=s["hop_length"], n_mels=s["n_mels"]
    )
    if s["inverse"] == "nnls":
        mag = librosa.feature.inverse.mel_to_stft(mel, sr=int(sr), n_fft=s["n_fft"], power=2.0)
    else:
        basis = librosa.filters.mel(sr=int(sr), n_fft=s["n_fft"], n_mels=s["n_mels"])
        mag = np.sqrt(np.maximum(np.linalg.pinv(basis) @ mel, 0.0))
    out = librosa.griffinlim(
        mag,
        n_iter=s["n_iter"],
        hop_length=s["hop_length"],
        n_fft=s["n_fft"],
        length=x.size,
        init="random",
        random_state=np.random.default_rng(int(seed)),
    )
    return np.ascontiguousarray(out, dtype=np.float32)
