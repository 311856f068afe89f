"""The derived-AI generators: Griffin-Lim resynthesis and the small waveform autoencoder."""

from __future__ import annotations

import logging

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from synthdetect.corpora import autoencoder as ae
from synthdetect.corpora.griffinmel import DEFAULTS as GM_DEFAULTS
from synthdetect.corpora.griffinmel import check_settings as gm_check
from synthdetect.corpora.griffinmel import griffinmel

SR = 22050
# Narrow (channels 8) so that training in the tests is quick; the peaks come from the
# architecture's upsampling, not from its width.
SMALL = {"channels": 8, "strides": [4, 4, 4]}
TRAIN = {"max_steps": 30, "max_seconds": 600, "batch_size": 4, "segment_samples": 4096}


def human(seconds: float, seed: int) -> np.ndarray:
    """A "human" stand-in: four tones and lowpassed noise under a slow envelope.

    Its average spectrum is smooth at multiples of sr / 64 (no tone sits on one).
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    white = rng.standard_normal(n)
    b, a = scipy.signal.butter(1, 2000 / (SR / 2))
    noise = 0.05 * scipy.signal.lfilter(b, a, white) + 0.005 * white
    tones = sum(
        0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for f in (261.6, 329.6, 392.0, 523.3)
    )
    y = (noise + tones) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def line_prominence(y: np.ndarray, period: int) -> np.ndarray:
    """For each multiple ``k * SR / period`` below Nyquist: the mean log-power spectrum
    there minus the median of the bins around it, in dB (0 = no line, > 0 = a peak).

    The Welch size is a multiple of ``period`` samples, so every line falls on a bin.
    """
    step = max(1, 4096 // period)  # bins between lines
    nfft = period * step
    _, p = scipy.signal.welch(y.astype(np.float64), fs=SR, nperseg=nfft, noverlap=nfft // 2)
    lp = 10 * np.log10(p + 1e-30)
    near = np.array([d for d in range(-(step // 3), step // 3 + 1) if abs(d) >= 3])
    centres = step * np.arange(1, (period + 1) // 2)
    return np.array([lp[c] - np.median(lp[c + near]) for c in centres])


def fresh(decoder: str, seed: int, strides=(4, 4, 4)) -> ae.WaveAutoencoder:
    torch.manual_seed(seed)
    return ae.WaveAutoencoder(ae.check_settings(dict(SMALL, decoder=decoder, strides=strides)))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread (restored after): the cores are shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return [human(2, seed) for seed in (1, 2, 3)]


@pytest.fixture(scope="module")
def probe() -> np.ndarray:
    return human(3, 0)


@pytest.fixture(scope="module")
def trained(clips):
    """Both designs, trained briefly with the same seed and data."""
    return {
        d: ae.train_autoencoder(clips, dict(SMALL, decoder=d), seed=7, threads=1, **TRAIN)
        for d in ae.DECODERS
    }


# --------------------------------------------------------------------------- peaks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transposed_decoder_puts_lines_at_multiples_of_sr_over_hop(probe, seed):
    """Untrained decoders, three initialisations: the lines are the architecture's (the
    fakeprint paper's point), so testing them before training is fast and not at the mercy
    of a short optimisation. The input has none; the transposed decoder's output has them,
    and the upsample decoder's has none (its nearest-neighbour hold nulls them)."""
    assert np.abs(np.median(line_prominence(probe, 64))) < 2
    tr = line_prominence(ae.reconstruct(fresh("transposed", seed), probe), 64)
    up = line_prominence(ae.reconstruct(fresh("upsample", seed), probe), 64)
    assert np.median(tr) > 20, tr
    assert np.mean(tr > 6) > 0.9, tr
    assert np.median(up) < 0, up
    assert np.median(tr) - np.median(up) > 30


def test_line_positions_follow_the_strides(probe):
    """hop 32 (strides 4, 8) puts lines at multiples of sr/32 and no peaks at the odd
    multiples of sr/64 between them, where hop 64 (4, 4, 4) does put lines."""
    y32 = ae.reconstruct(fresh("transposed", 0, strides=(4, 8)), probe)
    y64 = ae.reconstruct(fresh("transposed", 0, strides=(4, 4, 4)), probe)
    on32 = line_prominence(y32, 32)
    odd64_of_32 = line_prominence(y32, 64)[0::2]  # k = 1, 3, 5...: between the sr/32 lines
    odd64_of_64 = line_prominence(y64, 64)[0::2]
    assert np.median(on32) > 20, on32
    assert np.median(odd64_of_32) < 3, odd64_of_32
    assert np.median(odd64_of_64) > 20, odd64_of_64


def test_trained_decoders_keep_their_difference(trained, probe):
    """After training (loss falls), the transposed decoder's lines remain and the upsample
    decoder's output still lacks most of them: two clearly different generators."""
    prom = {}
    for d, (model, history) in trained.items():
        assert history["steps"] == TRAIN["max_steps"] and history["stopped_by"] == "max_steps"
        assert np.mean(history["loss"][-5:]) < 0.7 * history["loss"][0], history["loss"]
        prom[d] = np.median(line_prominence(ae.reconstruct(model, probe), 64))
    assert prom["transposed"] > 15, prom
    assert prom["transposed"] - prom["upsample"] > 12, prom


# --------------------------------------------------------------------------- determinism, I/O


def test_training_is_deterministic(trained, clips, probe):
    model, _ = trained["transposed"]
    again, _ = ae.train_autoencoder(
        clips, dict(SMALL, decoder="transposed"), seed=7, threads=1, **TRAIN
    )
    a, b = model.state_dict(), again.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].numpy().tobytes() == b[key].numpy().tobytes(), key
    ra, rb = ae.reconstruct(model, probe), ae.reconstruct(again, probe)
    assert ra.tobytes() == rb.tobytes()


def test_two_threads_are_deterministic_too(clips, probe):
    kw = dict(max_steps=2, max_seconds=60, batch_size=2, segment_samples=1024, threads=2)
    a, _ = ae.train_autoencoder(clips, SMALL, seed=5, **kw)
    b, _ = ae.train_autoencoder(clips, SMALL, seed=5, **kw)
    for (key, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert ta.numpy().tobytes() == tb.numpy().tobytes(), key
    y = probe[:10000]
    assert ae.reconstruct(a, y, threads=2).tobytes() == ae.reconstruct(b, y, threads=2).tobytes()


def test_seed_changes_the_weights(clips):
    kw = dict(max_steps=2, max_seconds=60, batch_size=1, segment_samples=1024, threads=1)
    a, _ = ae.train_autoencoder(clips, SMALL, seed=1, **kw)
    b, _ = ae.train_autoencoder(clips, SMALL, seed=2, **kw)
    assert not torch.equal(a.decoder[0].weight, b.decoder[0].weight)


def test_wall_time_cap_stops_training_and_says_so(clips, caplog):
    with caplog.at_level(logging.WARNING, logger="synthdetect.corpora.autoencoder"):
        _, history = ae.train_autoencoder(
            clips, SMALL, seed=0, max_steps=1000, max_seconds=1e-9, segment_samples=1024
        )
    assert history["stopped_by"] == "max_seconds"
    assert history["steps"] < 1000
    assert "wall-time cap" in caplog.text


def test_reconstruct_chunks_join_without_seams(trained):
    model, _ = trained["transposed"]
    y = human(1.3, 5)[: 3 * 8192 + 123]
    chunked = ae.reconstruct(model, y, chunk_samples=4096)
    whole = ae.reconstruct(model, y, chunk_samples=1 << 20)
    assert chunked.dtype == np.float32 and chunked.shape == y.shape
    assert np.max(np.abs(chunked - whole)) < 1e-5
    assert np.max(np.abs(chunked)) > 1e-3
    short = ae.reconstruct(model, y[:100])
    assert short.shape == (100,) and short.dtype == np.float32


def test_save_load_round_trip_uses_weights_only(trained, probe, tmp_path, monkeypatch):
    model, _ = trained["upsample"]
    path = tmp_path / "ae" / "upsample.pt"
    ae.save_autoencoder(model, model.spec, path)
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = ae.load_autoencoder(path)
    assert seen == [True]
    assert loaded.spec == model.spec and loaded.spec.decoder == "upsample"
    assert ae.reconstruct(loaded, probe).tobytes() == ae.reconstruct(model, probe).tobytes()


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a synthdetect-autoencoder"):
        ae.load_autoencoder(path)


# --------------------------------------------------------------------------- griffinmel


def test_griffinmel_changes_phase_but_keeps_the_mel_envelope(probe):
    out = griffinmel(probe, SR, seed=0)
    assert out.dtype == np.float32 and out.shape == probe.shape
    assert abs(np.corrcoef(out, probe)[0, 1]) < 0.5
    assert np.linalg.norm(out - probe) / np.linalg.norm(probe) > 0.9

    def mel_db(x):
        m = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=2048, hop_length=512, n_mels=128)
        return 10 * np.log10(np.maximum(m, m_ref * 1e-6))

    m_ref = librosa.feature.melspectrogram(y=probe, sr=SR).max()
    err = np.abs(mel_db(out) - mel_db(probe))
    assert np.mean(err) < 2.0, np.mean(err)
    assert np.percentile(err, 90) < 5.0


def test_griffinmel_pinv_inverse_keeps_the_mel_envelope_too(probe):
    out = griffinmel(probe, SR, seed=0, inverse="pinv")
    ref = librosa.feature.melspectrogram(y=probe, sr=SR)
    floor = ref.max() * 1e-6
    err = np.abs(
        10 * np.log10(np.maximum(librosa.feature.melspectrogram(y=out, sr=SR), floor))
        - 10 * np.log10(np.maximum(ref, floor))
    )
    assert np.mean(err) < 3.0, np.mean(err)
    assert np.abs(out - griffinmel(probe, SR, seed=0)).max() > 1e-3  # another inverse


def test_griffinmel_is_seeded(probe):
    y = probe[: SR // 2]
    a = griffinmel(y, SR, seed=3, n_iter=4)
    assert a.tobytes() == griffinmel(y, SR, seed=3, n_iter=4).tobytes()
    assert np.max(np.abs(a - griffinmel(y, SR, seed=4, n_iter=4))) > 1e-3


# --------------------------------------------------------------------------- settings


def test_griffinmel_settings_fill_defaults():
    assert gm_check(None) == GM_DEFAULTS
    assert gm_check({"n_iter": 8}) == dict(GM_DEFAULTS, n_iter=8)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"n_mels": 0}, "generator griffinmel: n_mels must be a positive integer, got 0"),
        ({"n_iter": True}, "n_iter must be a positive integer, got True"),
        ({"n_fft": 512.0}, "n_fft must be a positive integer, got 512.0"),
        ({"hop_length": 4096}, r"hop_length must be <= n_fft \(2048\), got 4096"),
        (
            {"n_fft": 256, "hop_length": 64, "n_mels": 200},
            r"n_mels must be <= n_fft // 2 \+ 1 \(129\)",
        ),
        ({"nmels": 64, "iters": 2}, r"unknown setting\(s\) iters, nmels"),
        ({"inverse": "lsqr"}, "inverse must be one of nnls, pinv, got 'lsqr'"),
    ],
)
def test_griffinmel_settings_errors_name_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        gm_check(settings)


def test_griffinmel_argument_errors():
    with pytest.raises(ValueError, match="n_mels must be a positive integer, got -1"):
        griffinmel(np.zeros(1000, np.float32), SR, n_mels=-1, seed=0)
    with pytest.raises(ValueError, match="mono"):
        griffinmel(np.zeros((2, 1000), np.float32), SR, seed=0)


def test_autoencoder_settings_fill_defaults():
    spec = ae.check_settings({"decoder": "upsample", "strides": [8, 4]})
    assert spec == ae.AutoencoderSpec(decoder="upsample", strides=(8, 4))
    assert spec.hop == 32 and spec.widths == (16, 32, 64)
    assert ae.check_settings(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"strides": [4, 1]},
            r"generator autoencoder: strides must be a list of 1-6 integers >= 2",
        ),
        ({"strides": 4}, "strides must be a list"),
        ({"strides": [64, 128]}, "strides must multiply to at most 4096"),
        ({"decoder": "nearest"}, "decoder must be one of transposed, upsample, got 'nearest'"),
        ({"kernel_size": 4}, "kernel_size must be odd, got 4"),
        ({"channels": 0}, "channels must be an integer in 1-512, got 0"),
        ({"latent": "8"}, "latent must be an integer in 1-512, got '8'"),
        ({"stride": [4]}, r"unknown setting\(s\) stride"),
    ],
)
def test_autoencoder_settings_errors_name_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        ae.check_settings(settings)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 0}, "max_steps must be a positive int"),
        ({"max_seconds": -1.0}, "max_seconds must be a positive float"),
        ({"segment_samples": 1.5}, "segment_samples must be a positive int"),
        ({"seed": -3}, "seed must be a non-negative integer"),
    ],
)
def test_training_argument_errors_name_the_key(clips, kwargs, message):
    args = {"seed": 0, "max_steps": 1, "max_seconds": 10.0} | kwargs
    with pytest.raises(ValueError, match=message):
        ae.train_autoencoder(clips, SMALL, **args)
