"""The SoundFont renderer: output shape, level, limits, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

pytest.importorskip("tinysoundfont", reason="pip install --no-deps tinysoundfont")

from synthdetect.corpora.composer import compose  # noqa: E402
from synthdetect.corpora.synth import (  # noqa: E402
    DEFAULT_SOUNDFONT,
    RenderLengthError,
    RenderTimeoutError,
    render,
)

SR = 22050


def _midi(seconds: float, program: int = 0, is_drum: bool = False) -> pretty_midi.PrettyMIDI:
    """One note per second up to ``seconds``."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    for k in range(int(seconds)):
        pitch = 38 if is_drum else 60 + (k % 12)
        inst.notes.append(pretty_midi.Note(100, pitch, float(k), k + 0.8))
    pm.instruments.append(inst)
    return pm


@pytest.fixture(scope="module")
def song():
    return compose(4, min_seconds=30, max_seconds=45)


def test_default_soundfont_is_bundled():
    assert DEFAULT_SOUNDFONT.name == "TimGM6mb.sf2" and DEFAULT_SOUNDFONT.is_file()


def test_song_renders_mono_float32_not_silent(song):
    audio = render(song.midi, sample_rate=SR, max_seconds=60, timeout_s=60)
    assert audio.dtype == np.float32 and audio.ndim == 1
    end = song.midi.get_end_time()
    assert abs(len(audio) - (end + 1.5) * SR) <= 2  # end of MIDI + default release tail
    assert np.isfinite(audio).all()
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.01
    # every 5 s stretch of the song sounds (no dropouts)
    frames = audio[: int(end * SR) // (5 * SR) * 5 * SR].reshape(-1, 5 * SR)
    assert (np.sqrt(np.mean(frames**2, axis=1)) > 1e-3).all()


def test_render_is_deterministic(song):
    a = render(song.midi, sample_rate=SR, max_seconds=60, timeout_s=60)
    b = render(song.midi, sample_rate=SR, max_seconds=60, timeout_s=60)
    assert np.array_equal(a, b)


def test_too_long_midi_raises_or_is_cut():
    midi = _midi(20)
    with pytest.raises(RenderLengthError, match="max_seconds=5"):
        render(midi, sample_rate=SR, max_seconds=5, timeout_s=30)
    cut = render(midi, sample_rate=SR, max_seconds=5, timeout_s=30, truncate=True)
    assert len(cut) == 5 * SR
    assert np.sqrt(np.mean(cut**2)) > 1e-3


def test_release_tail_is_bounded_by_max_seconds():
    midi = _midi(4)  # last note ends at 3.8 s; a 1.5 s tail would pass 4 s
    audio = render(midi, sample_rate=SR, max_seconds=4.0, timeout_s=30)
    assert len(audio) == 4 * SR


def test_timeout_raises():
    with pytest.raises(RenderTimeoutError, match="timeout_s"):
        render(_midi(30), sample_rate=SR, max_seconds=40, timeout_s=1e-6)


def test_drums_and_out_of_range_programs_render():
    drums = render(_midi(3, is_drum=True), sample_rate=SR, max_seconds=10, timeout_s=30)
    assert np.sqrt(np.mean(drums**2)) > 1e-3
    for program in (0, 40, 73, 127):
        audio = render(_midi(2, program=program), sample_rate=SR, max_seconds=10, timeout_s=30)
        assert np.sqrt(np.mean(audio**2)) > 1e-4, program


def test_empty_midi_renders_silence():
    audio = render(pretty_midi.PrettyMIDI(), sample_rate=SR, max_seconds=10, timeout_s=30)
    assert len(audio) == int(1.5 * SR) and not audio.any()


def test_bad_arguments():
    with pytest.raises(FileNotFoundError, match="SoundFont"):
        render(_midi(1), sample_rate=SR, max_seconds=5, timeout_s=5, soundfont="/no/such.sf2")
    with pytest.raises(ValueError, match="sample_rate"):
        render(_midi(1), sample_rate=0, max_seconds=5, timeout_s=5)


def test_another_soundfont_sounds_different(tmp_path: Path):
    fluid = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if not fluid.is_file():
        pytest.skip("second SoundFont absent (apt-get install fluid-soundfont-gm)")
    midi = _midi(3)
    a = render(midi, sample_rate=SR, max_seconds=10, timeout_s=60)
    b = render(midi, sample_rate=SR, max_seconds=10, timeout_s=60, soundfont=fluid)
    assert len(a) == len(b) and not np.allclose(a, b)
