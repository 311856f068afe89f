"""Manipulations for the robustness suite: does a detector survive everyday edits?

Afchar et al. showed that AI-music detectors collapse under re-encoding, pitch shifts, time
stretches, noise and EQ that a listener barely notices. Each :class:`Manipulation` maps a
mono float32 clip to one of the same length, so its spectrogram image has the same size and
only the edit differs. Kinds and their parameters:

=========  ======================  =====================================================
kind       parameters              what it does
=========  ======================  =====================================================
mp3        kbps                    CBR MP3 round trip (LAME/mpg123 via libsndfile)
opus       kbps                    Ogg/Opus round trip, resampled to 24/48 kHz and back
pitch      semitones               ``librosa.effects.pitch_shift``, RMS kept
stretch    rate                    ``librosa.effects.time_stretch``, cropped or looped
                                   back to the length, RMS kept
noise      snr_db                  seeded white Gaussian noise at an SNR to the clip
lowpass    hz                      zero-phase Butterworth (:func:`synthdetect.audio.codec.lowpass`)
tilt       db_per_octave,          spectral tilt around a pivot, RMS kept
           pivot_hz (1000)
reverb     rt60_s, wet (0.3)       a seeded synthetic room response, RMS kept
resample   hz                      through ``hz`` and back
master     threshold_db, ratio,    compressor, loudness normalisation, hard limiter
           ceiling_db, lufs
speech     snr_db                  speech over the music at an SNR to the music: a seeded
                                   sentence spoken by Debian's ``espeak-ng`` (offline),
                                   repeated with pauses over the clip
excerpt    seconds                 only the clip's first ``seconds``, zero-padded to the
                                   clip's length: a short file as ``predict`` scores it
neural     source                  through the autoencoder trained for derived ``source``
=========  ======================  =====================================================

``neural`` (parameter ``source``, a derived source whose generator is an autoencoder) is the
**neural round trip**: the clip through the autoencoder the workflow trained for that source,
the known trap where human music that passed a neural codec is flagged as AI. Only its name
and parameters are checked here; it needs the trained weights, so
:func:`synthdetect.pipeline.variants.manipulation_transform` applies it.

AAC is missing on purpose: libsndfile has no AAC encoder. Names of manipulations are file-path
components and Snakemake wildcard values, so they match :data:`NAME_PATTERN`; the default
suite spells signs ``p`` (plus) and ``m`` (minus): ``pitch_m2``, ``tilt_p3db``.

Outputs are clipped to [-1, 1] only when a manipulation pushed a sample past it (loud noise,
an EQ boost, codec overshoot); otherwise the samples are returned untouched.

The codecs and librosa's pitch and stretch dominate the cost, and a cold process pays
their imports: apply many tracks per process (costs per kind: bench/README.md).
"""

from __future__ import annotations

import functools
import io
import math
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from synthdetect.audio import codec

__all__ = [
    "DEFAULT_MANIPULATIONS",
    "KINDS",
    "NAME_PATTERN",
    "Manipulation",
    "parse_manipulation",
    "parse_manipulations",
]

#: Manipulation names: safe as a path component and a Snakemake wildcard value.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: Tilt gains follow the slope down to this frequency and stay flat below it, so a
#: negative tilt does not boost DC and rumble without bound.
TILT_FLOOR_HZ = 20.0

# kind -> {parameter: default}; a default of None marks a required parameter.
KINDS: dict[str, dict[str, float | None]] = {
    "mp3": {"kbps": None},
    "opus": {"kbps": None},
    "pitch": {"semitones": None},
    "stretch": {"rate": None},
    "noise": {"snr_db": None},
    "lowpass": {"hz": None},
    "tilt": {"db_per_octave": None, "pivot_hz": 1000.0},
    "reverb": {"rt60_s": None, "wet": 0.3},
    "resample": {"hz": None},
    "master": {"threshold_db": -18.0, "ratio": 4.0, "ceiling_db": -1.0, "lufs": -14.0},
    "speech": {"snr_db": None},
    "excerpt": {"seconds": None},
    "neural": {"source": None},
}
#: parameters that name something rather than measure it
_NAMES = {"source"}

# parameter -> (lowest, highest) accepted value, inclusive
_RANGES = {
    "kbps": (6, 320),
    "semitones": (-24.0, 24.0),
    "rate": (0.25, 4.0),
    "snr_db": (-20.0, 120.0),
    "hz": (1.0, math.inf),
    "db_per_octave": (-24.0, 24.0),
    "pivot_hz": (1.0, math.inf),
    "rt60_s": (0.05, 10.0),
    "wet": (0.0, 1.0),
    "threshold_db": (-60.0, 0.0),
    "ratio": (1.0, 100.0),
    "ceiling_db": (-24.0, 0.0),
    "lufs": (-60.0, 0.0),
    "seconds": (0.1, 3600.0),
}

DEFAULT_MANIPULATIONS: dict[str, dict] = {
    "mp3_64": {"kind": "mp3", "kbps": 64},
    "mp3_128": {"kind": "mp3", "kbps": 128},
    **({"opus_64": {"kind": "opus", "kbps": 64}} if codec.OPUS_AVAILABLE else {}),
    "pitch_m2": {"kind": "pitch", "semitones": -2},
    "pitch_m1": {"kind": "pitch", "semitones": -1},
    "pitch_p1": {"kind": "pitch", "semitones": 1},
    "pitch_p2": {"kind": "pitch", "semitones": 2},
    "stretch_0.8": {"kind": "stretch", "rate": 0.8},
    "stretch_0.9": {"kind": "stretch", "rate": 0.9},
    "stretch_1.1": {"kind": "stretch", "rate": 1.1},
    "stretch_1.2": {"kind": "stretch", "rate": 1.2},
    "noise_30db": {"kind": "noise", "snr_db": 30},
    "noise_20db": {"kind": "noise", "snr_db": 20},
    "noise_10db": {"kind": "noise", "snr_db": 10},
    "lowpass_8k": {"kind": "lowpass", "hz": 8000},
    "lowpass_4k": {"kind": "lowpass", "hz": 4000},
    "lowpass_2k": {"kind": "lowpass", "hz": 2000},
    "tilt_p3db": {"kind": "tilt", "db_per_octave": 3},
    "tilt_m3db": {"kind": "tilt", "db_per_octave": -3},
    "reverb_0.4s": {"kind": "reverb", "rt60_s": 0.4},
    "reverb_1.2s": {"kind": "reverb", "rt60_s": 1.2},
    "resample_16k": {"kind": "resample", "hz": 16000},
    "resample_11k": {"kind": "resample", "hz": 11025},
    "master": {"kind": "master"},
    "speech_20db": {"kind": "speech", "snr_db": 20},
    "speech_10db": {"kind": "speech", "snr_db": 10},
    "speech_5db": {"kind": "speech", "snr_db": 5},
    "excerpt_5s": {"kind": "excerpt", "seconds": 5},
    "excerpt_10s": {"kind": "excerpt", "seconds": 10},
    "excerpt_20s": {"kind": "excerpt", "seconds": 20},
}
"""The built-in suite (``opus_64`` only where libsndfile can write Opus)."""


@dataclass(frozen=True)
class Manipulation:
    """One named edit: ``kind`` with its ``params`` (defaults filled in by the parser)."""

    name: str
    kind: str
    params: dict = field(hash=False)

    def apply(self, y: np.ndarray, sr: int, *, seed: int) -> np.ndarray:
        """``y`` (mono) edited: float32, ``len(y)`` samples, clipped to [-1, 1] only if needed.

        ``seed`` (:func:`synthdetect.seeds.track_seed`) drives the random kinds (noise,
        reverb, speech).
        """
        x = np.asarray(y, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"{self.name}: expected mono audio (1-D), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name}: audio is not finite everywhere")
        if x.size == 0:
            return x.copy()
        if self.kind not in _APPLY:  # neural: needs its trained weights
            raise ValueError(
                f"{self.name}: a {self.kind} manipulation needs its trained weights; "
                "apply it with synthdetect.pipeline.variants.manipulation_transform"
            )
        out = np.asarray(_APPLY[self.kind](x, int(sr), seed, **self.params), dtype=np.float32)
        if out.shape != x.shape:  # a bug, not an input problem
            raise AssertionError(f"{self.name}: {out.shape} samples out, {x.shape} in")
        if np.abs(out).max(initial=0.0) > 1.0:
            out = np.clip(out, -1.0, 1.0)
        return out


def parse_manipulation(
    name: str, spec: Mapping, *, where: str = "robustness.manipulations"
) -> Manipulation:
    """A :class:`Manipulation` from a config entry ``{kind: ..., <params>}``, checked.

    Errors name ``where.name``, the bad key or value, and what would be accepted.
    """
    at = f"{where}.{name}"
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{at}: name {name!r} is not usable in file paths; use letters, digits, "
            "'.', '_' and '-' only, starting with a letter or digit (e.g. pitch_m1)"
        )
    if not isinstance(spec, Mapping):
        raise ValueError(f"{at}: expected a mapping with 'kind' and its parameters, got {spec!r}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"{at}: {'missing key' if kind is None else f'unknown kind {kind!r} in'} 'kind' "
            f"(expected one of {', '.join(KINDS)})"
        )
    allowed = KINDS[kind]
    expected = " or ".join(repr(k) for k in allowed)
    for key in spec:
        if key != "kind" and key not in allowed:
            raise ValueError(f"{at}: unknown key {key!r} (expected {expected})")
    params = {}
    for key, default in allowed.items():
        if key not in spec:
            if default is None:
                raise ValueError(f"{at}: missing key {key!r} for kind {kind!r}")
            params[key] = default
            continue
        value = spec[key]
        if key in _NAMES:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{at}: {key} must name a config source, got {value!r}")
            params[key] = value
            continue
        lo, hi = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ValueError(f"{at}: {key} must be a number from {lo:g} to {hi:g}, got {value!r}")
        params[key] = value
    if kind == "mp3" and params["kbps"] not in codec.LAYER3_KBPS:
        raise ValueError(
            f"{at}: kbps {params['kbps']!r} is not an MP3 (Layer III) bitrate; "
            f"choose one of {', '.join(map(str, codec.LAYER3_KBPS))}"
        )
    if kind == "opus" and not codec.OPUS_AVAILABLE:
        raise ValueError(f"{at}: this libsndfile cannot write Ogg/Opus; remove this entry")
    return Manipulation(name=name, kind=kind, params=params)


def parse_manipulations(
    specs: Mapping[str, Mapping], *, where: str = "robustness.manipulations"
) -> dict[str, Manipulation]:
    """Every entry of a ``{name: spec}`` mapping parsed (see :func:`parse_manipulation`)."""
    return {name: parse_manipulation(name, spec, where=where) for name, spec in specs.items()}


# --------------------------------------------------------------------------------------
# The kinds: (x float32, sr, seed, **params) -> same-length array


def _mp3(x, sr, seed, *, kbps):
    return codec.mp3_roundtrip(x, sr, int(kbps))


def _opus(x, sr, seed, *, kbps):
    return codec.opus_roundtrip(x, sr, int(kbps))


def _pitch(x, sr, seed, *, semitones):
    """``librosa.effects.pitch_shift`` at the input's RMS (see :func:`_match_rms`)."""
    import librosa

    z = librosa.effects.pitch_shift(x, sr=sr, n_steps=float(semitones), res_type="soxr_hq")
    return _match_rms(z, x)


def _stretch(x, sr, seed, *, rate):
    """Time-stretched (``librosa.effects.time_stretch``), back to ``len(x)``, at its RMS.

    A slower clip (rate < 1, longer) keeps its centre; a faster one (rate > 1, shorter) is
    looped to length. Looping, not zero padding: a silent tail would be a cue of its own
    in the spectrogram, while a loop is more of the same (stretched) music.
    """
    import librosa

    z = librosa.effects.time_stretch(x, rate=float(rate))
    n = x.shape[0]
    if z.shape[0] >= n:
        start = (z.shape[0] - n) // 2
        z = z[start : start + n]
    else:
        z = np.resize(z, n)  # repeats z cyclically
    return _match_rms(z, x)


def _match_rms(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``z`` scaled to the RMS of ``x``.

    librosa's phase vocoder overlap-adds frames whose phases no longer agree, which loses
    ~3 dB on noisy, transient-rich music (measured on the test fixtures); the edit asked
    for is pitch or tempo, not loudness.
    """
    rms_x = math.sqrt(float(np.mean(np.square(x, dtype=np.float64))))
    rms_z = math.sqrt(float(np.mean(np.square(z, dtype=np.float64))))
    return z * np.float32(rms_x / rms_z) if rms_z > 0 else z


def _noise(x, sr, seed, *, snr_db):
    """White Gaussian noise with power ``mean(x**2) / 10**(snr_db/10)``: silence stays silent."""
    power = float(np.mean(np.square(x, dtype=np.float64)))
    scale = math.sqrt(power / 10 ** (snr_db / 10))
    noise = np.random.default_rng(seed).standard_normal(x.shape[0], dtype=np.float32)
    return x + np.float32(scale) * noise


def _lowpass(x, sr, seed, *, hz):
    return codec.lowpass(x, sr, hz)


def _tilt(x, sr, seed, *, db_per_octave, pivot_hz):
    """A straight line of ``db_per_octave`` on a log-frequency axis, 0 dB at ``pivot_hz``.

    Applied as one zero-phase gain curve on the FFT of the whole clip (an STFT with a
    single frame: exact gains, no framing), reflect-padded so the circular convolution
    does not wrap the end onto the start. Flat below :data:`TILT_FLOOR_HZ`. Rescaled to the
    input's RMS, so only the balance between bands changes, not the loudness.
    """
    from scipy import fft

    n = x.shape[0]
    pad = min(n - 1, 4096)
    padded = np.pad(x.astype(np.float64), pad, mode="reflect")
    size = fft.next_fast_len(padded.shape[0], real=True)
    spectrum = fft.rfft(padded, size)
    freqs = np.maximum(np.fft.rfftfreq(size, 1.0 / sr), TILT_FLOOR_HZ)
    spectrum *= 10 ** (db_per_octave * np.log2(freqs / pivot_hz) / 20)
    return _match_rms(fft.irfft(spectrum, size)[pad : pad + n], x)


def _reverb(x, sr, seed, *, rt60_s, wet):
    """A seeded synthetic room: exponentially decaying noise reaching -60 dB at ``rt60_s``
    (the Sabine decay a room's late reverberation follows), after a direct path; ``wet``
    of the reverberant signal mixed in, at the input's RMS."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    n = max(int(rt60_s * sr), 1)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60_s)
    tail /= np.sqrt(np.sum(tail**2))
    wet_signal = fftconvolve(x.astype(np.float64), tail)[: x.shape[0]]
    return _match_rms((1 - wet) * x + wet * wet_signal, x).astype(np.float32)


def _resample(x, sr, seed, *, hz):
    """Through ``hz`` and back (a streaming service's or a phone's rate): the band above
    ``hz / 2`` is gone, and the resampler's filters leave their mark."""
    from synthdetect.audio.io import resample

    hz = int(hz)
    if hz >= sr:
        return x.copy()
    back = resample(resample(x, sr, hz), hz, sr)
    return np.resize(back, x.shape[0]).astype(np.float32) if back.shape[0] != x.shape[0] else back


def _master(x, sr, seed, *, threshold_db, ratio, ceiling_db, lufs):
    """A mastering chain: a feed-forward compressor (10 ms attack, 100 ms release on the
    level in dB), loudness normalisation to ``lufs`` (RMS as a stand-in for LUFS) and a
    hard limiter at ``ceiling_db`` (dBFS)."""
    y = x.astype(np.float64)
    level = 20 * np.log10(np.maximum(np.abs(y), 1e-9))
    attack, release = math.exp(-1 / (0.010 * sr)), math.exp(-1 / (0.100 * sr))
    env = np.empty_like(level)
    state = level[0] if len(level) else 0.0
    for i, v in enumerate(level):  # envelope follower: rises fast, falls slowly
        coef = attack if v > state else release
        state = coef * state + (1 - coef) * v
        env[i] = state
    over = np.maximum(env - threshold_db, 0.0)
    y = y * 10 ** (-over * (1 - 1 / ratio) / 20)
    rms = math.sqrt(float(np.mean(y**2))) if len(y) else 0.0
    if rms > 0:
        y = y * 10 ** ((lufs - 20 * math.log10(rms)) / 20)
    ceiling = 10 ** (ceiling_db / 20)
    return np.clip(y, -ceiling, ceiling).astype(np.float32)


#: What the speech manipulation says: short public-domain sentences (a podcast host, a
#: radio voice-over), one drawn per track from its seed.
SPEECH_TEXTS = (
    "You are listening to the evening programme, and this is the next piece.",
    "Welcome back. Before the news, here is a song our listeners asked for.",
    "The weather tomorrow will be dry in the north with some rain in the south.",
    "This recording was made live, in front of a small audience, last summer.",
    "Thank you for joining us. Stay tuned for more music after the break.",
    "Our guest tonight has written music for film, theatre and radio.",
)
#: espeak-ng's voices the speech manipulation draws from (all ship with the package).
SPEECH_VOICES = ("en", "en-us", "en-gb-scotland")
#: Seconds of silence between repetitions of the sentence.
SPEECH_PAUSE_S = 0.6
ESPEAK = "espeak-ng"


@functools.lru_cache(maxsize=64)
def speak(text: str, voice: str, sr: int) -> np.ndarray:
    """``text`` spoken by espeak-ng in ``voice``, mono float32 at ``sr`` (cached)."""
    import soundfile as sf

    from synthdetect.audio.io import resample

    exe = shutil.which(ESPEAK)
    if exe is None:
        raise RuntimeError(
            "the speech manipulation needs espeak-ng, which is not installed: install the "
            "Debian package espeak-ng (apt-get install espeak-ng, or `make apt`), or remove "
            "the speech entries from robustness.manipulations"
        )
    done = subprocess.run(
        [exe, "-v", voice, "--stdout", text], capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(
            f"espeak-ng -v {voice} failed ({done.returncode}): {done.stderr.decode()[:200]}"
        )
    y, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return y if rate == sr else resample(y, rate, sr).astype(np.float32)


def _speech(x, sr, seed, *, snr_db):
    """A seeded sentence and voice, spoken over the clip with pauses (from a seeded
    offset), scaled so the music's power is ``snr_db`` above the speech's."""
    rng = np.random.default_rng(seed)
    text = SPEECH_TEXTS[int(rng.integers(len(SPEECH_TEXTS)))]
    voice = SPEECH_VOICES[int(rng.integers(len(SPEECH_VOICES)))]
    said = speak(text, voice, sr)
    unit = np.concatenate([said, np.zeros(int(SPEECH_PAUSE_S * sr), np.float32)])
    start = int(rng.integers(len(unit)))
    track = np.resize(np.roll(unit, -start), x.shape[0]).astype(np.float64)
    p_music, p_speech = float(np.mean(x.astype(np.float64) ** 2)), float(np.mean(track**2))
    if p_music == 0 or p_speech == 0:
        return x.copy()
    gain = math.sqrt(p_music / (p_speech * 10 ** (snr_db / 10)))
    return (x + gain * track).astype(np.float32)


def _excerpt(x, sr, seed, *, seconds):
    """The first ``seconds`` of the clip, then zeros: what ``predict`` makes of a file that
    short (one window, zero-padded at the end; :func:`synthdetect.audio.io.read_window`)."""
    out = x.copy()
    out[int(round(seconds * sr)) :] = 0.0
    return out


_APPLY = {
    "mp3": _mp3,
    "opus": _opus,
    "pitch": _pitch,
    "stretch": _stretch,
    "noise": _noise,
    "lowpass": _lowpass,
    "tilt": _tilt,
    "reverb": _reverb,
    "resample": _resample,
    "master": _master,
    "speech": _speech,
    "excerpt": _excerpt,
}
