import numpy as np
import pytest
from audio_fixtures import SR, music_like

from synthdetect.features.spectrogram import (
    color_table,
    render,
    save_png,
    spectrogram_image,
    stft_db,
)


def test_db_is_signed_with_reference_one_so_specshow_would_pick_coolwarm():
    db = stft_db(music_like(0, 5, label="human"), sample_rate=SR, n_fft=1024, hop_length=256)
    assert db.shape == (513, 1 + 5 * SR // 256)
    assert db.min() < 0 < db.max()
    assert db.max() - db.min() <= 80 + 1e-3  # top_db clamps the range


def test_energy_is_red_and_background_blue():
    db = np.full((64, 64), -60.0, dtype=np.float32)
    db[10, :] = 20.0  # one loud low-frequency line
    img = render(db, size=(64, 64))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    background = img[0, 0]
    assert background[2] > background[0]  # blue
    line = img[63 - 10, 5]  # low frequencies at the bottom
    assert line[0] > line[2]  # red


def test_render_resizes_and_uses_the_colormap_table():
    db = np.linspace(-80, 0, 200 * 300, dtype=np.float32).reshape(200, 300)
    img = render(db, size=(50, 40))
    assert img.shape == (50, 40, 3)
    table = color_table("coolwarm")
    colors = {tuple(c) for c in table}
    assert {tuple(px) for px in img.reshape(-1, 3)} <= colors


def test_mel_scale_and_bad_scale():
    y = music_like(1, 3, label="ai")
    assert stft_db(y, sample_rate=SR, scale="mel", n_mels=64).shape[0] == 64
    with pytest.raises(ValueError, match="scale"):
        stft_db(y, sample_rate=SR, scale="bark")


def test_png_bytes_are_reproducible(tmp_path):
    y = music_like(2, 4, label="human")
    params = {"n_fft": 512, "hop_length": 128, "size": [64, 64]}
    for name in ("a.png", "b.png"):
        save_png(spectrogram_image(y, sample_rate=SR, **params), tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
