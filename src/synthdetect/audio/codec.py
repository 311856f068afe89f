"""The codec confound and the codecs used to control it.

FMA (human) is MP3 and AAM (AI) is lossless, so a detector can learn "MP3 = human" from the
encoder's fingerprints (its ~16 kHz lowpass, its quantisation noise) instead of the music.
Two controls remove that cue: ``codec_match`` encodes every AI clip as MP3 at a bitrate drawn
from the human class's own bitrates (:func:`bitrate_profile`, :func:`assign_bitrate`,
:func:`mp3_roundtrip`), and ``lowpass_hz`` band-limits both classes below any encoder's
lowpass (:func:`lowpass`). The robustness suite (:mod:`synthdetect.audio.manipulations`) uses the
same round trips and the same filter.

All coding goes through libsndfile (via soundfile): MP3 is LAME + mpg123, Opus is libopus.
AAC cannot be tested: libsndfile has no AAC encoder (or decoder).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from synthdetect.audio.io import fix_length, resample
from synthdetect.seeds import track_rng

__all__ = [
    "MPEG_BITRATES",
    "WRITE_BLOCK",
    "mp3_compression_level",
    "mp3_kbps_for_rate",
    "mpeg_version",
    "write_mp3",
    "LAYER3_KBPS",
    "LOWPASS_ORDER",
    "OPUS_AVAILABLE",
    "assign_bitrate",
    "bitrate_profile",
    "estimate_bitrate_kbps",
    "lowpass",
    "mp3_roundtrip",
    "opus_roundtrip",
]

log = logging.getLogger(__name__)

#: Whether this libsndfile can write Ogg/Opus (1.0.29+ built with libopus).
OPUS_AVAILABLE = "OPUS" in sf.available_subtypes("OGG")

# Rates each codec takes; other rates are resampled to the next one up and back.
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)

#: Samples per write call when encoding a file.
WRITE_BLOCK = 65_536

#: The Layer III bitrates (kbps) of each MPEG version; the one table of the project.
MPEG_BITRATES = {
    "MPEG-1": (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "MPEG-2": (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    "MPEG-2.5": (8, 16, 24, 32, 40, 48, 56, 64),
}


def mpeg_version(sample_rate: int) -> str:
    """The MPEG version an MP3 at ``sample_rate`` is: MPEG-1 from 32 kHz, MPEG-2 from 16 kHz."""
    return "MPEG-1" if sample_rate >= 32000 else "MPEG-2" if sample_rate >= 16000 else "MPEG-2.5"


def mp3_kbps_for_rate(kbps: int, sample_rate: int) -> int:
    """The highest Layer III bitrate at or below ``kbps`` that ``sample_rate`` allows.

    A human MP3 at 320 kbps and 44.1 kHz cannot be matched at 22.05 kHz, where MPEG-2
    stops at 160 kbps; the AI track then gets that rate's best.
    """
    allowed = MPEG_BITRATES[mpeg_version(sample_rate)]
    below = [k for k in allowed if k <= kbps]
    return below[-1] if below else allowed[0]


def mp3_compression_level(bitrate_kbps: int, sample_rate: int) -> float:
    """The libsndfile ``compression_level`` that makes a constant-bitrate MP3 at ``bitrate_kbps``.

    libsndfile (1.1+, ``mpeg_l3_encode.c``) maps the level linearly onto the bitrate range
    of the MPEG version the sample rate implies and truncates to an integer:
    ``kbps = int(hi - level * (hi - lo))`` with (lo, hi) = (32, 320) for >= 32 kHz (MPEG-1),
    (8, 160) for >= 16 kHz (MPEG-2) and (8, 64) below (MPEG-2.5); with
    ``bitrate_mode='CONSTANT'`` LAME then encodes at exactly that bitrate. The level
    returned aims at the middle of the truncation interval so rounding cannot miss.
    """
    version = mpeg_version(sample_rate)
    allowed = MPEG_BITRATES[version]
    if bitrate_kbps not in allowed:
        raise ValueError(
            f"{bitrate_kbps} kbps is not an {version} Layer III bitrate "
            f"(sample rate {sample_rate} Hz); choose one of {allowed}"
        )
    lo, hi = (32, 320) if version == "MPEG-1" else (8, 160) if version == "MPEG-2" else (8, 64)
    return float(min(max((hi - bitrate_kbps - 0.5) / (hi - lo), 0.0), 1.0))


def write_mp3(path: Path, x: np.ndarray, sample_rate: int, bitrate_kbps: int) -> None:
    """Write mono ``x`` as a constant-bitrate MP3, in blocks (one long write through
    libsndfile 1.2.2 can crash), atomically via a ``.partial`` file."""
    level = mp3_compression_level(bitrate_kbps, sample_rate)
    tmp = path.with_name(path.name + ".partial")
    with sf.SoundFile(
        tmp,
        "w",
        samplerate=sample_rate,
        channels=1,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=level,
        bitrate_mode="CONSTANT",
    ) as f:
        for start in range(0, len(x), WRITE_BLOCK):
            f.write(x[start : start + WRITE_BLOCK])
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Round trips


def mp3_roundtrip(y: np.ndarray, sr: int, kbps: int) -> np.ndarray:
    """Encode ``y`` as a constant-bitrate MP3 in memory and decode it: float32, same length.

    Alignment: libsndfile's LAME writer stores the encoder delay and padding in a LAME/Info
    tag and its mpg123 reader decodes gaplessly, so the round trip comes back with exactly
    ``len(y)`` samples at lag 0 (measured: 8-48 kHz, 64 and 128 kbps). Should a decoder ever
    return another length, the lag is found by cross-correlation (:func:`_align`).
    ``kbps`` must be a Layer III bitrate for the rate (at 22.05 kHz: 8-160).
    """
    rate = _codec_rate(sr, _MP3_RATES)
    level = mp3_compression_level(int(kbps), rate)
    fmt = {"format": "MP3", "subtype": "MPEG_LAYER_III", "bitrate_mode": "CONSTANT"}
    return _roundtrip(y, sr, rate, dict(fmt, compression_level=level))


def opus_roundtrip(y: np.ndarray, sr: int, kbps: int) -> np.ndarray:
    """Encode ``y`` as Ogg/Opus at about ``kbps`` in memory and decode it: float32, same length.

    Opus codes only 8/12/16/24/48 kHz, so other rates (22.05 kHz) are resampled (soxr) to
    the next one up and back. libsndfile maps its compression level linearly onto the
    encoder's target bitrate, 256 kbps (level 0) to 6 kbps (level 1), and honours the
    stream's pre-skip, so the output is aligned.
    """
    if not OPUS_AVAILABLE:
        raise RuntimeError(
            f"this libsndfile ({sf.__libsndfile_version__}) cannot write Ogg/Opus; "
            "drop the opus manipulations or install a libsndfile built with libopus"
        )
    if not 6 <= kbps <= 256:
        raise ValueError(f"Opus bitrate {kbps} kbps is outside libsndfile's 6-256 kbps")
    level = 1.0 - (kbps * 1000 - 6000 + 0.5) / 250_000  # +0.5 bps: truncation cannot miss
    rate = _codec_rate(sr, _OPUS_RATES)
    return _roundtrip(y, sr, rate, {"format": "OGG", "subtype": "OPUS", "compression_level": level})


def _codec_rate(sr: int, rates: Sequence[int]) -> int:
    return next((r for r in rates if r >= sr), rates[-1])


def _roundtrip(y: np.ndarray, sr: int, rate: int, fmt: dict) -> np.ndarray:
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {x.shape}")
    coded = resample(x, sr, rate)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, **fmt) as f:
        f.write(coded)
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32", always_2d=True)
    decoded = _align(decoded[:, 0], coded)
    return fix_length(resample(decoded, rate, sr), x.shape[0]).astype(np.float32, copy=False)


def _align(decoded: np.ndarray, reference: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``decoded`` shifted to line up with ``reference`` and cut to its length.

    A gapless decode already has the reference's length and is returned as is; otherwise
    the delay (0..``max_lag`` samples) is the peak of the cross-correlation over the first
    ``4 * max_lag`` samples (0.75 s at 22.05 kHz).
    """
    n = reference.shape[0]
    if decoded.shape[0] == n:
        return decoded
    from scipy.signal import correlate

    m = min(n, max(8192, 4 * max_lag))
    head = decoded[: m + max_lag]
    c = correlate(head, reference[:m], mode="valid", method="fft")  # lags 0..len(head)-m
    lag = int(np.argmax(c[: max_lag + 1])) if c.size else 0
    return fix_length(decoded[lag:], n)


# --------------------------------------------------------------------------------------
# Band-limiting

#: Butterworth order of :func:`lowpass`; run forward and backward, so the response is
#: zero-phase, -6 dB at the cutoff and falls at 2 x 8 x 6 = 96 dB per octave.
LOWPASS_ORDER = 8


def lowpass(y: np.ndarray, sr: int, hz: float) -> np.ndarray:
    """Zero-phase Butterworth lowpass at ``hz`` (:data:`LOWPASS_ORDER`, ``sosfiltfilt``).

    Zero phase, so onsets do not move and nothing but the band changes. ``hz`` at or above
    the Nyquist frequency leaves nothing to remove: a float32 copy comes back unfiltered.
    """
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(y, dtype=np.float32)
    if hz <= 0:
        raise ValueError(f"lowpass cutoff must be positive, got {hz} Hz")
    if hz >= sr / 2:
        return x.copy()
    sos = butter(LOWPASS_ORDER, hz, btype="lowpass", fs=sr, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


# --------------------------------------------------------------------------------------
# Bitrates of MP3 files

# A frame header's bitrate index (1-14) into MPEG_BITRATES: MPEG-2.5 headers use MPEG-2's.
_LAYER3_KBPS = {
    1: (0, *MPEG_BITRATES["MPEG-1"]),
    2: (0, *MPEG_BITRATES["MPEG-2"]),
}
#: Every MPEG Layer III bitrate (kbps) of any version; which ones a rate allows differs.
LAYER3_KBPS = tuple(sorted(set(_LAYER3_KBPS[1][1:]) | set(_LAYER3_KBPS[2][1:])))
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_NOT_MP3 = (b"fLaC", b"RIFF", b"OggS", b"FORM", b"wvpk", b"MAC ")  # lossless/other magic
_SYNC_SEARCH = 4096  # junk tolerated before the first frame (after any ID3v2 tag)


def estimate_bitrate_kbps(path: str | os.PathLike) -> int | None:
    """The bitrate of an MP3 file in kbps, or None if it is not MPEG Layer III audio.

    Read from the bytes, not the decoder: the first frame header (after an ID3v2 tag) must
    be followed by two more valid frames. A Xing/Info tag in that frame gives the frame and
    byte counts (VBR, and LAME's CBR files); otherwise the frames are walked. The average
    ``bytes * 8 / duration`` is snapped to the nearest standard Layer III bitrate of the
    stream's MPEG version.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] in _NOT_MP3 or data[4:8] == b"ftyp":
        return None
    start = _skip_id3v2(data)
    first = next(
        (
            i
            for i in range(start, min(len(data) - 4, start + _SYNC_SEARCH))
            if _chain_ok(data, i, 3)
        ),
        None,
    )
    if first is None:
        return None
    head = _header(data, first)
    tag = _xing_counts(data, first, head)
    if tag is not None:
        frames, nbytes = tag
    else:
        frames, nbytes, pos = 0, 0, first
        while (h := _header(data, pos)) is not None:
            frames, nbytes, pos = frames + 1, nbytes + h["length"], pos + h["length"]
    seconds = frames * head["samples"] / head["rate"]
    if seconds <= 0:
        return head["kbps"]
    mean = nbytes * 8 / seconds / 1000
    table = _LAYER3_KBPS[1 if head["version"] == 3 else 2][1:]
    return min(table, key=lambda k: abs(k - mean))


def _skip_id3v2(data: bytes) -> int:
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]  # syncsafe
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def _header(data: bytes, i: int) -> dict | None:
    """The Layer III frame header at ``i`` (version, rate, kbps, length, ...), or None."""
    if i + 4 > len(data) or data[i] != 0xFF or data[i + 1] & 0xE0 != 0xE0:
        return None
    version = (data[i + 1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (data[i + 1] >> 1) & 3  # 1: Layer III
    b_index, r_index = data[i + 2] >> 4, (data[i + 2] >> 2) & 3
    if version == 1 or layer != 1 or b_index in (0, 15) or r_index == 3:
        return None
    kbps = _LAYER3_KBPS[1 if version == 3 else 2][b_index]
    rate = _RATES[version][r_index]
    samples = 1152 if version == 3 else 576
    padding = (data[i + 2] >> 1) & 1
    length = samples // 8 * kbps * 1000 // rate + padding
    mono = (data[i + 3] >> 6) == 3
    return {"version": version, "rate": rate, "kbps": kbps, "samples": samples,
            "length": length, "mono": mono}  # fmt: skip


def _chain_ok(data: bytes, i: int, n: int) -> bool:
    """``n`` consecutive valid headers from ``i`` (fewer if the file ends first)."""
    first = _header(data, i)
    h = first
    for _ in range(n):
        if h is None or h["version"] != first["version"] or h["rate"] != first["rate"]:
            return False
        i += h["length"]
        if i >= len(data):
            return True
        h = _header(data, i)
    return True


def _xing_counts(data: bytes, i: int, head: dict) -> tuple[int, int] | None:
    """(audio frames, audio bytes) from a Xing/Info tag in the frame at ``i``, if both are set.

    The tag frame itself carries no audio: LAME's frame count leaves it out already, its
    byte count includes it (checked against a frame walk of LAME's files).
    """
    side = (17 if head["mono"] else 32) if head["version"] == 3 else (9 if head["mono"] else 17)
    at = i + 4 + side
    if data[at : at + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(data[at + 4 : at + 8], "big")
    if flags & 3 != 3:  # frames and bytes fields present
        return None
    frames = int.from_bytes(data[at + 8 : at + 12], "big")
    nbytes = int.from_bytes(data[at + 12 : at + 16], "big")
    return frames, nbytes - head["length"]


# --------------------------------------------------------------------------------------
# codec_match: bitrates drawn from the human class


def bitrate_profile(paths: Iterable[str | os.PathLike]) -> list[int]:
    """The bitrates (kbps) of the MP3 files among ``paths``; other files are skipped.

    Raises when none is MP3: matching the codec then has nothing to match.
    """
    paths = list(paths)
    profile = [k for k in map(estimate_bitrate_kbps, paths) if k is not None]
    skipped = len(paths) - len(profile)
    if skipped:
        log.info("bitrate profile: skipped %d of %d files that are not MP3", skipped, len(paths))
    if not profile:
        raise ValueError(
            f"codec_match needs lossy MP3 human tracks; none of the {len(paths)} human "
            "tracks is MP3"
        )
    return profile


def assign_bitrate(profile: Sequence[int], seed: int, source: str, track: str) -> int:
    """A bitrate for one track drawn from ``profile`` (the empirical distribution).

    Seeded per (seed, source, track) like every other per-track choice (see
    :func:`synthdetect.seeds.track_rng`), over the sorted profile: the draw depends
    neither on job order nor on the order the profile was listed in.
    """
    if len(profile) == 0:
        raise ValueError("codec_match needs lossy MP3 human tracks; the bitrate profile is empty")
    values = sorted(int(k) for k in profile)
    return values[int(track_rng(seed, "bitrate", source, track).integers(len(values)))]
