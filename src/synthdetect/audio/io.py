"""Reading tracks: probe a candidate, cut its 30 s window, write the clip.

Everything decodes with soundfile (libsndfile reads MP3, OGG, Opus and FLAC), and only
the window that is needed: ``sf.read(start=, stop=)`` seeks, so a 30 s crop out of a
150 s track costs about as much as decoding 30 s.

:func:`inspect` is the one judge of bad input -- the manifest's probe, the clip stage and
``synthdetect predict`` all take its reasons (:data:`PROBLEMS`), so an empty file, a text
file named ``.mp3``, a cut download or NaN samples read the same everywhere.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

#: Clips are stored losslessly so the clip stage adds no codec of its own: 16-bit PCM
#: WAV. FLAC holds the same samples in ~55-85 % of the bytes, but writing and reading it
#: back cost ~17 ms per track against ~2.5 ms, a quarter of the whole per-track stage
#: (bench/preprocess.py); the spectrogram sees identical samples either way.
CLIP_FORMAT = "WAV"
CLIP_SUBTYPE = "PCM_16"

log = logging.getLogger(__name__)


#: Channel counts the clip stage downmixes (mono up to 7.1): more is a multitrack or
#: ambisonic recording, whose plain mean is no mix anyone listens to.
MAX_CHANNELS = 8
#: How far a decode may fall short of the frames its header promises before the file
#: counts as truncated: MP3 decoders disagree by a few ms of encoder delay, and a window
#: that misses a quarter second at its end loses nothing a spectrogram would show.
TRUNCATION_TOLERANCE_S = 0.25
#: The stretch at the end of a file the probe decodes to check the header's length.
TAIL_S = 0.5

#: Every kind of problem :func:`inspect` reports, and how its ``reason`` starts.
PROBLEMS = {
    "missing": "no such file",
    "not_a_file": "a directory, not an audio file / not a regular file",
    "unreadable": "cannot read: ...",
    "empty": "empty file (0 bytes) / empty stream: ...",
    "not_audio": "not an audio file soundfile can read (...)",
    "layout": "unsupported layout: ...",
    "too_short": "too short: ...",
    "truncated": "truncated: decodes X s but its header promises Y s",
    "non_finite": "non-finite samples (NaN or inf) ...",
    "silent": "silent: ...",
    "undecodable": "undecodable: ...",
}


class AudioError(ValueError):
    """A track that cannot be used: ``reason`` in words, ``problem`` one of :data:`PROBLEMS`.

    The message names the file, so it reads on its own in a log or a failed job.
    """

    def __init__(self, reason: str, path: str | os.PathLike | None = None, problem: str = ""):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.problem = problem or "undecodable"
        super().__init__(reason if path is None else f"{path}: {reason}")


@dataclass(frozen=True)
class Probe:
    """What a candidate track looks like, or why it cannot be used.

    ``reason`` (empty when ``ok``) and ``problem`` (a key of :data:`PROBLEMS`) say why
    not; ``warnings`` hold what does not stop its use but a reader should know (the
    decoder's own complaints, a truncation scored anyway). ``duration_s`` is the header's
    length, or in whole-file mode what actually decodes.
    """

    ok: bool
    reason: str
    duration_s: float
    samplerate: int
    problem: str = ""
    channels: int = 0
    warnings: tuple[str, ...] = ()

    @classmethod
    def failed(cls, err: AudioError, duration_s: float = 0.0, samplerate: int = 0, **kw) -> Probe:
        return cls(False, err.reason, duration_s, samplerate, problem=err.problem, **kw)


# --------------------------------------------------------------------------- decoder chatter

#: A line libmpg123 (libsndfile's MP3 decoder) prints to the process's stderr.
_DECODER_LINE = re.compile(
    r"^(?:Note|Warning|Error): |^\[[^\]\s]*libmpg123[^\]\s]*:\w+\(\):\d+\] \w+: "
)
#: Its complaint after every seek into a bit reservoir (the frames before are missing):
#: normal when a window starts mid-file, so not worth a warning.
_BENIGN = re.compile(r"part2_3_length \(\d+\) too large for available bit count")


class DecoderLines(list):
    """The decoder's lines; ``shared`` when another thread decoded meanwhile, so some of
    them may be that thread's."""

    shared = False


class _Capture:
    """The one redirection of fd 2 shared by every thread that is decoding."""

    lock = threading.Lock()
    active: list[DecoderLines] = []
    depth = 0
    saved: int | None = None
    fd: int | None = None
    passed = 0  # bytes of the capture file already sorted and passed through


def _flush_stderr() -> None:
    with suppress(Exception):
        sys.stderr.flush()


def _sort_captured(upto: int, final: bool) -> None:
    """Pass what others wrote to fd 2 meanwhile (log records, progress) on to the real
    stderr; decoder lines stay behind. Whole lines only, unless the capture ends."""
    text = os.pread(_Capture.fd, upto - _Capture.passed, _Capture.passed)
    if not final:
        text = text[: text.rfind(b"\n") + 1]
    _Capture.passed += len(text)
    keep = [
        line
        for line in text.decode("utf-8", "replace").splitlines(keepends=True)
        if not _DECODER_LINE.match(line)
    ]
    if keep:
        with suppress(OSError):
            os.write(_Capture.saved, "".join(keep).encode())


@contextmanager
def decoder_messages() -> Iterator[DecoderLines]:
    """Keep the decoder's stderr chatter off the terminal; yields the list of its lines.

    libmpg123 prints notes such as ``Note: Trying to resync...`` straight to fd 2, where
    Python cannot catch them, so fd 2 points at a temporary file while this is open and
    the lines written meanwhile are sorted on the way out: the decoder's (less the
    harmless reservoir notes after a seek) land in the list, anything else goes on to
    the real stderr. Threads share one redirection: when they overlap, each list is
    marked ``shared`` (its lines may be a neighbour's).
    """
    lines = DecoderLines()
    with _Capture.lock:
        if _Capture.active:
            lines.shared = True
            for other in _Capture.active:
                other.shared = True
        _Capture.active.append(lines)
        if _Capture.depth == 0:
            _flush_stderr()
            try:
                saved = os.dup(2)
            except OSError:  # no stderr at all: nothing to keep off it
                saved = None
            if saved is not None:
                fd, name = tempfile.mkstemp(prefix="synthdetect-stderr-")
                os.unlink(name)
                os.dup2(fd, 2)
                _Capture.saved, _Capture.fd, _Capture.passed = saved, fd, 0
        _Capture.depth += 1
        start = os.fstat(_Capture.fd).st_size if _Capture.fd is not None else 0
    try:
        yield lines
    finally:
        with _Capture.lock:
            _Capture.active = [x for x in _Capture.active if x is not lines]
            _Capture.depth -= 1
            if _Capture.fd is not None:
                _flush_stderr()
                end = os.fstat(_Capture.fd).st_size
                mine = os.pread(_Capture.fd, end - start, start).decode("utf-8", "replace")
                lines += [
                    line.strip()
                    for line in mine.splitlines()
                    if _DECODER_LINE.match(line) and not _BENIGN.search(line)
                ]
                _sort_captured(end, final=_Capture.depth == 0)
                if _Capture.depth == 0:
                    os.dup2(_Capture.saved, 2)
                    os.close(_Capture.saved)
                    os.close(_Capture.fd)
                    _Capture.saved = _Capture.fd = None


def describe_decoder(lines: list[str], limit: int = 2) -> str:
    """The decoder's lines as one warning: the first distinct ones, and how many more."""
    seen = list(dict.fromkeys(re.sub(r"^\[[^\]]*\] \w+: |^\w+: ", "", x) for x in lines))
    if not seen:
        return ""
    more = f" (+{len(seen) - limit} more)" if len(seen) > limit else ""
    return "decoder: " + "; ".join(seen[:limit]) + more


# --------------------------------------------------------------------------- inspecting


def _check_file(path: str | os.PathLike) -> None:
    """The problems the file system answers, before libsndfile blurs them into one."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError("no such file", path, "missing") from None
    except OSError as err:
        raise AudioError(f"cannot read: {err.strerror or err}", path, "unreadable") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError("a directory, not an audio file", path, "not_a_file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError("not a regular file", path, "not_a_file")
    if st.st_size == 0:
        raise AudioError("empty file (0 bytes)", path, "empty")
    if not os.access(path, os.R_OK):
        raise AudioError("cannot read: permission denied", path, "unreadable")


def _open(path: str | os.PathLike) -> sf.SoundFile:
    """Open for decoding; a file libsndfile refuses is 'not audio', in its own words
    except the misleading ones (MP3 garbage reads 'File does not exist')."""
    _check_file(path)
    try:
        f = sf.SoundFile(str(path))
    except (RuntimeError, OSError) as err:  # LibsndfileError is a RuntimeError
        detail = _words(err)
        if "does not exist" in detail or "not a regular file" in detail:
            detail = "Format not recognised"
        raise AudioError(
            f"not an audio file soundfile can read ({detail})", path, "not_audio"
        ) from None
    try:
        _check_layout(f, path)
    except AudioError:
        f.close()
        raise
    return f


def _check_layout(f: sf.SoundFile, path) -> None:
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise AudioError(
            f"unsupported layout: {f.channels} channels (1 to {MAX_CHANNELS} are supported)",
            path,
            "layout",
        )
    if f.samplerate <= 0:
        raise AudioError(f"unsupported layout: sample rate {f.samplerate} Hz", path, "layout")
    if f.frames <= 0:
        raise AudioError("empty stream: the header holds no audio frames", path, "empty")


#: libsndfile's log line for a WAV/AIFF data chunk longer than the file.
_SHORT_CHUNK = re.compile(r"^(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4}


def _promised_frames(f: sf.SoundFile) -> int:
    """Frames the header promises. libsndfile trims a WAV/AIFF whose data chunk outruns
    the file to what is there, and says so only in its log; elsewhere ``frames``."""
    if f.format not in ("WAV", "WAVEX", "AIFF", "RF64"):
        return f.frames
    m = _SHORT_CHUNK.search(f.extra_info)
    width = _SAMPLE_BYTES.get(f.subtype, 8 if f.subtype == "DOUBLE" else 0)
    if not m or not width:
        return f.frames
    promised = int(m.group(1)) // (width * f.channels)
    # a streamed WAV leaves the size at 0 or all ones: no promise made
    return promised if f.frames < promised < 0xFFFFFFFF // (width * f.channels) else f.frames


@dataclass
class _Scan:
    """What decoding a file from the start found."""

    frames: int = 0
    sum_squares: float = 0.0  # of the mono downmix, block by block
    peak: float = 0.0
    broke: str = ""  # the decoder's error, when a read failed rather than ended
    non_finite_s: float | None = None


def _scan(f: sf.SoundFile, block: int) -> _Scan:
    """Decode ``f`` from its current position to where the stream ends or breaks."""
    out = _Scan()
    while True:
        try:
            y = f.read(block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            out.broke = _words(err)
            return out
        if y.shape[0] == 0:
            return out
        if out.non_finite_s is None:
            at = _first_non_finite(y, f.samplerate)
            if at is not None:
                out.non_finite_s = out.frames / f.samplerate + at
        if out.non_finite_s is None:
            mono = downmix(y)
            out.sum_squares += float(np.dot(mono, mono))  # float32 is plenty for a level
            out.peak = max(out.peak, float(np.max(np.abs(mono))))
        out.frames += y.shape[0]


def _decodable(path: str | os.PathLike, block: int = 4096) -> _Scan:
    """Decode the whole file in small blocks: the slow, certain count, run only once a
    cheap check saw a file fall short. A read that breaks returns nothing, so what it
    says decodes is good to one ``block``."""
    with sf.SoundFile(str(path)) as f:
        return _scan(f, block)


def _decodable_frames(path: str | os.PathLike) -> int:
    try:
        return _decodable(path).frames
    except (sf.LibsndfileError, RuntimeError):
        return 0


def _truncation(path, decodes: int, promised: int, samplerate: int) -> AudioError | None:
    """The truncation error when ``decodes`` falls short of ``promised`` beyond tolerance."""
    if promised - decodes <= TRUNCATION_TOLERANCE_S * samplerate:
        return None
    return AudioError(
        f"truncated: decodes {decodes / samplerate:.1f} s but its header promises "
        f"{promised / samplerate:.1f} s",
        path,
        "truncated",
    )


def _truncated(path, promised: int, samplerate: int) -> AudioError | None:
    """:func:`_truncation` after counting what decodes."""
    return _truncation(path, _decodable_frames(path), promised, samplerate)


def _read_frames(f: sf.SoundFile, path, start: int, n: int) -> np.ndarray:
    """``n`` frames from ``start`` as float32 ``(frames, channels)``; a read that breaks
    off or stops short of what the header says is there is a truncated (or corrupt) file."""
    expected = max(min(n, f.frames - start), 0)
    try:
        f.seek(start)
        y = f.read(n, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _truncated(path, f.frames, f.samplerate) or AudioError(
            f"undecodable: {_words(err)}", path, "undecodable"
        ) from None
    if expected - y.shape[0] > TRUNCATION_TOLERANCE_S * f.samplerate:
        raise _truncated(path, f.frames, f.samplerate) or AudioError(
            f"undecodable: {y.shape[0] / f.samplerate:.1f} s decode from "
            f"{start / f.samplerate:.1f} s where {expected / f.samplerate:.1f} s should",
            path,
            "undecodable",
        )
    return y


def _words(err: Exception) -> str:
    text = getattr(err, "error_string", None) or str(err)
    return " ".join(text.split()).rstrip(".")


def _first_non_finite(y: np.ndarray, samplerate: int) -> float | None:
    """Seconds into ``y`` of its first NaN or inf sample (float WAV/AIFF/CAF can hold
    them), or None. A sum is the cheap test (a quarter of ``isfinite().all()``); only a
    non-finite sum, which huge finite samples can also give, pays for the exact look."""
    if np.isfinite(y.sum()):
        return None
    bad = ~np.isfinite(y)
    if y.ndim > 1:
        bad = bad.any(axis=1)
    return int(np.argmax(bad)) / samplerate if bad.any() else None


def _check_finite(y: np.ndarray, path, first_s: float, samplerate: int) -> None:
    at = _first_non_finite(y, samplerate)
    if at is not None:
        raise _non_finite(path, first_s + at)


def _non_finite(path, at_s: float) -> AudioError:
    return AudioError(f"non-finite samples (NaN or inf) from {at_s:.1f} s", path, "non_finite")


def _silence(sum_squares: float, count: int, peak: float, silence_dbfs: float) -> str:
    """The 'silent' reason for audio of this energy, or '' when it is loud enough."""
    if peak == 0.0:
        return "silent: every sample is zero"
    level = 10 * np.log10(max(sum_squares / max(count, 1), 1e-24))
    if level < silence_dbfs:
        return f"silent: RMS {level:.1f} dBFS < {silence_dbfs:.1f} dBFS"
    return ""


def inspect(
    path: str | os.PathLike,
    *,
    offset_s: float = 0.0,
    seconds: float | None = 30.0,
    min_seconds: float | None = None,
    silence_dbfs: float = -60.0,
) -> Probe:
    """Classify a track: usable, or the one problem that stops it (see :data:`PROBLEMS`).

    Window mode (``seconds`` given, the manifest's probe): the file must be at least
    ``min_seconds`` long (default ``seconds`` less 0.5 s of encoder padding), and the
    window ``[offset_s, offset_s + seconds)`` must decode whole, be finite and be louder
    than ``silence_dbfs`` RMS. Only the window and the last :data:`TAIL_S` are decoded:
    a file cut short of its header (a partial download; MP3 and FLAC headers state the
    length) fails to decode its tail, and only then is the whole file counted to say
    how much is left. That costs a seek and half a second of decoding, a small part of
    decoding the whole file (a 30 s clip, whose window is the whole file, costs nothing
    extra).

    Whole-file mode (``seconds=None``, for scoring): every frame is decoded. A truncated
    file is then usable for what decodes -- ``duration_s`` says how much, ``warnings``
    that it was cut -- and the whole file must be finite and not silent.
    """
    with decoder_messages() as chatter:
        try:
            probe_ = _inspect(path, offset_s, seconds, min_seconds, silence_dbfs)
        except (RuntimeError, OSError) as err:  # a decoder failure none of the checks foresaw
            probe_ = Probe(False, f"undecodable: {_words(err)}", 0.0, 0, problem="undecodable")
    note = describe_decoder(chatter)
    if note and chatter.shared:  # other threads decoded too: the lines may be theirs
        log.debug("while probing %s: %s", path, note)
    elif note:
        log.info("%s: %s", path, note)
        probe_ = replace(probe_, warnings=(*probe_.warnings, note))
    return probe_


def _inspect(path, offset_s, seconds, min_seconds, silence_dbfs) -> Probe:
    try:
        f = _open(path)
    except AudioError as err:
        return Probe.failed(err)
    with f:
        sr, frames = f.samplerate, f.frames
        duration = frames / sr
        header = {"duration_s": duration, "samplerate": sr, "channels": f.channels}
        try:
            if seconds is None:
                return _inspect_whole(f, path, silence_dbfs, min_seconds or 0.0)
            cut = _truncation(path, frames, _promised_frames(f), sr)
            if cut:
                raise cut
            min_seconds = seconds - 0.5 if min_seconds is None else min_seconds
            if duration < min_seconds:
                raise AudioError(
                    f"too short: {duration:.2f} s < {min_seconds:.2f} s", path, "too_short"
                )
            start, n = int(round(offset_s * sr)), int(round(seconds * sr))
            if start >= frames:
                raise AudioError(
                    f"window starts at {offset_s:.2f} s, past the end ({duration:.2f} s)",
                    path,
                    "too_short",
                )
            y = _read_frames(f, path, start, n)
            _check_finite(y, path, offset_s, sr)
            tail = int(TAIL_S * sr)
            if frames - (start + n) > tail:
                _read_frames(f, path, frames - tail, tail)
        except AudioError as err:
            return Probe.failed(err, **header)
    mono = downmix(y)
    reason = _silence(
        float(np.dot(mono, mono)), mono.size, float(np.max(np.abs(mono), initial=0.0)), silence_dbfs
    )
    if reason:
        return Probe(False, reason, problem="silent", **header)
    return Probe(True, "", **header)


def _inspect_whole(f: sf.SoundFile, path, silence_dbfs: float, min_seconds: float) -> Probe:
    """Decode a whole open file: how much decodes, is it finite, is it loud enough."""
    sr = f.samplerate
    scan = _scan(f, sr * 10)
    if scan.broke:  # the broken read took its block's good frames along: count in small steps
        scan = _decodable(path)
    header = {"samplerate": sr, "channels": f.channels}
    if scan.non_finite_s is not None:
        return Probe.failed(_non_finite(path, scan.non_finite_s), f.frames / sr, **header)
    n = scan.frames
    if n == 0:
        err = AudioError(f"undecodable: {scan.broke or 'no frame decodes'}", path, "undecodable")
        return Probe.failed(err, **header)
    warnings = []
    cut = _truncation(path, n, max(_promised_frames(f), f.frames), sr)
    if cut:
        warnings.append(cut.reason)
    if n / sr < min_seconds:
        reason = f"too short: {n / sr:.2f} s < {min_seconds:.2f} s"
        return Probe(False, reason, n / sr, problem="too_short", **header)
    reason = _silence(scan.sum_squares, n, scan.peak, silence_dbfs)
    if reason:
        return Probe(False, reason, n / sr, problem="silent", **header)
    return Probe(True, "", n / sr, warnings=tuple(warnings), **header)


def probe(
    path: str | os.PathLike,
    *,
    offset_s: float = 0.0,
    seconds: float = 30.0,
    min_seconds: float | None = None,
    silence_dbfs: float = -60.0,
) -> Probe:
    """The manifest's probe: :func:`inspect` of the track's crop window."""
    return inspect(
        path,
        offset_s=offset_s,
        seconds=seconds,
        min_seconds=min_seconds,
        silence_dbfs=silence_dbfs,
    )


def source_rate(path: str | os.PathLike) -> int:
    """The sample rate a file decodes at."""
    with _open(path) as f:
        return f.samplerate


def read_window(
    path: str | os.PathLike,
    offset_s: float,
    seconds: float,
    *,
    samplerate: int | None,
    frames: int | None = None,
) -> np.ndarray:
    """Decode ``seconds`` of mono float32 audio from ``offset_s``, resampled to ``samplerate``.

    A window that runs past the end is zero-padded (MP3 decoders differ by a few ms of
    encoder delay); ``samplerate=None`` keeps the file's own rate. A window that decodes
    short of what the header promises, or holds NaN or inf, raises :class:`AudioError`
    (``truncated``, ``non_finite``): padding it would hide a broken file. ``frames``
    overrides the header's length with what is known to decode (a truncated file that
    :func:`inspect` measured, scored on what is left).
    """
    with _open(path) as f:
        sr = f.samplerate
        start = int(round(offset_s * sr))
        n = int(round(seconds * sr))
        length = f.frames if frames is None else min(frames, f.frames)
        if start >= length:
            raise AudioError(
                f"window starts at {offset_s:.2f} s, past the end ({length / sr:.2f} s)",
                path,
                "too_short",
            )
        y = _read_frames(f, path, start, min(n, length - start) if frames is not None else n)
    _check_finite(y, path, offset_s, sr)
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
    at a fraction of its cost: numpy's reduction over a short inner axis is slow.
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
    samples without importing librosa, which costs seconds and memory in a fresh process.
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
    as int16: the same file, without libsndfile's float conversion.
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
    frames: int | None = None,
) -> None:
    """The clip stage: the track's window, mono, at the configured rate, as 16-bit WAV.

    ``frames`` is :func:`read_window`'s (scoring a truncated file on what decodes)."""
    y = read_window(source, offset_s, seconds, samplerate=samplerate, frames=frames)
    write_clip(dest, y, samplerate)
