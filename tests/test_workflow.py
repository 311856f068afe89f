"""The whole DAG through the real Snakemake CLI on a tiny generated corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from audio_fixtures import write_corpus
from workflow_helpers import (
    REPO,
    TINY,
    folder_config,
    job_counts,
    jobs_run,
    snakemake,
    write_config,
)

from synthdetect.pipeline.buckets import bucket_of, track_file

pytestmark = pytest.mark.workflow

N = 8  # tracks per class


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One complete run of every model; the incremental tests continue from copies of it.

    Paths in the config are relative, so a copy of the folder is a valid run too.
    """
    work = tmp_path_factory.mktemp("run")
    write_corpus(work / "corpus", N)
    write_config(work / "config.yaml", folder_config(Path("corpus"), Path("results")))
    proc = snakemake(work, "--configfile=config.yaml")
    return work, proc


def outputs(work: Path) -> Path:
    return work / "results"


def test_full_run_writes_table1_and_every_figure(run):
    work, _ = run
    res = outputs(work)
    table = pd.read_csv(res / "report/table1.csv", index_col="metric")
    assert list(table.index) == ["accuracy", "precision", "recall", "f1", "roc_auc"]
    assert list(table.columns) == [
        "rf_deriv",
        "rf_color",
        "mlp_deriv",
        "mlp_color",
        "cnn",
        "resnet18",
    ]
    assert table.loc["accuracy"].between(0, 1).all()
    assert (res / "report/table1.md").read_text().count("|") > 30
    manifest = pd.read_parquet(res / "manifest.parquet")
    assert len(manifest) == 2 * N and set(manifest.split) == {"train", "val", "test"}
    for model in table.columns:
        metrics = json.loads((res / f"metrics/{model}.json").read_text())
        assert metrics["n_test"] == (manifest.split == "test").sum()
        predictions = pd.read_parquet(res / f"predictions/{model}.parquet")
        assert set(predictions.split) == {"train", "val", "test"}
        assert (res / f"figures/confusion_{model}.png").stat().st_size > 0
    for net in ("mlp_deriv", "mlp_color", "cnn", "resnet18"):
        assert (res / f"figures/loss_{net}.png").exists()
    summary = json.loads((res / "figures/histogram_differences.json").read_text())
    assert {"color", "deriv"} <= summary.keys()
    assert (res / "figures/color_histograms.png").exists()


def test_second_run_does_nothing(run):
    work, _ = run
    proc = snakemake(work, "--configfile=config.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert jobs_run(proc.stdout + proc.stderr) == {}


def test_cnn_hyperparameter_reruns_only_cnn_and_report(run):
    work, _ = run
    config = folder_config(Path("corpus"), Path("results"))
    config["models"]["cnn"] = {**config["models"]["cnn"], "epochs": 3}
    write_config(work / "cnn.yaml", config)
    proc = snakemake(work, "--configfile=cnn.yaml", "-n")
    assert job_counts(proc.stdout) == {
        "all": 1,
        "evaluate": 1,
        "table1": 1,
        "train_torch": 1,
        "calibrate": 1,
        "ood": 1,
        "bundle": 1,
        "operating_points_report": 1,
        "abstain_scores": 1,
        "abstain_report": 1,
        "model_cards": 1,
    }
    assert "model=cnn" in proc.stdout and "model=resnet18" not in proc.stdout


def test_editing_an_imported_module_reruns_exactly_the_rules_that_reach_it(run, tmp_path):
    """``evaluation/metrics.py`` is reached by `evaluate` (its `run:` block's
    evaluation.evaluate -> metrics) and `calibrate` (calibration imports it inside a
    function), by no training rule: editing it reruns those and what follows them, and
    nothing upstream."""
    work, _ = run
    repo = tmp_path / "repo"
    for part in ("workflow", "src", "config"):
        shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    proc = snakemake(work, "--configfile=config.yaml", "-n", repo=repo)
    assert job_counts(proc.stdout) == {}, "an unchanged copy of the code reran jobs"
    module = repo / "src/synthdetect/evaluation/metrics.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    counts = job_counts(snakemake(work, "--configfile=config.yaml", "-n", repo=repo).stdout)
    assert counts == {
        "evaluate": 6,
        "calibrate": 6,
        "bundle": 6,
        "operating_points_report": 1,
        "table1": 1,
        # the bundles changed: what scores them reruns (not the ood step: it reads none)
        "abstain_scores": 6,
        # it reaches metrics.py too (serving.scoring -> evaluation.calibration)
        "abstain_inputs": 1,
        "abstain_report": 1,
        "model_cards": 1,
        "all": 1,
    }


def test_stft_size_reruns_images_and_models_but_no_clip(run):
    work, _ = run
    config = folder_config(Path("corpus"), Path("results"))
    config["spectrogram"] = {**config["spectrogram"], "n_fft": 1024}
    write_config(work / "stft.yaml", config)
    counts = job_counts(snakemake(work, "--configfile=stft.yaml", "-n").stdout)
    assert "clip" not in counts and "manifest" not in counts
    assert counts["spectrogram"] == counts["histograms"] == len(buckets(work))
    assert counts["features"] == 1 and counts["image_cache"] == 3
    assert counts["train_sklearn"] == 2 and counts["train_torch"] == 4
    assert counts["evaluate"] == 6
    assert counts["calibrate"] == counts["bundle"] == 6


def buckets(work: Path) -> set[str]:
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    return {
        bucket_of(s, t, TINY["buckets"])
        for s, t in zip(manifest.source, manifest.track, strict=True)
    }


def test_adding_tracks_reruns_only_their_buckets(run, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(run[0], work)  # copy2 keeps modification times: nothing is stale
    new = [("human", f"human{N:03d}"), ("ai", f"ai{N:03d}")]
    touched = {bucket_of(s, t, TINY["buckets"]) for s, t in new}
    assert touched < buckets(work), "pick N so that some bucket holds no new track"
    clips = work / "results/clips"
    before = {p: p.stat().st_mtime_ns for p in clips.rglob("*.wav")}
    pngs = {p.relative_to(work): p.read_bytes() for p in work.glob("results/spectrograms/*/*/*")}
    write_corpus(work / "corpus", 1, start=N)
    # the per-track stage and its fan-in; models would rerun too (new manifest), slowly
    proc = snakemake(work, "--configfile=config.yaml", "results/features/color.parquet")
    counts = jobs_run(proc.stdout + proc.stderr)
    assert counts["clip"] == counts["spectrogram"] == counts["histograms"] == len(touched)
    assert counts["candidates"] == 2 and counts["manifest"] == 1 and counts["features"] == 1
    for path, mtime in before.items():
        if path.relative_to(clips).parts[0] not in touched:
            assert path.stat().st_mtime_ns == mtime, path
    for rel, data in pngs.items():  # old tracks of rerun buckets: the same bytes again
        assert (work / rel).read_bytes() == data, rel
    for source, track in new:
        assert track_file(
            work / "results/histograms", source, track, TINY["buckets"], ".parquet"
        ).exists()
    assert len(pd.read_parquet(work / "results/manifest.parquet")) == 2 * N + 2


def test_same_config_gives_identical_outputs_in_two_directories(run, tmp_path):
    work = tmp_path / "again"
    shutil.copytree(run[0] / "corpus", work / "corpus")
    shutil.copy(run[0] / "config.yaml", work / "config.yaml")
    targets = ["results/metrics/rf_deriv.json", "results/metrics/rf_color.json"]
    snakemake(work, "--configfile=config.yaml", *targets)
    a, b = run[0] / "results", work / "results"
    assert pd.read_parquet(a / "manifest.parquet").equals(pd.read_parquet(b / "manifest.parquet"))
    pngs = sorted(p.relative_to(a) for p in (a / "spectrograms").rglob("*.png"))
    assert len(pngs) == 2 * N
    for rel in pngs:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    for name in ("color", "deriv"):
        assert (a / f"features/{name}.parquet").read_bytes() == (
            b / f"features/{name}.parquet"
        ).read_bytes()
    for model in ("rf_deriv", "rf_color"):
        metrics = f"metrics/{model}.json"
        assert (a / metrics).read_text() == (b / metrics).read_text()
