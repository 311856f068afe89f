"""The per-track stages: what they write, and that the fast paths compute what the plain
library calls compute, bit for bit.

The speed work on audio.py / spectrogram.py / features.py (see bench/preprocess.py)
kept every array identical. Only the PNG container changed: spectrograms are written as
palette PNGs (color indices + the color table), which decode to the same RGB pixels.
The new bytes are pinned below.
"""

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like
from PIL import Image

from synthdetect.audio import io as audio
from synthdetect.features import histograms as features
from synthdetect.features import spectrogram
from synthdetect.pipeline.stages import clip_track, histogram_track, spectrogram_track

SPEC = {
    "n_fft": 2048,
    "hop_length": 512,
    "ref": 1.0,
    "top_db": 80.0,
    "scale": "linear",
    "n_mels": 128,
    "cmap": "coolwarm",
    "vmin": None,
    "vmax": None,
    "size": [224, 224],
}
FEATURES = {
    "color": {"channels": ["R", "B"], "bins": 10},
    "deriv": {"sigma": 1.0, "bins": 10, "limit": 0.1},
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def stereo_source(path, seconds=40.0, sr=44100):
    y = np.stack(
        [music_like(11, seconds, label="human", sr=sr), music_like(12, seconds, label="ai", sr=sr)],
        axis=1,
    )
    sf.write(path, y, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    d = tmp_path_factory.mktemp("stages")
    src = stereo_source(d / "song.flac")
    clip_track(src, d / "clip.wav", offset_s=3.25, seconds=30.0, sample_rate=SR)
    spectrogram_track(d / "clip.wav", d / "spec.png", spectrogram=SPEC)
    histogram_track(d / "spec.png", d / "hist.parquet", source="s", track="t", features=FEATURES)
    return d


def test_stages_write_what_the_library_computes(track):
    y, sr = audio.read_clip(track / "clip.wav")
    want = audio.read_window(track / "song.flac", 3.25, 30.0, samplerate=SR)
    assert sr == SR and y.shape == (30 * SR,)
    np.testing.assert_array_equal(y, audio.quantise_pcm16(want) / np.float32(32768))
    image = spectrogram.load_png(track / "spec.png")
    np.testing.assert_array_equal(image, spectrogram.spectrogram_image(y, sample_rate=sr, **SPEC))
    with Image.open(track / "spec.png") as im:
        assert im.mode == "P" and im.size == (224, 224)
    row = pd.read_parquet(track / "hist.parquet").iloc[0]
    hists = features.track_histograms(image, color=FEATURES["color"], deriv=FEATURES["deriv"])
    assert (row.source, row.track) == ("s", "t")
    np.testing.assert_array_equal(row.color, hists["color"])
    np.testing.assert_array_equal(row.deriv, hists["deriv"])


def test_pinned_bytes(track):
    """Regression pins of the stage outputs for a fixed generated track.

    The clip is a 16-bit WAV now (it was FLAC, pinned 7658529e7be7f205): its samples
    (the PCM pin) are those the FLAC held. The PNG is a palette PNG (it was RGB): its
    pixels decode to what the RGB PNG held. If only the
    PNG file pin breaks, zlib or Pillow changed the encoding; if the pixel pin breaks,
    the spectrogram itself changed.
    """
    clip = (track / "clip.wav").read_bytes()
    pcm = sf.read(track / "clip.wav", dtype="int16")[0].tobytes()
    png = (track / "spec.png").read_bytes()
    pixels = spectrogram.load_png(track / "spec.png").tobytes()
    assert sha(pcm) == "97e05d8cfd7feafc"
    assert sha(pixels) == "3cd9cb2e682b641f"
    assert sha(clip) == "e42c9aa80407e98d"  # FLAC before: 7658529e7be7f205
    assert sha(png) == "e798d71aa0cc6133"  # RGB PNG before: d0af48f7a26b5498


# --------------------------------------------------------------------------- equivalences


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_downmix_is_numpy_mean(channels):
    y = np.random.default_rng(channels).standard_normal((5001, channels)).astype(np.float32)
    np.testing.assert_array_equal(audio.downmix(y), y.mean(axis=1))


def test_resample_is_librosa_soxr_hq():
    librosa = pytest.importorskip("librosa")
    y = music_like(3, 2.3, label="human", sr=44100)
    for target in (22050, 16000, 48000):
        want = librosa.resample(y, orig_sr=44100, target_sr=target, res_type="soxr_hq")
        np.testing.assert_array_equal(audio.resample(y, 44100, target), want)


def test_quantise_is_what_libsndfile_stores(tmp_path):
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        y = (rng.standard_normal(20000) * 0.7).astype(dtype)
        y[:6] = [1.0, -1.0, 0.5 / 32768, 1.5 / 32768, -2.5 / 32768, 1.3]
        sf.write(tmp_path / "f.flac", y, SR, format="FLAC", subtype="PCM_16")
        stored = sf.read(tmp_path / "f.flac", dtype="int16")[0]
        np.testing.assert_array_equal(audio.quantise_pcm16(y), stored)


def test_hann_window_is_scipys():
    signal = pytest.importorskip("scipy.signal")
    for n in (1, 2, 255, 256, 1024, 2048):
        np.testing.assert_array_equal(
            spectrogram.hann_window(n), signal.get_window("hann", n, fftbins=True)
        )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"n_fft": 1024, "hop_length": 256},
        {"ref": "max", "top_db": None},
        {"ref": 0.25, "top_db": 50.0},
        {"scale": "mel", "n_mels": 64},
        {"scale": "mel", "ref": "max", "n_fft": 512, "hop_length": 100},
    ],
)
def test_stft_db_is_librosa(kw):
    """Float64 audio: librosa's values bit for bit. Float32 audio (the clips) is
    transformed in float32: within float32 rounding of librosa's float64 transform."""
    librosa = pytest.importorskip("librosa")
    n_fft, hop = kw.get("n_fft", 2048), kw.get("hop_length", 512)
    ref = np.max if kw.get("ref") == "max" else kw.get("ref", 1.0)
    for y in (music_like(4, 6.1, label="ai"), music_like(5, 3.0, label="human").astype(float)):
        S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        if kw.get("scale") == "mel":
            S = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=kw.get("n_mels", 128)) @ S
        want = librosa.amplitude_to_db(S, ref=ref, top_db=kw.get("top_db", 80.0))
        got = spectrogram.stft_db(y, sample_rate=SR, **kw)
        assert got.dtype == np.float32
        if y.dtype == np.float64:
            np.testing.assert_array_equal(got, want.astype(np.float32))
        else:
            # relative error ~1e-6 of the magnitude; more only at the -80 dB floor's edge
            loud = want > want.max() - 60
            np.testing.assert_allclose(got[loud], want[loud], atol=1e-3)


def test_render_index_fast_path_is_the_plain_one():
    rng = np.random.default_rng(1)
    for shape, size in [
        ((1025, 1292), (224, 224)),
        ((513, 300), (64, 96)),
        ((128, 431), (128, 128)),
        ((40, 50), (100, 30)),
    ]:
        rows = (rng.standard_normal(shape[::-1]) * 20 - 40).astype(np.float32)
        fast = rows.T  # (bins, frames) laid out as frames: stft_db's layout
        plain = np.ascontiguousarray(fast)
        assert fast.T.flags.c_contiguous and plain.flags.c_contiguous
        for kw in ({}, {"vmin": -60.0, "vmax": 0.0}):
            np.testing.assert_array_equal(
                spectrogram.render_index(fast, size=size, **kw),
                spectrogram.render_index(plain, size=size, **kw),
            )


def test_palette_png_decodes_to_the_color_table(tmp_path):
    index = np.random.default_rng(2).integers(0, 256, (37, 53), dtype=np.uint8)
    for cmap in ("coolwarm", "magma"):
        spectrogram.save_palette_png(index, tmp_path / "p.png", cmap=cmap)
        np.testing.assert_array_equal(
            spectrogram.load_png(tmp_path / "p.png"), spectrogram.color_table(cmap)[index]
        )


def _color_plain(image, channels, bins):
    edges = np.linspace(0, 256, bins + 1)
    return np.concatenate(
        [np.histogram(image[..., features.CHANNELS[c]], bins=edges)[0] for c in channels]
    )


def _deriv_plain(image, sigma, bins, limit):
    dx, dy = features.gaussian_derivatives(image, sigma=sigma)
    edge = np.nextafter(limit, 0)
    counts, _, _ = np.histogram2d(
        np.clip(dx, -limit, edge).ravel(),
        np.clip(dy, -limit, edge).ravel(),
        bins=bins,
        range=[[-limit, limit], [-limit, limit]],
    )
    return counts.astype(np.int64).ravel()


def test_histograms_are_numpys():
    rng = np.random.default_rng(3)
    y = music_like(6, 5.0, label="human")
    images = [spectrogram.spectrogram_image(y, sample_rate=SR, size=[64, 80])]
    images += [
        rng.integers(0, 256, (rng.integers(2, 60), rng.integers(2, 60), 3), np.uint8)
        for _ in range(10)
    ]
    images.append(np.full((9, 9, 3), 200, np.uint8))
    for img in images:
        for channels, bins in ((("R", "B"), 10), (("R", "G", "B"), 7), (("G",), 256)):
            np.testing.assert_array_equal(
                features.color_histograms(img, channels=channels, bins=bins),
                _color_plain(img, channels, bins),
            )
        for sigma, bins, limit in ((1.0, 10, 0.1), (2.0, 13, 0.03), (0.5, 2, 1.0)):
            np.testing.assert_array_equal(
                features.derivative_histogram(img, sigma=sigma, bins=bins, limit=limit),
                _deriv_plain(img, sigma, bins, limit),
            )


def test_palette_png_is_smaller_than_rgb(track):
    image = spectrogram.load_png(track / "spec.png")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=spectrogram.PNG_COMPRESS_LEVEL)
    assert (track / "spec.png").stat().st_size < 0.6 * len(buf.getvalue())
