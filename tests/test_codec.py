"""Codec controls: MP3 bitrates read from real files, round trips, the per-track bitrate draw."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import music_like

from synthdetect.audio import codec
from synthdetect.audio.codec import mp3_compression_level


def noise(sr: int, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


def write_mp3(path, sr: int, kbps: int, mode: str = "CONSTANT", seconds: float = 2.0):
    with sf.SoundFile(
        path,
        "w",
        samplerate=sr,
        channels=1,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=mp3_compression_level(kbps, sr),
        bitrate_mode=mode,
    ) as f:
        f.write(music_like(kbps, seconds, label="human", sr=sr))
    return path


def lag_of(out: np.ndarray, ref: np.ndarray, max_lag: int = 50) -> int:
    """The shift (samples) at which ``out`` best matches ``ref``: 0 when aligned."""
    seg = ref[max_lag:-max_lag].astype(np.float64)
    n = len(out)
    c = [np.dot(out[max_lag + k : n - max_lag + k], seg) for k in range(-max_lag, max_lag + 1)]
    return int(np.argmax(c)) - max_lag


def band_db(y: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    return 10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].sum() + 1e-30)


# --------------------------------------------------------------------------------------
# Bitrates of files


@pytest.mark.parametrize(
    "sr, kbps", [(22050, 64), (22050, 128), (22050, 160), (44100, 64), (44100, 128), (44100, 192)]
)
def test_cbr_bitrate_is_read_from_the_file(tmp_path, sr, kbps):
    path = write_mp3(tmp_path / "a.mp3", sr, kbps)
    assert codec.estimate_bitrate_kbps(path) == kbps


def test_bitrate_after_an_id3v2_tag(tmp_path):
    mp3 = write_mp3(tmp_path / "a.mp3", 44100, 128).read_bytes()
    body = b"TIT2" + (6).to_bytes(4, "big") + b"\0\0" + b"\0title" + bytes(200)  # + padding
    size = len(body)
    syncsafe = bytes([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127])
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(b"ID3\x04\x00\x00" + syncsafe + body + mp3)
    assert codec.estimate_bitrate_kbps(tagged) == 128


def test_vbr_bitrate_is_the_average_snapped_to_a_standard_rate(tmp_path):
    path = write_mp3(tmp_path / "v.mp3", 44100, 128, mode="VARIABLE", seconds=4.0)
    kbps = codec.estimate_bitrate_kbps(path)
    assert kbps in codec.LAYER3_KBPS
    mean = path.stat().st_size * 8 / sf.info(path).duration / 1000
    nearest = min(codec.LAYER3_KBPS, key=lambda k: abs(k - mean))
    assert kbps == nearest


def test_vbr_without_a_xing_tag_walks_the_frames(tmp_path):
    """Strip the tag frame: the frames themselves then tell the bitrate."""
    path = write_mp3(tmp_path / "v.mp3", 44100, 128, mode="VARIABLE", seconds=4.0)
    data = path.read_bytes()
    tag_frame = codec._header(data, 0)["length"]
    bare = tmp_path / "bare.mp3"
    bare.write_bytes(data[tag_frame:])
    assert codec.estimate_bitrate_kbps(bare) == codec.estimate_bitrate_kbps(path)


def test_lossless_and_other_files_have_no_bitrate(tmp_path):
    y = music_like(0, 1.0, label="human")
    for name in ("a.flac", "a.wav", "a.ogg"):
        sf.write(tmp_path / name, y, 22050)
        assert codec.estimate_bitrate_kbps(tmp_path / name) is None
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.random.default_rng(0).bytes(50_000))
    assert codec.estimate_bitrate_kbps(raw) is None
    (tmp_path / "empty.mp3").write_bytes(b"")
    assert codec.estimate_bitrate_kbps(tmp_path / "empty.mp3") is None


# --------------------------------------------------------------------------------------
# codec_match


def test_bitrate_profile_skips_non_mp3_and_counts_them(tmp_path, caplog):
    paths = [write_mp3(tmp_path / f"{k}.mp3", 22050, k, seconds=1.0) for k in (64, 128, 64)]
    sf.write(tmp_path / "x.flac", music_like(0, 1.0, label="ai"), 22050)
    with caplog.at_level(logging.INFO, logger="synthdetect.audio.codec"):
        profile = codec.bitrate_profile([*paths, tmp_path / "x.flac"])
    assert profile == [64, 128, 64]
    assert "skipped 1 of 4" in caplog.text


def test_empty_profile_is_a_clear_error(tmp_path):
    sf.write(tmp_path / "x.flac", music_like(0, 1.0, label="ai"), 22050)
    with pytest.raises(ValueError, match="none of the 1 human tracks is MP3"):
        codec.bitrate_profile([tmp_path / "x.flac"])
    with pytest.raises(ValueError, match="codec_match needs lossy MP3 human tracks"):
        codec.assign_bitrate([], 0, "aam", "t1")


def test_assign_bitrate_is_seeded_order_free_and_follows_the_profile():
    profile = [64] * 30 + [128] * 10
    draws = [codec.assign_bitrate(profile, 3, "aam", f"t{i}") for i in range(2000)]
    assert set(draws) == {64, 128}
    assert np.mean(np.array(draws) == 64) == pytest.approx(0.75, abs=0.04)
    shuffled = profile[:]
    random.Random(1).shuffle(shuffled)
    assert [codec.assign_bitrate(shuffled, 3, "aam", f"t{i}") for i in range(50)] == draws[:50]
    assert draws != [codec.assign_bitrate(profile, 4, "aam", f"t{i}") for i in range(2000)]


# --------------------------------------------------------------------------------------
# Round trips and the band limit


@pytest.mark.parametrize("sr, kbps", [(22050, 64), (22050, 128), (44100, 128), (20000, 64)])
def test_mp3_roundtrip_is_aligned_and_same_length(sr, kbps):
    y = music_like(1, 2.0, label="human", sr=sr)
    out = codec.mp3_roundtrip(y, sr, kbps)
    assert out.dtype == np.float32 and out.shape == y.shape
    assert abs(lag_of(out, y)) <= 2
    assert np.corrcoef(out, y)[0, 1] > 0.95


def test_mp3_64_loses_more_high_frequencies_than_128():
    sr = 44100
    y = noise(sr)
    lo, hi = codec.mp3_roundtrip(y, sr, 64), codec.mp3_roundtrip(y, sr, 128)
    assert band_db(lo, sr, 18000, 20000) < band_db(hi, sr, 18000, 20000) - 20
    assert band_db(hi, sr, 18000, 20000) > band_db(y, sr, 18000, 20000) - 3


def test_mp3_64_is_noisier_than_128_at_22k():
    sr = 22050
    y = noise(sr)

    def snr(kbps):
        err = codec.mp3_roundtrip(y, sr, kbps) - y
        return 10 * np.log10(
            np.sum(y.astype(np.float64) ** 2) / np.sum(err.astype(np.float64) ** 2)
        )

    assert snr(128) > snr(64) + 0.5


def test_mp3_bitrate_must_fit_the_sample_rate():
    with pytest.raises(ValueError, match="not an MPEG-2 Layer III bitrate"):
        codec.mp3_roundtrip(noise(22050, 0.5), 22050, 192)


@pytest.mark.skipif(not codec.OPUS_AVAILABLE, reason="libsndfile without Ogg/Opus")
@pytest.mark.parametrize("sr", [22050, 48000])
def test_opus_roundtrip_is_aligned_and_same_length(sr):
    y = music_like(2, 2.0, label="human", sr=sr)
    out = codec.opus_roundtrip(y, sr, 64)
    assert out.dtype == np.float32 and out.shape == y.shape
    assert abs(lag_of(out, y)) <= 2


def test_align_removes_a_decoder_delay():
    ref = noise(22050, 1.0)
    delayed = np.concatenate([np.zeros(1105, np.float32), ref, np.zeros(700, np.float32)])
    np.testing.assert_array_equal(codec._align(delayed, ref), ref)
    np.testing.assert_array_equal(codec._align(ref, ref), ref)


def test_lowpass_at_or_above_nyquist_is_a_copy():
    y = noise(22050, 0.5)
    out = codec.lowpass(y, 22050, 11025)
    assert out is not y
    np.testing.assert_array_equal(out, y)
    with pytest.raises(ValueError, match="must be positive"):
        codec.lowpass(y, 22050, 0)
