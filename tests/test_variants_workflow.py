"""Variants through the real Snakemake CLI: robustness suite, codec controls and
cross-source evaluation on a tiny generated corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like
from workflow_helpers import TINY, job_counts, snakemake, write_config

from synthdetect.audio.codec import estimate_bitrate_kbps
from synthdetect.audio.io import quantise_pcm16
from synthdetect.features.spectrogram import load_png, spectrogram_image
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.variants import manipulation_transform

pytestmark = pytest.mark.workflow

N = 8  # tracks per source
MODELS = ["rf_deriv", "cnn"]  # a feature model and an image model
MANIPULATIONS = {
    "mp3_64": {"kind": "mp3", "kbps": 64},
    "noise_10db": {"kind": "noise", "snr_db": 10},
    "pitch_p2": {"kind": "pitch", "semitones": 2},
}


def write_sources(root: Path) -> None:
    """Human tracks as MP3 (a lossy class, as FMA is), AI tracks lossless from two
    'renderers' (two seeds of the generator), as AAM is."""
    for name, label, ext, offset in (
        ("human", "human", "mp3", 0),
        ("ai", "ai", "flac", 1000),
        ("ai2", "ai", "flac", 2000),
    ):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(N):
            y = music_like(offset + i, 31.0, label=label)
            sf.write(d / f"{name}{i:03d}.{ext}", y, SR)


def config(**overrides) -> dict:
    cfg = {
        **TINY,
        "results": "results",
        "sources": {
            name: {"kind": "folder", "label": label, "path": f"corpus/{name}"}
            for name, label in (("human", "human"), ("ai", "ai"), ("ai2", "ai"))
        },
        "models": {**TINY["models"], "enabled": MODELS},
        "controls": {"codec_match": True, "lowpass_hz": 2000},
        "robustness": {"enabled": True, "manipulations": MANIPULATIONS},
        "cross_source": [{"name": "ai_to_ai2", "train": ["human", "ai"], "test": ["human", "ai2"]}],
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("variants")
    write_sources(work / "corpus")
    write_config(work / "config.yaml", config())
    reports = ["table1", "robustness", "controls", "cross_source"]
    targets = (f"results/report/{r}.csv" for r in reports)
    snakemake(work, "--configfile=config.yaml", *targets, timeout=1500)
    return work


def test_robustness_table_has_every_model_and_manipulation(run):
    res = run / "results"
    scores = pd.read_csv(res / "report/robustness.csv")
    assert set(scores.model) == set(MODELS)
    assert list(dict.fromkeys(scores.manipulation)) == ["original", *MANIPULATIONS]
    manifest = pd.read_parquet(res / "manifest.parquet")
    n_test = int((manifest.split == "test").sum())
    assert (scores.n_test == n_test).all()
    # the 'original' row is the model's Table 1 score: same model, same test split
    table1 = pd.read_csv(res / "report/table1.csv", index_col="metric")
    for model in MODELS:
        row = scores[(scores.model == model) & (scores.manipulation == "original")].iloc[0]
        assert row.accuracy == pytest.approx(table1.loc["accuracy", model], abs=1e-4)
        assert row.delta_accuracy == 0
    assert (res / "figures/robustness_heatmap.png").stat().st_size > 0
    assert "pitch_p2" in (res / "report/robustness.md").read_text()


def test_manipulated_images_are_the_test_clips_manipulated(run):
    res = run / "results"
    manifest = pd.read_parquet(res / "manifest.parquet")
    test = manifest[manifest.split == "test"]
    for name in MANIPULATIONS:
        pngs = sorted((res / "robustness" / name / "spectrograms").rglob("*.png"))
        assert len(pngs) == len(test), name
        assert not (res / "robustness" / name / "clips").exists()  # not kept
    # each image is the test clip, manipulated (noise seeded per track), then rendered
    cfg = config()
    for row in test.head(2).itertuples():
        args = (row.source, row.track, TINY["buckets"])
        y, sr = sf.read(track_file(res / "clips", *args, ".wav"), dtype="float32")
        noise = manipulation_transform("noise_10db", MANIPULATIONS["noise_10db"], seed=0)
        noisy = noise(row.source, row.track, y, sr)
        snr = 10 * np.log10(np.mean(y**2) / np.mean((noisy - y) ** 2))
        assert snr == pytest.approx(10, abs=0.5)
        noisy = quantise_pcm16(noisy) / np.float32(32768)  # as a 16-bit clip file holds it
        want = spectrogram_image(noisy, sample_rate=sr, **resolved(cfg["spectrogram"]))
        got = load_png(track_file(res / "robustness/noise_10db/spectrograms", *args, ".png"))
        np.testing.assert_array_equal(got, want)


def resolved(spectrogram: dict) -> dict:
    """The config's spectrogram section with the schema's defaults filled in."""
    defaults = {
        "ref": 1.0,
        "top_db": 80.0,
        "scale": "linear",
        "n_mels": 128,
        "cmap": "coolwarm",
        "vmin": None,
        "vmax": None,
    }
    return {**defaults, **spectrogram}


def test_codec_match_reencodes_the_ai_class_only(run):
    res = run / "results"
    manifest = pd.read_parquet(res / "manifest.parquet")
    profile = json.loads((res / "controls/codec_profile.json").read_text())
    human_paths = manifest[manifest.label == "human"].path
    assert sorted(profile["kbps"]) == sorted(estimate_bitrate_kbps(run / p) for p in human_paths)
    for row in manifest.itertuples():
        args = (row.source, row.track, TINY["buckets"], ".wav")
        base = track_file(res / "clips", *args).read_bytes()
        matched = track_file(res / "controls/codec_match/clips", *args).read_bytes()
        if row.label == "human":
            assert matched == base, row.track
        else:
            assert matched != base, row.track


def test_lowpass_control_band_limits_both_classes(run):
    res = run / "results"
    manifest = pd.read_parquet(res / "manifest.parquet")
    for row in manifest.groupby("label").head(1).itertuples():
        y, sr = sf.read(
            track_file(
                res / "controls/lowpass/clips", row.source, row.track, TINY["buckets"], ".wav"
            )
        )
        power = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(len(y), 1 / sr)
        assert power[freqs > 4000].sum() < 1e-4 * power.sum(), row.label


def test_controls_table_sits_beside_table1(run):
    res = run / "results"
    table = pd.read_csv(res / "report/controls.csv", header=[0, 1], index_col=0)
    assert set(table.columns) == {
        (m, v) for m in MODELS for v in ("table1", "codec_match", "lowpass")
    }
    table1 = pd.read_csv(res / "report/table1.csv", index_col="metric")
    for model in MODELS:
        assert table.loc["accuracy", (model, "table1")] == pytest.approx(
            table1.loc["accuracy", model], abs=1e-4
        )
    for model in MODELS:
        metrics = json.loads((res / f"controls/codec_match/metrics/{model}.json").read_text())
        assert table.loc["f1", (model, "codec_match")] == pytest.approx(metrics["f1"], abs=1e-4)


def test_cross_source_trains_on_train_sources_and_tests_on_the_others(run):
    res = run / "results"
    manifest = pd.read_parquet(res / "manifest.parquet")
    for model in MODELS:
        predictions = pd.read_parquet(res / f"cross/ai_to_ai2/predictions/{model}.parquet")
        assert set(predictions[predictions.split != "test"].source) == {"human", "ai"}
        assert set(predictions[predictions.split == "test"].source) == {"human", "ai2"}
        metrics = json.loads((res / f"cross/ai_to_ai2/metrics/{model}.json").read_text())
        want = manifest[(manifest.split == "test") & manifest.source.isin(["human", "ai2"])]
        assert metrics["n_test"] == len(want)
    matrix = pd.read_csv(res / "report/cross_source.csv", index_col=[0, 1])
    assert set(matrix.columns) == set(MODELS)
    assert ("accuracy", "ai_to_ai2") in matrix.index
    assert (res / "figures/cross_source.png").exists()


def test_a_new_manipulation_reruns_only_its_own_jobs(run):
    cfg = config()
    cfg["robustness"] = {
        **cfg["robustness"],
        "manipulations": {**MANIPULATIONS, "lowpass_4k": {"kind": "lowpass", "hz": 4000}},
    }
    write_config(run / "more.yaml", cfg)
    manifest = pd.read_parquet(run / "results/manifest.parquet")
    from synthdetect.pipeline.buckets import bucket_of

    buckets = {
        bucket_of(r.source, r.track, TINY["buckets"])
        for r in manifest[manifest.split == "test"].itertuples()
    }
    counts = job_counts(
        snakemake(run, "--configfile=more.yaml", "-n", "results/report/robustness.csv").stdout
    )
    assert counts == {
        "manipulate": len(buckets),
        "features": 1,
        "image_cache": 1,
        "robustness_scores": len(MODELS),
        "robustness_report": 1,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "robustness": {
                    "enabled": True,
                    "manipulations": {"noisy": {"kind": "noise", "snr": 3}},
                }
            },
            "robustness.manipulations.noisy: unknown key 'snr'",
        ),
        (
            {"cross_source": [{"name": "x", "train": ["human", "nope"], "test": ["human", "ai"]}]},
            "cross_source x: train source(s) ['nope'] are not in sources",
        ),
        (
            {"cross_source": [{"name": "x", "train": ["ai", "ai2"], "test": ["human", "ai"]}]},
            "each side needs a human and an AI source",
        ),
    ],
)
def test_bad_variant_config_fails_at_startup_naming_the_key(tmp_path, overrides, message):
    for name in ("human", "ai", "ai2"):
        (tmp_path / "corpus" / name).mkdir(parents=True)
    write_config(tmp_path / "bad.yaml", config(**overrides))
    proc = snakemake(tmp_path, "--configfile=bad.yaml", "-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
