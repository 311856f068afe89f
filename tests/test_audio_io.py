"""audio.io's classification of bad input: every problem gets its own reason, in words.

:func:`write_bad_inputs` makes the files a new user trips over (the other bad-input tests
reuse it): an empty file, text named ``.mp3``, an MP3 and a FLAC (``partial.flac``) cut
to a twentieth of their bytes (headers still promising 45 s), NaN and inf samples,
digital silence, a second of noise, 10 channels, a header without frames and a folder
named ``x.mp3``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like

from synthdetect.audio.io import (
    AudioError,
    decoder_messages,
    describe_decoder,
    inspect,
    probe,
    read_window,
)


def song(seed: int, seconds: float, sr: int = SR) -> np.ndarray:
    """``seconds`` of generated music: 5 s repeated (cheap at any length)."""
    y = music_like(seed, 5.0, label="human", sr=sr)
    return np.tile(y, int(np.ceil(seconds / 5.0)))[: int(seconds * sr)]


def cut(src: Path, dest: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


#: What the manifest's probe (a 30 s window at 0) says of each file :func:`write_bad_inputs`
#: writes: the whole reason, or a pattern for it.
PROBE_REASONS = {
    "empty.mp3": "empty file (0 bytes)",
    "notes.mp3": "not an audio file soundfile can read (Format not recognised)",
    "cut.mp3": re.compile(r"truncated: decodes [1-3]\.\d s but its header promises 45\.0 s"),
    "partial.flac": re.compile(r"truncated: decodes [1-3]\.\d s but its header promises 45\.0 s"),
    "nan.wav": "non-finite samples (NaN or inf) from 0.0 s",
    "inf.wav": "non-finite samples (NaN or inf) from 12.0 s",
    "silence.wav": "silent: every sample is zero",
    "noise1s.wav": "too short: 1.00 s < 29.50 s",
    "ten.wav": "unsupported layout: 10 channels (1 to 8 are supported)",
    "noframes.wav": "empty stream: the header holds no audio frames",
    "x.mp3": "a directory, not an audio file",
}


def write_bad_inputs(d: Path) -> Path:
    """The bad inputs of :data:`PROBE_REASONS` in ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    full = d.parent / f".{d.name}-full"
    full.mkdir(exist_ok=True)
    (d / "empty.mp3").write_bytes(b"")
    (d / "notes.mp3").write_text("shopping: milk, eggs, a new guitar string\n" * 20)
    sf.write(full / "song.mp3", song(1, 45.0), SR, format="MP3")
    cut(full / "song.mp3", d / "cut.mp3", 1 / 20)
    sf.write(full / "song.flac", song(2, 45.0), SR)
    cut(full / "song.flac", d / "partial.flac", 1 / 20)
    sf.write(d / "nan.wav", np.full(40 * SR, np.nan, np.float32), SR, subtype="FLOAT")
    y = song(3, 40.0)
    y[12 * SR :] = np.inf
    sf.write(d / "inf.wav", y, SR, subtype="FLOAT")
    sf.write(d / "silence.wav", np.zeros(40 * SR, np.float32), SR)
    noise = 0.1 * np.random.default_rng(0).standard_normal(SR)
    sf.write(d / "noise1s.wav", noise.astype(np.float32), SR)
    sf.write(d / "ten.wav", np.full((SR, 10), 0.1, np.float32), SR)
    sf.write(d / "noframes.wav", np.zeros((0, 1), np.float32), SR)
    (d / "x.mp3").mkdir(exist_ok=True)
    return d


def matches(reason: str, want) -> bool:
    return want.fullmatch(reason) is not None if isinstance(want, re.Pattern) else reason == want


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return write_bad_inputs(tmp_path_factory.mktemp("audio") / "bad")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    sf.write(d / "song.mp3", song(4, 45.0), SR, format="MP3")
    sf.write(d / "low.wav", song(5, 40.0, sr=8000), 8000)
    six = np.stack([song(6, 31.0, sr=48000)] * 6, axis=1)
    sf.write(d / "six.wav", six, 48000, subtype="PCM_24")
    return d


def test_every_bad_input_gets_its_own_reason(bad, capfd):
    for name, want in PROBE_REASONS.items():
        found = probe(bad / name)
        assert not found.ok, name
        assert matches(found.reason, want), (name, found.reason)
    # libmpg123's complaints about the text and the cut MP3 did not reach the terminal
    err = capfd.readouterr().err
    assert "resync" not in err and "Xing" not in err and "Illegal" not in err, err


def test_problem_codes_and_error_messages_name_the_file(bad):
    codes = {name: probe(bad / name).problem for name in PROBE_REASONS}
    assert codes == {
        "empty.mp3": "empty",
        "notes.mp3": "not_audio",
        "cut.mp3": "truncated",
        "partial.flac": "truncated",
        "nan.wav": "non_finite",
        "inf.wav": "non_finite",
        "silence.wav": "silent",
        "noise1s.wav": "too_short",
        "ten.wav": "layout",
        "noframes.wav": "empty",
        "x.mp3": "not_a_file",
    }
    assert probe(bad / "missing.wav").reason == "no such file"
    with pytest.raises(AudioError, match=r"nan\.wav: non-finite samples") as info:
        read_window(bad / "nan.wav", 0.0, 30.0, samplerate=SR)
    assert info.value.problem == "non_finite" and info.value.path == str(bad / "nan.wav")


def test_good_files_pass_whatever_their_layout(good):
    for name in ("song.mp3", "low.wav", "six.wav"):
        found = probe(good / name)
        assert found.ok and found.reason == "" and found.warnings == (), (name, found)
    assert probe(good / "six.wav").channels == 6
    assert probe(good / "song.mp3", offset_s=14.5).ok  # a window mid-MP3: no decoder warning


def test_a_cut_after_the_window_is_found_by_the_tail_check(good, tmp_path):
    """The window decodes whole; only the file's last half second shows the cut."""
    short = cut(good / "song.mp3", tmp_path / "cut80.mp3", 0.8)
    found = probe(short, offset_s=0.0)
    assert found.problem == "truncated"
    assert re.fullmatch(
        r"truncated: decodes 3\d\.\d s but its header promises 45\.0 s", found.reason
    )
    flac = tmp_path / "song.flac"
    sf.write(flac, song(7, 45.0), SR)
    found = probe(cut(flac, tmp_path / "cut80.flac", 0.8), offset_s=0.0)
    assert found.problem == "truncated" and "header promises 45.0 s" in found.reason


def test_a_wav_shorter_than_its_data_chunk_is_truncated(tmp_path):
    sf.write(tmp_path / "long.wav", song(8, 40.0), SR)
    wav = cut(tmp_path / "long.wav", tmp_path / "cut.wav", 0.9)
    assert probe(wav).reason == "truncated: decodes 36.0 s but its header promises 40.0 s"


def test_quiet_is_silent_with_its_level(tmp_path):
    quiet = (10 ** (-70 / 20) * np.random.default_rng(1).standard_normal(31 * SR)).astype(
        np.float32
    )
    sf.write(tmp_path / "quiet.wav", quiet, SR, subtype="FLOAT")
    assert re.fullmatch(
        r"silent: RMS -70\.\d dBFS < -60\.0 dBFS", probe(tmp_path / "quiet.wav").reason
    )


def test_whole_file_mode_scores_what_decodes(bad, good):
    """Scoring's view: a cut file is usable for what decodes, with a warning."""
    found = inspect(bad / "cut.mp3", seconds=None)
    assert found.ok and 1.0 < found.duration_s < 3.0
    assert re.fullmatch(
        r"truncated: decodes [1-3]\.\d s but its header promises 45\.0 s", found.warnings[0]
    )
    assert any(w.startswith("decoder: ") for w in found.warnings)  # mpg123's own words
    found = inspect(bad / "partial.flac", seconds=None)
    assert found.ok and found.warnings[0].startswith("truncated: ") and found.duration_s > 1.0
    assert inspect(bad / "noise1s.wav", seconds=None).ok  # short: scoring pads it
    assert inspect(bad / "silence.wav", seconds=None).reason == "silent: every sample is zero"
    assert inspect(bad / "inf.wav", seconds=None).reason == PROBE_REASONS["inf.wav"]
    assert inspect(good / "six.wav", seconds=None).ok
    frames = int(round(found.duration_s * SR))
    y = read_window(bad / "partial.flac", 0.0, 30.0, samplerate=SR, frames=frames)
    assert y.shape == (30 * SR,) and y[:SR].any() and not y[frames + 1 :].any()
    with pytest.raises(AudioError, match="truncated: decodes"):
        read_window(bad / "partial.flac", 0.0, 30.0, samplerate=SR)


def test_decoder_messages_keep_decoder_lines_and_pass_the_rest(capfd):
    with decoder_messages() as lines:
        os.write(2, b"Note: Trying to resync...\n")
        os.write(2, b"a log line of someone else\n")
        os.write(
            2,
            b"[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length "
            b"(992) too large for available bit count (936)\n",
        )
        os.write(
            2, b"[src/libmpg123/parse.c:do_readahead():1083] warning: Cannot read next header\n"
        )
    err = capfd.readouterr().err
    assert err == "a log line of someone else\n"
    assert lines == ["Note: Trying to resync...", lines[1]] and not lines.shared
    assert describe_decoder(lines) == "decoder: Trying to resync...; Cannot read next header"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # fd 2 is back
