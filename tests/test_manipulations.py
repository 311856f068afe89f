"""The robustness manipulations, checked against the physics of real (synthesised) audio."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from synthdetect.audio import codec
from synthdetect.audio.manipulations import (
    DEFAULT_MANIPULATIONS,
    NAME_PATTERN,
    Manipulation,
    parse_manipulation,
    parse_manipulations,
)
from synthdetect.seeds import track_rng, track_seed

SR = 22050


def tone(freq: float, seconds: float = 2.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float = 2.0, sr: int = SR, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int = SR) -> float:
    """The strongest frequency, parabolic-interpolated between FFT bins."""
    y = y[len(y) // 8 : -len(y) // 8]  # away from edge effects
    mag = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    k = int(np.argmax(mag))
    a, b, c = np.log(mag[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (8 * len(y))


def level_db(y: np.ndarray, freq: float, sr: int = SR) -> float:
    """Amplitude of ``freq`` in dB (integer cycles in ``y``, so it sits on a bin)."""
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64))) / (len(y) / 2)
    return 20 * np.log10(spectrum[int(round(freq * len(y) / sr))] + 1e-20)


def lag_of(out: np.ndarray, ref: np.ndarray, max_lag: int = 50) -> int:
    """The shift (samples) at which ``out`` best matches ``ref``: 0 when aligned."""
    seg = ref[max_lag:-max_lag].astype(np.float64)
    n = len(out)
    c = [np.dot(out[max_lag + k : n - max_lag + k], seg) for k in range(-max_lag, max_lag + 1)]
    return int(np.argmax(c)) - max_lag


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def make(kind: str, **params) -> Manipulation:
    return parse_manipulation(f"test_{kind}", {"kind": kind, **params})


# --------------------------------------------------------------------------------------
# The default suite and the parser


def test_default_suite_names_are_path_safe_and_parse():
    suite = parse_manipulations(DEFAULT_MANIPULATIONS)
    assert len(suite) >= 18
    for name, m in suite.items():
        assert NAME_PATTERN.fullmatch(name) and "+" not in name
        assert m.name == name
    assert {m.kind for m in suite.values()} >= {"mp3", "pitch", "stretch", "noise", "lowpass"}
    assert ("opus_64" in suite) == codec.OPUS_AVAILABLE
    assert suite["tilt_p3db"].params == {"db_per_octave": 3, "pivot_hz": 1000.0}


@pytest.mark.parametrize(
    "name, spec, message",
    [
        (
            "noise_10db",
            {"kind": "noise", "snr": 10},
            "robustness.manipulations.noise_10db: unknown key 'snr' (expected 'snr_db')",
        ),
        ("x", {"kind": "chorus"}, "x: unknown kind 'chorus' in 'kind' (expected one of mp3,"),
        ("x", {"snr_db": 10}, "x: missing key 'kind'"),
        ("p", {"kind": "pitch"}, "p: missing key 'semitones' for kind 'pitch'"),
        ("p", {"kind": "pitch", "semitones": "2"}, "p: semitones must be a number"),
        ("s", {"kind": "stretch", "rate": 0}, "s: rate must be a number from 0.25 to 4"),
        ("n", {"kind": "noise", "snr_db": True}, "n: snr_db must be a number"),
        ("m", {"kind": "mp3", "kbps": 100}, "m: kbps 100 is not an MP3 (Layer III) bitrate"),
        ("t", {"kind": "tilt", "db_per_octave": 3, "pivot": 500}, "expected 'db_per_octave' or"),
        ("pitch_+1", {"kind": "pitch", "semitones": 1}, "is not usable in file paths"),
        ("a/b", {"kind": "pitch", "semitones": 1}, "is not usable in file paths"),
    ],
)
def test_parse_errors_name_the_manipulation_and_key(name, spec, message):
    with pytest.raises(ValueError) as err:
        parse_manipulation(name, spec)
    assert message in str(err.value)
    assert f"robustness.manipulations.{name}" in str(err.value)


def test_track_seed_is_stable_and_shares_the_manifest_scheme():
    s = track_seed(7, "fma", "000123", "noise_20db")
    assert s == track_seed(7, "fma", "000123", "noise_20db")
    assert 0 <= s < 2**64
    assert s != track_seed(7, "fma", "000124", "noise_20db")
    assert s != track_seed(8, "fma", "000123", "noise_20db")
    assert track_seed(7, "a", "b") == 10335891018184933017  # a changed hash would move all noise
    expected = track_rng(7, "a", "b").random(3)
    np.testing.assert_array_equal(
        np.random.default_rng(track_seed(7, "a", "b")).random(3), expected
    )


# --------------------------------------------------------------------------------------
# Common contract


@pytest.mark.parametrize("name", ["mp3_64", "noise_10db", "lowpass_2k", "tilt_m3db", "pitch_p1"])
def test_output_is_float32_same_length_and_within_range(name):
    m = parse_manipulation(name, DEFAULT_MANIPULATIONS[name])
    y = (tone(440, 1.0) + noise(1.0)).astype(np.float32)
    out = m.apply(y, SR, seed=1)
    assert out.dtype == np.float32 and out.shape == y.shape
    assert np.abs(out).max() <= 1.0


def test_clips_only_when_needed():
    loud = tone(440, 1.0, amp=0.99)
    out = make("noise", snr_db=0).apply(loud, SR, seed=0)
    assert np.abs(out).max() == 1.0  # pushed past full scale: clipped
    quiet = tone(440, 1.0, amp=0.1)
    out = make("noise", snr_db=0).apply(quiet, SR, seed=0)
    assert np.abs(out).max() < 1.0  # untouched by clipping
    np.testing.assert_array_equal(make("lowpass", hz=20000).apply(quiet, SR, seed=0), quiet)


def test_rejects_non_mono():
    with pytest.raises(ValueError, match="expected mono"):
        make("noise", snr_db=10).apply(np.zeros((100, 2), np.float32), SR, seed=0)


# --------------------------------------------------------------------------------------
# Physics


@pytest.mark.parametrize("semitones", [12, -2, -1, 1, 2])
def test_pitch_shift_moves_a_tone_by_the_semitone_ratio(semitones):
    y = tone(440, 1.5)
    out = make("pitch", semitones=semitones).apply(y, SR, seed=0)
    assert out.shape == y.shape
    expected = 440 * 2 ** (semitones / 12)
    assert peak_hz(out) == pytest.approx(expected, rel=0.003)  # +-5 cents
    assert rms(out) == pytest.approx(rms(y), rel=1e-3)


def ping_train(period: float, seconds: float = 4.0) -> np.ndarray:
    """Clicks with a little body: 1 kHz pings decaying in 20 ms, every ``period`` s."""
    t = np.arange(int(0.1 * SR)) / SR
    ping = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.02)
    y = np.zeros(int(seconds * SR))
    for start in range(0, len(y) - len(t), int(period * SR)):
        y[start : start + len(t)] += ping
    return (0.5 * y).astype(np.float32)


def onset_spacing(y: np.ndarray) -> float:
    """Seconds between onsets: the period of the energy envelope's strongest 1.5-8 Hz line.

    The envelope's spectrum averages over every onset; single onset times would jitter by
    a phase-vocoder hop (23 ms).
    """
    seg = y[int(0.1 * SR) : int(3.2 * SR)].astype(np.float64)  # before a loop seam
    hop = 32
    env = np.sqrt(np.add.reduceat(seg**2, np.arange(0, len(seg), hop)))
    env = (env - env.mean()) * np.hanning(len(env))
    mag = np.abs(np.fft.rfft(env, 64 * len(env)))
    freqs = np.fft.rfftfreq(64 * len(env), hop / SR)
    band = (freqs > 1.5) & (freqs < 8)
    return 1 / freqs[band][np.argmax(mag[band])]


@pytest.mark.parametrize("rate", [0.8, 0.9, 1.1, 1.2])
def test_stretch_keeps_length_and_scales_onset_spacing(rate):
    y = ping_train(0.25)
    assert onset_spacing(y) == pytest.approx(0.25, rel=0.01)
    out = make("stretch", rate=rate).apply(y, SR, seed=0)
    assert out.shape == y.shape
    assert onset_spacing(out) == pytest.approx(0.25 / rate, rel=0.03)


def test_stretch_faster_loops_instead_of_padding_silence():
    y = tone(300, 2.0) + noise(2.0, amp=0.02)
    out = make("stretch", rate=1.2).apply(y, SR, seed=0)
    tail = out[-int(0.2 * SR) :]
    assert rms(tail) > 0.5 * rms(out)  # no silent tail


@pytest.mark.parametrize("snr_db", [30, 20, 10])
def test_noise_has_the_configured_snr(snr_db):
    y = tone(440, 2.0) + noise(2.0, amp=0.05, seed=3)
    out = make("noise", snr_db=snr_db).apply(y, SR, seed=11)
    measured = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((out - y) ** 2.0))
    assert measured == pytest.approx(snr_db, abs=0.5)


def test_noise_is_deterministic_per_track():
    m = parse_manipulation("noise_20db", DEFAULT_MANIPULATIONS["noise_20db"])
    y = tone(440, 1.0)
    a = m.apply(y, SR, seed=track_seed(0, "fma", "t1", m.name))
    b = m.apply(y, SR, seed=track_seed(0, "fma", "t1", m.name))
    c = m.apply(y, SR, seed=track_seed(0, "fma", "t2", m.name))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert abs(np.corrcoef(a - y, c - y)[0, 1]) < 0.05  # independent noise


def test_lowpass_removes_above_and_keeps_below():
    y = tone(1000, 2.0, amp=0.2) + tone(6000, 2.0, amp=0.2)
    out = make("lowpass", hz=4000).apply(y, SR, seed=0)
    assert level_db(out, 6000) - level_db(y, 6000) < -40
    assert abs(level_db(out, 1000) - level_db(y, 1000)) < 0.5
    assert codec.lowpass(y, SR, 4000).tobytes() == out.tobytes()  # one implementation


@pytest.mark.parametrize("db_per_octave", [3, -3])
def test_tilt_changes_band_balance_by_slope_times_octaves(db_per_octave):
    y = tone(250, 2.0, amp=0.2) + tone(4000, 2.0, amp=0.2)  # 4 octaves apart
    out = make("tilt", db_per_octave=db_per_octave).apply(y, SR, seed=0)
    before = level_db(y, 4000) - level_db(y, 250)
    after = level_db(out, 4000) - level_db(out, 250)
    assert after - before == pytest.approx(4 * db_per_octave, abs=0.2)
    assert rms(out) == pytest.approx(rms(y), rel=1e-4)


def test_mp3_manipulation_is_the_codec_round_trip():
    y = tone(440, 1.0) + noise(1.0)
    out = make("mp3", kbps=64).apply(y, SR, seed=0)
    np.testing.assert_array_equal(out, np.clip(codec.mp3_roundtrip(y, SR, 64), -1, 1))


@pytest.mark.skipif(not codec.OPUS_AVAILABLE, reason="libsndfile without Ogg/Opus")
def test_opus_round_trip_is_aligned_and_same_length():
    y = tone(440, 1.0) + noise(1.0, amp=0.05)
    out = make("opus", kbps=64).apply(y, SR, seed=0)
    assert out.shape == y.shape
    assert abs(lag_of(out, y)) <= 2
    assert 10 * np.log10(np.sum(y**2.0) / np.sum((out - y) ** 2.0)) > 10


# --------------------------------------------------------------------------------------
# The harder suite: reverb, resampling, mastering


def test_reverb_is_seeded_keeps_loudness_and_smears_a_click():
    m = make("reverb", rt60_s=0.5)
    click = np.zeros(SR, dtype=np.float32)
    click[100] = 1.0
    a, b = m.apply(click, SR, seed=1), m.apply(click, SR, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, m.apply(click, SR, seed=2))
    assert rms(a) == pytest.approx(rms(click), rel=1e-5)
    # energy after the click: the tail decays, reaching ~-60 dB near rt60
    tail = np.abs(a[200 : 200 + int(0.5 * SR)])
    assert tail[: SR // 20].mean() > 10 * tail[-SR // 20 :].mean()


def test_resample_round_trip_removes_the_band_above_the_new_nyquist():
    m = make("resample", hz=16000)
    y = tone(1000.0) + tone(9500.0)
    out = m.apply(y, SR, seed=0)
    assert out.shape == y.shape and out.dtype == np.float32
    assert level_db(out, 1000.0) > -12 and level_db(out, 9500.0) < -60
    assert np.array_equal(make("resample", hz=32000).apply(y, SR, seed=0), y)  # above the rate


def test_master_compresses_normalises_and_limits():
    m = make("master", lufs=-14.0, ceiling_db=-1.0)
    quiet_then_loud = np.concatenate([tone(440.0, amp=0.02), tone(440.0, amp=0.9)])
    out = m.apply(quiet_then_loud, SR, seed=0)
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6
    half = len(out) // 2
    before = rms(quiet_then_loud[half:]) / rms(quiet_then_loud[:half])
    after = rms(out[half:]) / rms(out[:half])
    assert after < before / 2  # the loud half was compressed relative to the quiet one


ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng missing (apt-get install espeak-ng)"
)


@needs_espeak
@pytest.mark.parametrize("snr_db", [20.0, 5.0])
def test_speech_is_mixed_at_the_snr_and_seeded(snr_db):
    m = make("speech", snr_db=snr_db)
    music = tone(440.0, seconds=6.0, amp=0.1)  # quiet enough that nothing clips
    out = m.apply(music, SR, seed=3)
    speech = out.astype(np.float64) - music
    assert 10 * np.log10(np.mean(music.astype(np.float64) ** 2) / np.mean(speech**2)) == (
        pytest.approx(snr_db, abs=0.05)
    )
    # speech, not noise: its energy sits in a voice's band and comes and goes (pauses)
    spectrum = np.abs(np.fft.rfft(speech)) ** 2
    freqs = np.fft.rfftfreq(len(speech), 1 / SR)
    assert spectrum[(freqs > 100) & (freqs < 4000)].sum() > 0.8 * spectrum.sum()
    frames = np.sqrt(np.mean(speech[: len(speech) // 512 * 512].reshape(-1, 512) ** 2, axis=1))
    assert (frames < 0.01 * frames.max()).mean() > 0.05
    assert np.array_equal(out, m.apply(music, SR, seed=3))
    assert not np.array_equal(out, m.apply(music, SR, seed=4))


def test_speech_without_espeak_names_the_package(monkeypatch):
    from synthdetect.audio import manipulations

    manipulations.speak.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="Debian package espeak-ng"):
        make("speech", snr_db=10).apply(tone(440.0), SR, seed=0)
    manipulations.speak.cache_clear()


def test_excerpt_keeps_the_start_and_pads_with_zeros_as_predict_does():
    y = tone(440.0, seconds=2.0)
    out = make("excerpt", seconds=0.5).apply(y, SR, seed=0)
    n = int(0.5 * SR)
    assert np.array_equal(out[:n], y[:n]) and not out[n:].any()
