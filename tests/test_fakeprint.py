"""Fakeprints of synthetic clips: an upsampling comb peaks where the theory says."""

import numpy as np
import pytest

from synthdetect.features.fakeprint import (
    DEFAULTS,
    check_settings,
    fakeprint,
    fakeprint_names,
)
from synthdetect.models.forest import train_logistic_regression

SR = 22050


def plain_clip(rng, seconds=3.0):
    """'Human': noise and two tones below the band, lightly colored."""
    n = int(SR * seconds)
    t = np.arange(n) / SR
    f1, f2 = rng.uniform(200, 1500, size=2)
    y = rng.uniform(0.02, 0.08) * rng.normal(size=n)
    y += 0.3 * np.sin(2 * np.pi * f1 * t) + 0.2 * np.sin(2 * np.pi * f2 * t)
    return np.convolve(y, [1.0, rng.uniform(0.2, 0.8)], mode="same").astype(np.float32)


def upsampled_clip(rng, seconds=3.0, stride=8, bias=1.0):
    """'AI': a biased signal upsampled by zero insertion, then a short (light) filter.

    The bias (energy at 0 Hz) reappears at every multiple of ``SR / stride``.
    """
    n = int(SR * seconds)
    x = np.zeros(n)
    x[::stride] = rng.normal(size=len(x[::stride])) + bias
    return (0.1 * np.convolve(x, [1.0, 0.6, 0.3], mode="same")).astype(np.float32)


def bin_of(names, hz):
    freqs = np.array([float(n[3:-2]) for n in names])
    return int(np.argmin(np.abs(freqs - hz)))


def test_comb_peaks_at_multiples_of_sr_over_stride():
    rng = np.random.default_rng(0)
    names = fakeprint_names(SR, 2048, 5000.0, None)
    fp = fakeprint(upsampled_clip(rng), SR)
    assert fp.dtype == np.float32 and fp.shape == (len(names),)
    expected = {bin_of(names, k * SR / 8) for k in (2, 3, 4)}  # 5512.5, 8268.75, 11025 Hz
    assert set(np.argsort(fp)[-3:]) == expected
    assert fp.max() == pytest.approx(1.0)
    others = np.delete(fp, [b + d for b in expected for d in (-1, 0, 1) if b + d < len(fp)])
    assert np.quantile(others, 0.95) < 0.15


def test_plain_clip_is_near_flat():
    rng = np.random.default_rng(1)
    comb_db = fakeprint(upsampled_clip(rng), SR, norm="none")
    plain_db = fakeprint(plain_clip(rng), SR, norm="none")
    assert comb_db.max() > 15.0  # dB above the envelope
    assert plain_db.max() < 0.2 * comb_db.max()
    # normalised, nothing stands out: the mass is spread over the band
    plain = fakeprint(plain_clip(rng), SR)
    comb = fakeprint(upsampled_clip(rng), SR)
    assert np.median(plain) > 3 * np.median(comb)


def test_gain_and_duration_do_not_matter_and_silence_is_zero():
    rng = np.random.default_rng(2)
    y = upsampled_clip(rng, seconds=2.0)
    a, b = fakeprint(y, SR), fakeprint(4.0 * y, SR)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert len(fakeprint(y[: SR // 2], SR)) == len(a)
    assert not fakeprint(np.zeros(SR, np.float32), SR).any()
    l2 = fakeprint(y, SR, norm="l2")
    assert np.linalg.norm(l2) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"n_fft": 1024, "f_min_hz": 4000.0},
        {"f_min_hz": 6000.0, "f_max_hz": 9000.0},
        {"n_fft": 4096, "hop_length": 1024},
    ],
)
def test_length_equals_names(kw):
    s = check_settings(kw)
    y = plain_clip(np.random.default_rng(3), seconds=1.0)
    names = fakeprint_names(SR, s["n_fft"], s["f_min_hz"], s["f_max_hz"])
    assert len(fakeprint(y, SR, **s)) == len(names) == len(set(names))
    assert all(n.startswith("fp_") and n.endswith("Hz") for n in names)


def test_names_are_distinct_for_sub_hertz_bins():
    names = fakeprint_names(8000, 16384, 3000.0, 3100.0)
    assert len(set(names)) == len(names) and "." in names[0]


def test_check_settings_defaults_and_errors():
    assert check_settings(None) == DEFAULTS
    assert check_settings({"n_fft": 1024})["n_fft"] == 1024
    for bad, key in [
        ({"nfft": 1024}, "nfft"),
        ({"n_fft": 10}, "n_fft"),
        ({"n_fft": 2048.0}, "n_fft"),
        ({"hop_length": 0}, "hop_length"),
        ({"f_min_hz": -1}, "f_min_hz"),
        ({"f_min_hz": 6000, "f_max_hz": 5000}, "f_max_hz"),
        ({"envelope_hz": 0}, "envelope_hz"),
        ({"norm": "sum"}, "norm"),
        ({"f_min_hz": True}, "f_min_hz"),
    ]:
        with pytest.raises(ValueError, match=repr(key)):
            check_settings(bad)


def test_band_checked_against_sample_rate():
    y = plain_clip(np.random.default_rng(4), seconds=0.5)
    with pytest.raises(ValueError, match="f_max_hz"):
        fakeprint(y, SR, f_max_hz=12000.0)
    with pytest.raises(ValueError, match="f_min_hz"):
        fakeprint(y, 8000, f_min_hz=5000.0)
    with pytest.raises(ValueError, match="shorter than one frame"):
        fakeprint(y[:1000], SR)


def test_logistic_regression_separates_held_out_clips():
    rng = np.random.default_rng(5)

    def clip(ai):
        y = plain_clip(rng, seconds=1.0)
        if ai:  # a faint comb under ordinary content
            stride = int(rng.choice([4, 8]))
            y = y + rng.uniform(0.3, 1.0) * upsampled_clip(rng, 1.0, stride, rng.uniform(0.5, 1))
        return fakeprint(y, SR)

    labels = np.array([0, 1] * 40)
    X = np.stack([clip(a) for a in labels])
    train, test = slice(0, 50), slice(50, None)
    model = train_logistic_regression(X[train], labels[train], seed=0)
    assert (model.predict(X[test]) == labels[test]).mean() >= 0.9
    again = train_logistic_regression(X[train], labels[train], seed=0)
    np.testing.assert_array_equal(model.predict_proba(X[test]), again.predict_proba(X[test]))
    with pytest.raises(ValueError, match="both"):
        train_logistic_regression(X[:5], np.zeros(5, int), seed=0)
