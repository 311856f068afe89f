"""Render MIDI to audio with a SoundFont, bounded in length and in wall time.

The renderer is TinySoundFont (the ``tinysoundfont`` package, installed with
``pip install --no-deps tinysoundfont``: its optional pyaudio dependency is only needed
for live playback). The default SoundFont is the General MIDI bank that ships inside
``pretty_midi`` (TimGM6mb.sf2); any other ``.sf2``/``.sf3`` file can be passed instead,
e.g. Debian's ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (package ``fluid-soundfont-gm``)
for a second "instrument maker".

Audio is generated block by block between MIDI events into a buffer whose size is fixed
in advance by ``max_seconds``, and the wall clock is checked after every block, so a
render can neither grow without bound nor run forever (a command-line synthesiser once
wrote 73 GB here from a 285 s MIDI).
"""

from __future__ import annotations

import logging
import math
import time
from os import PathLike
from pathlib import Path

import numpy as np
import pretty_midi

__all__ = [
    "DEFAULT_SOUNDFONT",
    "RenderLengthError",
    "RenderLimitError",
    "RenderTimeoutError",
    "render",
]

log = logging.getLogger(__name__)

DEFAULT_SOUNDFONT = Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"
_DRUM_CHANNEL = 9
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != _DRUM_CHANNEL)

# Event priorities at one sample: controls and bends first, then note-offs, then note-ons
# (so a note re-struck at the instant it ends is heard).
_CONTROL, _BEND, _OFF, _ON = 0, 1, 2, 3


class RenderLimitError(RuntimeError):
    """A render would exceed one of its limits."""


class RenderLengthError(RenderLimitError):
    """The MIDI is longer than ``max_seconds`` (and ``truncate`` was not asked for)."""


class RenderTimeoutError(RenderLimitError):
    """Rendering took longer than ``timeout_s`` of wall time."""


def _load_synth(soundfont: Path, sample_rate: int):
    try:
        import tinysoundfont
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "synthdetect.corpora.synth needs tinysoundfont: pip install --no-deps tinysoundfont"
        ) from exc
    if not soundfont.is_file():
        raise FileNotFoundError(f"SoundFont not found: {soundfont}")
    synth = tinysoundfont.Synth(samplerate=int(sample_rate))
    sfid = synth.sfload(str(soundfont))
    return synth, sfid


def _assign_channels(instruments: list[pretty_midi.Instrument]) -> list[int]:
    """One MIDI channel per melodic program (drums on channel 10, i.e. index 9)."""
    channels: list[int] = []
    by_program: dict[int, int] = {}
    for inst in instruments:
        if inst.is_drum:
            channels.append(_DRUM_CHANNEL)
            continue
        if inst.program not in by_program:
            slot = len(by_program)
            if slot >= len(_MELODIC_CHANNELS):
                log.warning(
                    "more than %d melodic programs; program %d shares a channel",
                    len(_MELODIC_CHANNELS),
                    inst.program,
                )
            by_program[inst.program] = _MELODIC_CHANNELS[slot % len(_MELODIC_CHANNELS)]
        channels.append(by_program[inst.program])
    return channels


def render(
    midi: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    max_seconds: float,
    timeout_s: float,
    soundfont: str | PathLike[str] | None = None,
    tail_seconds: float = 1.5,
    truncate: bool = False,
    block_frames: int = 4096,
) -> np.ndarray:
    """Render ``midi`` to mono float32 audio at ``sample_rate``.

    The result lasts the MIDI's end time plus ``tail_seconds`` of release (reverb and
    decays), but never more than ``max_seconds``. A MIDI whose last event lies beyond
    ``max_seconds`` raises :class:`RenderLengthError` before anything is rendered, unless
    ``truncate=True``, which cuts it at ``max_seconds``. A render that takes more than
    ``timeout_s`` seconds of wall time raises :class:`RenderTimeoutError`.

    The level is the SoundFont's own (not normalised; dense mixes may exceed 1.0).
    ``soundfont`` defaults to pretty_midi's bundled General MIDI bank (TimGM6mb.sf2).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    sf_path = Path(soundfont) if soundfont is not None else DEFAULT_SOUNDFONT

    end_time = float(midi.get_end_time())
    if end_time > max_seconds and not truncate:
        raise RenderLengthError(
            f"MIDI lasts {end_time:.2f} s, longer than max_seconds={max_seconds:g} "
            "(pass truncate=True to cut it)"
        )
    max_frames = int(math.floor(max_seconds * sample_rate + 1e-6))  # x / sr * sr may be x - eps
    n_frames = min(int(math.ceil((end_time + max(tail_seconds, 0.0)) * sample_rate)), max_frames)

    started = time.monotonic()
    synth, sfid = _load_synth(sf_path, sample_rate)

    channels = _assign_channels(midi.instruments)
    configured: set[int] = set()
    events: list[tuple[int, int, int, int, int, int]] = []  # frame, prio, seq, chan, a, b
    seq = 0
    for inst, chan in zip(midi.instruments, channels, strict=True):
        if chan not in configured:
            configured.add(chan)
            try:
                synth.program_select(chan, sfid, 0, int(inst.program), is_drums=inst.is_drum)
            except RuntimeError:
                log.warning(
                    "%s has no preset %d (drums=%s); using preset 0",
                    sf_path.name,
                    inst.program,
                    inst.is_drum,
                )
                synth.program_select(chan, sfid, 0, 0, is_drums=inst.is_drum)
        for note in inst.notes:
            on = int(round(note.start * sample_rate))
            off = int(round(note.end * sample_rate))
            if off <= on or on >= n_frames or not 0 <= note.pitch <= 127:
                continue
            events.append((on, _ON, seq, chan, int(note.pitch), int(note.velocity)))
            events.append((off, _OFF, seq, chan, int(note.pitch), 0))
            seq += 1
        for cc in inst.control_changes:
            frame = int(round(cc.time * sample_rate))
            events.append((frame, _CONTROL, seq, chan, int(cc.number), int(cc.value)))
            seq += 1
        for bend in inst.pitch_bends:
            frame = int(round(bend.time * sample_rate))
            events.append((frame, _BEND, seq, chan, int(bend.pitch) + 8192, 0))
            seq += 1
    events.sort()

    out = np.zeros((n_frames, 2), dtype=np.float32)
    pos = 0

    def advance(to: int) -> None:
        nonlocal pos
        to = min(to, n_frames)
        while pos < to:
            step = min(block_frames, to - pos)
            synth.generate_simple(step, buffer=memoryview(out[pos : pos + step]).cast("B"))
            pos += step
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise RenderTimeoutError(
                    f"rendering took more than timeout_s={timeout_s:g} s "
                    f"({pos / sample_rate:.1f} of {n_frames / sample_rate:.1f} s done)"
                )

    for frame, prio, _, chan, a, b in events:
        if frame >= n_frames:
            break
        advance(frame)
        if prio == _ON:
            synth.noteon(chan, a, b)
        elif prio == _OFF:
            synth.noteoff(chan, a)
        elif prio == _CONTROL:
            synth.control_change(chan, a, b)
        else:
            synth.pitchbend(chan, min(max(a, 0), 16383))
    advance(n_frames)
    return out.mean(axis=1, dtype=np.float32)
