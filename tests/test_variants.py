"""Experiment variants (synthdetect.pipeline.variants) and the comparison tables
(synthdetect.evaluation.robustness), on generated audio and hand-made metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from audio_fixtures import SR, music_like

from synthdetect.audio.codec import mp3_kbps_for_rate
from synthdetect.evaluation.robustness import controls_table, cross_source_table, robustness_table
from synthdetect.models.run import SplitData, select_sources
from synthdetect.pipeline.variants import control_transform, manipulation_transform


@pytest.mark.parametrize(
    ("kbps", "rate", "want"),
    [(320, 44100, 320), (320, 22050, 160), (128, 22050, 128), (150, 22050, 144), (4, 8000, 8)],
)
def test_mp3_bitrate_is_the_best_the_rate_allows(kbps, rate, want):
    assert mp3_kbps_for_rate(kbps, rate) == want


def test_codec_match_reencodes_ai_tracks_only_at_a_seeded_profile_bitrate():
    y = music_like(1, 3.0, label="ai")
    labels = {("h", "t1"): "human", ("a", "t2"): "ai"}
    match = control_transform({"type": "codec_match"}, seed=0, labels=labels, profile=[8])
    assert match("h", "t1", y, SR) is y
    coded = match("a", "t2", y, SR)
    assert coded.shape == y.shape and not np.array_equal(coded, y)
    assert np.array_equal(coded, match("a", "t2", y, SR))  # deterministic
    # the error of an 8 kbps round trip is far above that of a 160 kbps one
    hi = control_transform({"type": "codec_match"}, seed=0, labels=labels, profile=[160])
    assert np.mean((coded - y) ** 2) > 2 * np.mean((hi("a", "t2", y, SR) - y) ** 2)


def test_codec_match_without_mp3_human_tracks_says_what_to_do():
    with pytest.raises(ValueError, match="controls.codec_match: the human class has no MP3"):
        control_transform({"type": "codec_match"}, seed=0, labels={}, profile=[])


def test_manipulation_noise_is_seeded_per_track():
    y = music_like(2, 2.0, label="human")
    noise = manipulation_transform("n", {"kind": "noise", "snr_db": 20}, seed=0)
    a, b = noise("s", "t1", y, SR), noise("s", "t2", y, SR)
    assert np.array_equal(a, noise("s", "t1", y, SR)) and not np.array_equal(a, b)


def test_neural_round_trip_runs_the_trained_autoencoder_at_the_clip_level(tmp_path):
    from synthdetect.corpora import autoencoder as ae

    y = music_like(3, 2.0, label="human")
    net, _ = ae.train_autoencoder(
        [y],
        {"channels": 8, "strides": [4, 4]},
        seed=0,
        max_steps=2,
        max_seconds=60,
        batch_size=2,
        segment_samples=2048,
    )
    ae.save_autoencoder(net, None, tmp_path / "ae.pt")
    spec = {"kind": "neural", "source": "ae_src"}
    with pytest.raises(ValueError, match="no trained autoencoder given"):
        manipulation_transform("neural_ae_src", spec, seed=0)
    neural = manipulation_transform("neural_ae_src", spec, seed=0, autoencoder=tmp_path / "ae.pt")
    out = neural("s", "t1", y, SR)
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert out.shape == y.shape and not np.allclose(out, y, atol=1e-3)
    # at the clip's level, unless that would put a peak over the ceiling
    capped = np.abs(out).max() == pytest.approx(0.98, abs=1e-4)
    assert rms(out) == pytest.approx(rms(y), rel=1e-3) or (capped and rms(out) < rms(y))
    assert np.array_equal(out, neural("s", "t2", y, SR))  # no randomness: the weights decide


def _split_data():
    rows = {
        split: pd.DataFrame(
            {"source": ["h", "a", "b"], "track": ["1", "2", "3"], "split": split, "y": [0, 1, 1]}
        )
        for split in ("train", "val", "test")
    }
    X = {s: np.arange(3, dtype=np.float32)[:, None] for s in rows}
    y = {s: r.y.to_numpy() for s, r in rows.items()}
    return SplitData(X, y, rows)


def test_select_sources_trains_on_some_sources_and_tests_on_others():
    data = select_sources(_split_data(), train=["h", "a"], test=["h", "b"])
    assert list(data.rows["train"].source) == ["h", "a"] == list(data.rows["val"].source)
    assert list(data.rows["test"].source) == ["h", "b"]
    assert data.X["test"][:, 0].tolist() == [0, 2] and data.y["test"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="no test track comes from the sources"):
        select_sources(_split_data(), test=["zzz"])


def test_tables_put_models_in_the_papers_order():
    scores = pd.DataFrame(
        {
            "model": ["cnn", "cnn", "rf_deriv", "rf_deriv"],
            "manipulation": ["original", "mp3_64", "original", "mp3_64"],
            "accuracy": [0.9, 0.5, 0.8, 0.7],
        }
    )
    wide = robustness_table(scores, "accuracy")
    assert list(wide.columns) == ["rf_deriv", "cnn"] and list(wide.index) == ["original", "mp3_64"]
    assert wide.loc["mp3_64", "cnn"] == 0.5
    m = {k: 0.5 for k in ("accuracy", "precision", "recall", "f1", "roc_auc")}
    table = controls_table({"table1": {"cnn": m, "rf_deriv": m}, "lowpass": {"cnn": m}})
    assert list(table.columns) == [("rf_deriv", "table1"), ("cnn", "table1"), ("cnn", "lowpass")]
    cross = cross_source_table({"x": {"cnn": m}, "y": {"rf_deriv": m}})
    assert cross.loc["x", "cnn"] == 0.5 and np.isnan(cross.loc["x", "rf_deriv"])
