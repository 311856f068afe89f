"""The fakeprint model through the real Snakemake CLI: its own per-bucket stage from the
clips, its feature table, Table 1's column, a robustness row and a bundle `predict` loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from audio_fixtures import write_corpus
from workflow_helpers import folder_config, job_counts, snakemake, write_config

from synthdetect.features.fakeprint import fakeprint_names

pytestmark = pytest.mark.workflow

N = 6
CONSOLE = Path(sys.executable).with_name("synthdetect")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("fakeprint")
    write_corpus(work / "corpus", N)
    write_corpus(work / "unseen", 3, seconds=65.0, start=100)  # human music no model saw
    config = folder_config(
        Path("corpus"),
        Path("results"),
        models={"enabled": ["rf_deriv", "fakeprint"]},
        robustness={
            "enabled": True,
            "manipulations": {
                "noise_30db": {"kind": "noise", "snr_db": 30},
                "excerpt_5s": {"kind": "excerpt", "seconds": 5},
            },
            "models": ["fakeprint"],
        },
        benchmark={"collections": {"unseen": {"path": "unseen/human"}}},
    )
    write_config(work / "config.yaml", config)
    snakemake(work, "--configfile=config.yaml")
    return work, config


def test_table1_has_the_fakeprint_column_and_its_table(run):
    work, _ = run
    res = work / "results"
    table = pd.read_csv(res / "report/table1.csv", index_col="metric")
    assert list(table.columns) == ["rf_deriv", "fakeprint"]
    manifest = pd.read_parquet(res / "manifest.parquet")
    prints = pd.read_parquet(res / "features/fakeprint.parquet")
    names = fakeprint_names(22050, 2048, 5000.0, None)
    assert list(prints.columns) == ["source", "track", *names]
    assert len(prints) == len(manifest)
    assert prints[names].to_numpy().max() <= 1.0 + 1e-6
    metrics = json.loads((res / "metrics/fakeprint.json").read_text())
    assert metrics["n_test"] == (manifest.split == "test").sum()
    robust = pd.read_csv(res / "report/robustness.csv")
    assert set(robust.manipulation) == {"original", "noise_30db", "excerpt_5s"}
    # every row: accuracy, AUC and the human side's FPR at each operating point
    fprs = ["fpr_at_balanced", "fpr_at_fpr_0.01", "fpr_at_fpr_0.001"]
    assert robust[["accuracy", "roc_auc", *fprs]].notna().all().all()
    assert robust[fprs].apply(lambda c: c.between(0, 1)).all().all()
    assert (robust.n_human == (manifest[manifest.split == "test"].y == 0).sum()).all()
    noisy = pd.read_parquet(res / "robustness/noise_30db/features/fakeprint.parquet")
    assert len(noisy) == (manifest.split == "test").sum()


def test_fakeprint_setting_reruns_its_chain_only(run, tmp_path):
    work, config = run
    changed = {**config, "features": {"fakeprint": {"f_min_hz": 4000.0}}}
    write_config(work / "fp.yaml", changed)
    counts = job_counts(snakemake(work, "--configfile=fp.yaml", "-n").stdout)
    assert "clip" not in counts and "spectrogram" not in counts and "histograms" not in counts
    # Table 1's fakeprint table and one per robustness manipulation
    n_tables = 1 + len(config["robustness"]["manipulations"])
    assert counts["fakeprints"] >= 1 and counts["fakeprint_features"] == n_tables
    assert "features" not in counts  # the histogram tables do not depend on it


def test_predict_scores_with_the_fakeprint_bundle(run):
    work, _ = run
    bundle = work / "results/bundles/fakeprint"
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["model"]["input"] == "clip" and meta["model"]["family"] == "logreg"
    song = work / "corpus/ai/ai000.flac"
    proc = subprocess.run(
        [str(CONSOLE), "predict", "-m", str(bundle), str(song), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)["files"]
    assert result["status"] == "ok" and 0.0 <= result["p_ai"] <= 1.0


def test_operating_points_report(run):
    work, _ = run
    table = pd.read_csv(work / "results/report/operating_points.csv")
    assert set(table.model) == {"rf_deriv", "fakeprint"}
    assert set(table.point) == {"balanced", "fpr_0.01", "fpr_0.001"}
    # a handful of human validation tracks cannot estimate a 1 % rate: said, not hidden
    small = table[table.point == "fpr_0.01"]
    assert (~small.estimable).all() and small.reason.str.contains("needs at least 300").all()
    text = (work / "results/report/operating_points.md").read_text()
    assert "| fakeprint | balanced |" in text


def test_false_positive_benchmark_scores_every_window(run):
    work, _ = run
    scores = pd.read_parquet(work / "results/benchmark/fakeprint.parquet")
    # three 65 s recordings: windows at 0 and 30 s, and one aligned to the end
    assert (scores.status == "ok").all() and len(scores) == 3 * 3
    assert scores.recording.nunique() == 3
    table = pd.read_csv(work / "results/report/false_positives.csv")
    assert set(table.model) == {"rf_deriv", "fakeprint"}
    assert (table.windows == 9).all() and (table.recordings == 3).all()
    assert table.estimate.between(0, 1).all() and (table.low <= table.high).all()
    assert "Most AI-like recordings" in (work / "results/report/false_positives.md").read_text()


def test_abstain_report_and_model_card(run):
    """Each bundle scores the test clips, their unusual copies and the benchmark; its model
    card collects its rows of every report, and `info` prints them."""
    work, _ = run
    res = work / "results"
    table = pd.read_csv(res / "report/abstain.csv")
    groups = {"test", "8khz", "6ch", "short_3s", "benchmark:unseen"}
    assert set(table.model) == {"rf_deriv", "fakeprint"} and set(table.group) == groups
    n_test = int((pd.read_parquet(res / "manifest.parquet").split == "test").sum())
    assert (table[table.group == "test"].n == n_test).all()
    assert (table.outside <= table.uncertain).all() and table.uncertain.between(0, 1).all()
    summary = json.loads((res / "ood/fakeprint.json").read_text())
    cutoffs = table[table.model == "fakeprint"].cutoff.to_numpy()
    assert np.allclose(cutoffs, summary["cutoff"], rtol=1e-5)  # the CSV keeps 6 digits
    assert "| fakeprint | test clips |" in (res / "report/abstain.md").read_text()
    card = json.loads((res / "bundles/fakeprint.card.json").read_text())
    assert {r["group"] for r in card["abstain"]} == groups
    assert {r["manipulation"] for r in card["robustness"]} == {
        "original",
        "noise_30db",
        "excerpt_5s",
    }
    assert {r["collection"] for r in card["false_positives"]} == {"unseen"}
    assert "robustness" not in json.loads((res / "bundles/rf_deriv.card.json").read_text())
    proc = subprocess.run(
        [str(CONSOLE), "info", str(res / "bundles/fakeprint")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for text in ("false-positive benchmark", "excerpt_5s", "abstain rates", "short_3s"):
        assert text in proc.stdout
