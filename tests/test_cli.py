"""`synthdetect predict` on a bundle the real workflow exported from a tiny generated corpus.

One Snakemake run (the random forest on color histograms only, to stay quick: its
preprocessing includes the image models' spectrogram) exports a bundle; a CNN bundle
with the same preprocessing is written beside it. The CLI then scores files of several
lengths and formats, a directory, an unreadable file, and refuses a tampered bundle.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from audio_fixtures import SR, music_like, write_corpus
from test_audio_io import write_bad_inputs
from workflow_helpers import TINY, folder_config, snakemake, write_config

from synthdetect.features.spectrogram import load_png
from synthdetect.models.networks import PaperCNN
from synthdetect.models.training import save_state_dict
from synthdetect.pipeline.buckets import track_file
from synthdetect.serving.bundle import write_bundle
from synthdetect.serving.cli import collect_files, main
from synthdetect.serving.scoring import Scorer, Window, plan_windows

pytestmark = pytest.mark.workflow

MODELS = ("rf_color",)
CONSOLE = Path(sys.executable).with_name("synthdetect")
PROG = "synthdetect"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Bundles of two models, exported by the workflow (paths relative to the run)."""
    work = tmp_path_factory.mktemp("bundles")
    write_corpus(work / "corpus", 6)
    config = folder_config(Path("corpus"), Path("results"), models={"enabled": list(MODELS)})
    write_config(work / "config.yaml", config)
    snakemake(work, *(f"results/bundles/{m}" for m in MODELS), "--configfile", "config.yaml")
    return work


def song(seed: int, seconds: float, label: str, sr: int = SR) -> np.ndarray:
    """``seconds`` of audio: 5 s of generated music repeated (cheap at any length)."""
    y = music_like(seed, 5.0, label=label, sr=sr)
    return np.tile(y, int(np.ceil(seconds / 5.0)))[: int(seconds * sr)]


@pytest.fixture(scope="module")
def cnn_bundle(run, tmp_path_factory):
    """A (randomly initialised) CNN bundle with the run's preprocessing and calibration."""
    d = tmp_path_factory.mktemp("cnn")
    meta = json.loads((run / "results/bundles/rf_color/bundle.json").read_text())
    hp = {
        "channels": [4, 8, 8],
        "hidden": 8,
        "dropout": 0.5,
        "epochs": 1,
        "lr": 0.001,
        "batch_size": 4,
    }
    torch.manual_seed(0)
    save_state_dict(PaperCNN(32, channels=(4, 8, 8), hidden=8), d / "cnn.pt")
    calibration = json.loads((run / "results/calibration/rf_color.json").read_text())
    calibration["logit_clip_eps"] = 1e-6
    write_bundle(
        d / "cnn",
        model="cnn",
        weights=d / "cnn.pt",
        hp=hp,
        preprocessing=meta["preprocessing"],
        calibration=calibration,
    )
    return d / "cnn"


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """A folder of files to score: several lengths, rates, channel counts and formats."""
    d = tmp_path_factory.mktemp("songs")
    sf.write(d / "long.flac", song(11, 65.0, "ai"), SR)  # 65 s: 3 windows
    stereo = np.stack([song(12, 10.0, "human", sr=44100)] * 2, axis=1)
    sf.write(d / "short.ogg", stereo, 44100)  # 10 s stereo at 44.1 kHz: padded
    (d / "sub").mkdir()
    sf.write(d / "sub" / "mid.mp3", song(13, 35.0, "human"), SR, format="MP3")
    (d / "broken.mp3").write_bytes(b"\xff\xfb not really an mp3 " * 64)
    (d / "notes.txt").write_text("not audio: directories skip it")
    return d


def cli(*args: str, console: bool = True, cwd: Path | None = None):
    cmd = [str(CONSOLE)] if console else [sys.executable, "-m", "synthdetect.serving.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------- windows


def test_windows_cover_the_file():
    assert plan_windows(65, 30) == [Window(0, 30), Window(30, 60), Window(35, 65)]
    assert plan_windows(60.5, 30) == [Window(0, 30), Window(30, 60)]  # 0.5 s tail: ignored
    assert plan_windows(10, 30) == [Window(0, 30, padded=True)]
    assert plan_windows(30, 30, 10) == [Window(0, 30)]
    assert [w.start_s for w in plan_windows(50, 30, 10)] == [0, 10, 20]
    assert plan_windows(0, 30) == []
    with pytest.raises(ValueError, match="hop"):
        plan_windows(40, 30, 0)


# --------------------------------------------------------------------------- the workflow


def test_workflow_exports_calibrated_bundles(run):
    res = run / "results"
    for model in MODELS:
        cal = json.loads((res / f"calibration/{model}.json").read_text())
        assert cal["fitted_on"] == "val" and cal["temperature"] > 0
        assert set(cal["ece"]) == {"val", "test"}
        ci = json.loads((res / f"metrics/{model}.ci.json").read_text())
        assert ci["resamples"] == 1000 and set(ci["metrics"]) == {
            "accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
        }
        test = json.loads((res / f"metrics/{model}.json").read_text())
        assert ci["metrics"]["accuracy"]["estimate"] == pytest.approx(test["accuracy"])
        assert (res / f"figures/reliability_{model}.png").stat().st_size > 0
        meta = json.loads((res / f"bundles/{model}/bundle.json").read_text())
        assert meta["calibration"]["threshold"] == cal["threshold"]
        assert meta["metrics"]["test"] == test
        assert meta["preprocessing"]["spectrogram"]["size"] == [32, 32]


def test_scoring_reruns_exactly_the_training_preprocessing(run):
    """A training track scored at its own window gives the workflow's image (the image
    models' input), features and probability: no skew between training and serving."""
    res = run / "results"
    predictions = pd.read_parquet(res / "predictions/rf_color.parquet")
    features = pd.read_parquet(res / "features/color.parquet").set_index(["source", "track"])
    with Scorer(res / "bundles/rf_color") as scorer:
        for track in predictions.iloc[[0, -1]].itertuples():
            suffix = {"human": "ogg", "ai": "flac"}[track.source]  # as write_corpus names them
            audio = run / "corpus" / track.source / f"{track.track}.{suffix}"
            image = scorer.image(scorer.clip(audio, 0.0))
            png = load_png(
                track_file(res / "spectrograms", track.source, track.track, TINY["buckets"], ".png")
            )
            assert np.array_equal(image, png)
            X = scorer.model_inputs([image])
            want = features.loc[(track.source, track.track)].to_numpy(np.float32)
            assert np.array_equal(X[0], want)
            eps = scorer.bundle.logit_clip_eps
            p_scorer = 1 / (1 + np.exp(-scorer.logits(X)[0] * scorer.bundle.temperature))
            assert p_scorer == pytest.approx(np.clip(track.p_ai, eps, 1 - eps), abs=1e-9)


# --------------------------------------------------------------------------- the CLI


def test_console_script_scores_a_directory_and_reports_unreadable_files(cnn_bundle, songs):
    missing = songs / "missing.wav"
    proc = cli("predict", "--model", str(cnn_bundle), str(songs), str(missing))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["file", "p_ai", "label", "distance", "windows", "status"]
    rows = {Path(line.split()[0]).name: line for line in lines[1:]}
    assert set(rows) == {"broken.mp3", "long.flac", "short.ogg", "mid.mp3", "missing.wav"}
    assert rows["broken.mp3"].endswith(
        "error: not an audio file soundfile can read (Format not recognised)"
    )
    assert rows["missing.wav"].endswith("error: no such file")
    assert rows["long.flac"].split()[3:5] == ["3", "ok"]
    assert rows["mid.mp3"].split()[3:5] == ["2", "ok"]
    assert "ok, warning: shorter than one 30 s window: zero-padded" in rows["short.ogg"]
    assert rows["short.ogg"].split()[3] == "1"
    assert f"{songs / 'broken.mp3'}: not an audio file" in proc.stderr
    assert f"{missing}: no such file" in proc.stderr
    assert f"{songs / 'short.ogg'}: warning: shorter than one" in proc.stderr
    assert "resync" not in proc.stderr and "libmpg123" not in proc.stderr


def test_json_with_windows_and_hop(run, songs, capsys):
    code, out, err = in_process(
        capsys,
        "predict",
        "-m",
        str(run / "results/bundles/rf_color"),
        "--format",
        "json",
        "--windows",
        "--hop",
        "15",
        str(songs / "long.flac"),
        str(songs / "short.ogg"),
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"] == "rf_color" and doc["hop_s"] == 15 and doc["window_s"] == 30
    long, short = doc["files"]
    assert [w["start_s"] for w in long["window_scores"]] == [0, 15, 30, 35]
    assert long["windows"] == 4 and long["status"] == "ok" and long["duration_s"] == 65
    assert 0 <= long["p_ai"] <= 1
    called = "ai" if long["p_ai"] >= doc["threshold"] else "human"
    # the bundle abstains on what lies outside its six training songs, and says why
    assert long["label"] == (called if not long["reason"] else "uncertain")
    assert short["padded"] and "zero-padded" in short["warning"] and short["message"] == ""
    assert long["warning"] == ""
    assert short["window_scores"][0]["padded"]
    z = np.array([w["logit"] for w in long["window_scores"]])
    assert long["p_ai"] == pytest.approx(1 / (1 + np.exp(-z.mean())))


def test_usage_errors_exit_2(run, songs, capsys):
    proc = cli("predict", "--model", "results/bundles/rf_color", console=False, cwd=run)
    assert proc.returncode == 2 and "the following arguments are required: PATH" in proc.stderr
    code, _, err = in_process(
        capsys, "predict", "-m", str(run / "results/bundles/rf_color"), "--hop", "-3", str(songs)
    )
    assert code == 2 and "--hop: must be > 0" in err
    code, _, err = in_process(capsys, "predict", "-m", str(songs), str(songs))
    assert code == 2 and "is not a model bundle" in err
    code, _, err = in_process(capsys, "frobnicate")
    assert code == 2


def test_a_tampered_bundle_fails_with_a_clear_message(cnn_bundle, songs, tmp_path, capsys):
    bundle = tmp_path / "cnn"
    shutil.copytree(cnn_bundle, bundle)
    meta_path = bundle / "bundle.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"format_version": 99}))
    code, out, err = in_process(capsys, "predict", "-m", str(bundle), str(songs))
    assert code == 2 and out == ""
    assert "format_version 99 is not supported" in err
    meta["preprocessing"]["spectrogram"]["n_fft"] = "2048"
    meta_path.write_text(json.dumps(meta))
    code, _, err = in_process(capsys, "predict", "-m", str(bundle), str(songs))
    assert code == 2 and "preprocessing.spectrogram.n_fft must be an integer" in err


def test_csv_output_file_with_windows_and_max(run, songs, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    args = ["predict", "-m", str(run / "results/bundles/rf_color"), "--no-progress"]
    code, stdout, err = in_process(
        capsys, *args, "--format", "csv", "--windows", "-o", str(out), str(songs)
    )
    assert code == 0 and stdout == "" and f"wrote 4 files to {out}" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    files = [r for r in rows if r["scope"] == "file"]
    windows = [r for r in rows if r["scope"] == "window"]
    assert len(files) == 4 and len(windows) == 3 + 1 + 2
    assert {r["status"] for r in files} == {"ok", "error"}
    mean = {r["file"]: float(r["p_ai"]) for r in files if r["status"] == "ok"}
    code, stdout, _ = in_process(capsys, *args, "--format", "csv", "--aggregate", "max", str(songs))
    top = {
        r["file"]: float(r["p_ai"])
        for r in csv.DictReader(io.StringIO(stdout))
        if r["status"] == "ok"
    }
    assert all(top[f] >= mean[f] - 1e-9 for f in mean)
    code, stdout, _ = in_process(capsys, *args, "--format", "json", "--threshold", "0", str(songs))
    doc = json.loads(stdout)
    assert doc["threshold"] == 0
    scored = [f for f in doc["files"] if f["status"] == "ok"]
    assert scored and len(scored) < len(doc["files"])  # broken.mp3 has no label
    # at threshold 0 every file is AI, unless the bundle abstains and says why
    assert all(f["label"] == ("uncertain" if f["reason"] else "ai") for f in scored)


def test_directories_collect_audio_only(songs):
    names = [Path(p).name for p in collect_files([str(songs)])]
    assert names == ["broken.mp3", "long.flac", "short.ogg", "mid.mp3"]


def test_predict_reports_every_bad_input(cnn_bundle, tmp_path):
    """Each bad input a new user might hand over: an error with its reason, or a score
    with a warning; the decoder's own stderr lines do not reach the terminal."""
    d = write_bad_inputs(tmp_path / "bad")
    sf.write(d / "low.wav", song(21, 40.0, "human", sr=8000), 8000)
    six = np.stack([song(22, 5.0, "ai", sr=96000)] * 6, axis=1)
    sf.write(d / "six.wav", six, 96000, subtype="PCM_24")
    proc = cli("predict", "-m", str(cnn_bundle), "--format", "json", str(d), str(d / "x.mp3"))
    assert proc.returncode == 0, proc.stderr
    files = {Path(f["file"]).name: f for f in json.loads(proc.stdout)["files"]}
    errors = {name: f["message"] for name, f in files.items() if f["status"] == "error"}
    assert errors == {
        "empty.mp3": "empty file (0 bytes)",
        "notes.mp3": "not an audio file soundfile can read (Format not recognised)",
        "nan.wav": "non-finite samples (NaN or inf) from 0.0 s",
        "inf.wav": "non-finite samples (NaN or inf) from 12.0 s",
        "silence.wav": "silent: every sample is zero",
        "ten.wav": "unsupported layout: 10 channels (1 to 8 are supported)",
        "noframes.wav": "empty stream: the header holds no audio frames",
    }
    assert all(files[n]["p_ai"] is None and files[n]["warning"] == "" for n in errors)
    ok = {name: f for name, f in files.items() if f["status"] == "ok"}
    assert set(ok) == {"cut.mp3", "partial.flac", "noise1s.wav", "low.wav", "six.wav"}
    padded = "shorter than one 30 s window: zero-padded into one window"
    for name in ("cut.mp3", "partial.flac"):
        warning = ok[name]["warning"]
        assert re.match(
            r"truncated: decodes [1-3]\.\d s but its header promises 45\.0 s; "
            r"scored on what decodes; " + padded,
            warning,
        ), warning
        assert ok[name]["windows"] == 1 and ok[name]["duration_s"] < 3.0
    assert "; decoder: " in ok["cut.mp3"]["warning"]  # mpg123's words, as a warning
    assert ok["noise1s.wav"]["warning"].startswith(padded)
    assert ok["low.wav"]["warning"] == (
        "sampled at 8000 Hz, below the model's 22050 Hz: nothing above 4 kHz, where "
        "training audio had content (trust the score less)"
    )
    assert ok["low.wav"]["windows"] == 2 and not ok["low.wav"]["padded"]
    assert ok["six.wav"]["warning"].endswith(
        "6 channels downmixed to mono (training audio was mono or stereo)"
    )
    for f in ok.values():
        assert 0 <= f["p_ai"] <= 1 and f["message"] == ""
    err = proc.stderr
    assert f"{d / 'x.mp3'}: no audio files in this directory" in err
    assert f"{d / 'empty.mp3'}: empty file (0 bytes)" in err
    assert f"{d / 'cut.mp3'}: warning: truncated: decodes" in err
    # mpg123's lines come only inside a file's warning, never raw (nor numpy's warnings)
    assert all(line.startswith(f"{PROG} predict: ") for line in err.splitlines()), err
    assert "libmpg123" not in err and "RuntimeWarning" not in err


def test_csv_and_table_carry_the_warning(cnn_bundle, tmp_path, capsys):
    d = write_bad_inputs(tmp_path / "bad")
    args = ["predict", "-m", str(cnn_bundle), "--no-progress"]
    code, out, _ = in_process(
        capsys, *args, "--format", "csv", str(d / "cut.mp3"), str(d / "nan.wav")
    )
    assert code == 0
    cut, nan = csv.DictReader(io.StringIO(out))
    assert cut["status"] == "ok" and cut["warning"].startswith("truncated: decodes")
    assert nan["status"] == "error" and nan["warning"] == ""
    assert nan["message"] == "non-finite samples (NaN or inf) from 0.0 s"
    code, out, _ = in_process(capsys, *args, str(d / "noise1s.wav"), str(d / "empty.mp3"))
    rows = out.splitlines()
    assert "  ok, warning: shorter than one 30 s window: zero-padded" in rows[1]
    assert rows[2].endswith("error: empty file (0 bytes)")


def test_fpr_picks_the_operating_point_or_says_why_not(run, songs, tmp_path, capsys):
    bundle = run / "results/bundles/rf_color"
    args = ("predict", "-m", str(bundle), "--format", "json", str(songs / "long.flac"))
    # a handful of human validation tracks cannot estimate a 1 % rate
    code, _, err = in_process(capsys, *args, "--fpr", "0.01")
    assert code == 2 and "needs at least 300" in err and "--threshold" in err
    code, _, err = in_process(capsys, *args, "--fpr", "0.05")
    assert code == 2 and "no operating point for a false-positive rate of 0.05" in err
    code, _, err = in_process(capsys, *args, "--fpr", "0.01", "--threshold", "0.5")
    assert code == 2 and "not both" in err
    copy = tmp_path / "rf_color"
    shutil.copytree(bundle, copy)
    meta = json.loads((copy / "bundle.json").read_text())
    point = meta["calibration"]["operating_points"]["points"]["fpr_0.01"]
    point.update(estimable=True, threshold=0.875, reason=None)
    (copy / "bundle.json").write_text(json.dumps(meta))
    code, out, err = in_process(capsys, *args[:2], str(copy), *args[3:], "--fpr", "0.01")
    assert code == 0, err
    assert json.loads(out)["threshold"] == 0.875


def test_info_prints_the_model_card(run, capsys):
    bundle = run / "results/bundles/rf_color"
    code, out, err = in_process(capsys, "info", str(bundle))
    assert code == 0, err
    assert "model        rf_color (RandomForestClassifier" in out
    assert "training corpus" in out and "human" in out and "folder" in out
    assert "fpr_0.01" in out and "needs at least 300" in out
    assert "roc_auc" in out
    assert "abstain      uncertain when the distance from the training split exceeds" in out
    assert "No model card" in out  # this run made the bundle only, not the reports
    code, out, _ = in_process(capsys, "info", str(bundle), "--format", "json")
    meta = json.loads(out)
    corpus = meta["training"]["corpus"]
    assert set(corpus) == {"human", "ai"} and sum(corpus["human"]["tracks"].values()) == 6
    code, _, err = in_process(capsys, "info", str(run))
    assert code == 2 and "not a model bundle" in err


def test_predict_abstains_outside_the_training_data(run, tmp_path, capsys):
    """The workflow's bundle carries the distance and its validation cut-off: white noise
    is uncertain (outside), a training track is not."""
    bundle = run / "results/bundles/rf_color"
    ab = json.loads((bundle / "bundle.json").read_text())["abstain"]
    assert ab["quantile"] == 0.99 and ab["band"] == 0.05 and (bundle / ab["file"]).is_file()
    assert ab["fitted_on"] == {"distance": "train", "cutoff": "val"}
    manifest = pd.read_parquet(run / "results/manifest.parquet")
    inside = run / manifest[manifest.split == "train"].path.iloc[0]
    noise = tmp_path / "noise.wav"
    sf.write(noise, 0.3 * np.random.default_rng(5).standard_normal(31 * SR), SR)
    args = ["predict", "-m", str(bundle), str(noise), str(inside), "--format", "json"]
    code, out, err = in_process(capsys, *args, "--band", "0")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ood_cutoff"] == pytest.approx(ab["cutoff"]) and doc["band"] == 0
    files = {Path(f["file"]).name: f for f in doc["files"]}
    odd, usual = files["noise.wav"], files[inside.name]
    assert odd["label"] == "uncertain" and odd["distance"] > ab["cutoff"]
    assert odd["reason"].startswith("outside: distance")
    assert usual["label"] in ("ai", "human") and usual["distance"] <= ab["cutoff"]
    assert usual["reason"] == ""
    # a band as wide as the scale: every ok file is uncertain, the inside one for its score
    code, out, _ = in_process(capsys, *args, "--band", "1")
    usual = {Path(f["file"]).name: f for f in json.loads(out)["files"]}[inside.name]
    assert usual["label"] == "uncertain" and usual["reason"].startswith("undecided: P(AI)")
    code, out, _ = in_process(capsys, *args[:-2])
    assert "uncertain" in out and "outside: distance" in out  # the table says why


def test_a_changed_ood_file_is_refused(run, tmp_path, capsys):
    copy = tmp_path / "rf_color"
    shutil.copytree(run / "results/bundles/rf_color", copy)
    with open(copy / "ood.npz", "ab") as f:
        f.write(b"\0")
    code, _, err = in_process(capsys, "predict", "-m", str(copy), str(copy / "bundle.json"))
    assert code == 2 and "ood.npz: SHA-256 does not match abstain.sha256" in err


def test_a_card_of_other_weights_is_refused(run, tmp_path, capsys):
    copy = tmp_path / "rf_color"
    shutil.copytree(run / "results/bundles/rf_color", copy)
    card = tmp_path / "rf_color.card.json"
    card.write_text(json.dumps({"model": "rf_color", "weights_sha256": "0" * 64}))
    code, _, err = in_process(capsys, "info", str(copy))
    assert code == 2 and "describes other weights" in err and str(card) in err
