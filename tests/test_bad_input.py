"""Bad input in the workflow: a folder source holding every bad file of
:func:`test_audio_io.write_bad_inputs` beside good ones runs to its features, each bad
file excluded with its reason; and the clip stage, should a file break after the probe,
fails naming the file and the way out.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like, write_corpus
from test_audio_io import PROBE_REASONS, cut, matches, write_bad_inputs
from workflow_helpers import folder_config, snakemake, write_config

from synthdetect.pipeline.stages import clip_bucket

N = 4  # good tracks per class


@pytest.mark.workflow
def test_a_folder_of_bad_files_is_excluded_with_reasons_and_the_run_completes(tmp_path):
    write_corpus(tmp_path / "corpus", N)
    write_bad_inputs(tmp_path / "corpus" / "human")
    shutil.rmtree(tmp_path / "corpus" / ".human-full")
    config = folder_config(Path("corpus"), Path("results"))
    for source in config["sources"].values():
        source["n"] = N
    write_config(tmp_path / "config.yaml", config)
    proc = snakemake(tmp_path, "results/features/color.parquet", "--configfile", "config.yaml")
    res = tmp_path / "results"
    manifest = pd.read_parquet(res / "manifest.parquet")
    assert sorted(manifest.track) == sorted(
        [f"human{i:03d}" for i in range(N)] + [f"ai{i:03d}" for i in range(N)]
    )
    excluded = pd.read_parquet(res / "excluded.parquet")
    reasons = dict(zip(excluded.path.map(lambda p: Path(p).name), excluded.reason, strict=True))
    assert set(reasons) == set(PROBE_REASONS)
    for name, want in PROBE_REASONS.items():
        assert matches(reasons[name], want), (name, reasons[name])
    assert len(pd.read_parquet(res / "features/color.parquet")) == 2 * N
    # the probe keeps libmpg123's raw lines off the manifest job's stderr (the candidates
    # job's header reads, in synthdetect.data.candidates, still let them through)
    output = proc.stdout + proc.stderr
    job = output[output.index("checkpoint manifest:") :]
    job = job[: job.index("Finished jobid")]
    assert "source human: 15 candidate tracks" not in job  # the right job
    assert "manifest: 8 tracks, 11 excluded" in job
    # the decoder's own lines never reach the output raw: at most one attributed line
    raw = [line for line in job.splitlines() if "Xing" in line or "resync" in line]
    assert all("decoder:" in line for line in raw), raw


@pytest.fixture
def tracks(tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    sf.write(d / "good.flac", music_like(0, 31.0, label="human"), SR)
    y = music_like(1, 45.0, label="human")
    sf.write(tmp_path / "full.mp3", y, SR, format="MP3")
    cut(tmp_path / "full.mp3", d / "cut.mp3", 0.8)  # decodes ~36 s: its first 30 s are whole
    nan = music_like(2, 31.0, label="human")
    nan[SR * 10 : SR * 11] = np.nan
    sf.write(d / "nan.wav", nan, SR, subtype="FLOAT")
    return d


def test_the_clip_stage_names_a_file_that_breaks_after_the_probe(tracks, tmp_path):
    bucket = [
        ("h", "good", str(tracks / "good.flac"), 0.0),
        ("h", "nan", str(tracks / "nan.wav"), 0.0),
    ]
    with pytest.raises(RuntimeError) as info:
        clip_bucket(bucket, tmp_path / "clips", seconds=30.0, sample_rate=SR, log=tmp_path / "log")
    message = str(info.value)
    assert message.startswith(
        f"clip stage failed on track h/nan: {tracks / 'nan.wav'}: non-finite samples (NaN or "
        "inf) from 10.0 s (it passed the manifest's probe"
    )
    assert "replace or remove the file and rerun" in message
    assert "non-finite samples" in (tmp_path / "log").read_text()


def test_the_clip_stage_logs_decoder_chatter_instead_of_printing_it(tracks, tmp_path, capfd):
    bucket = [("h", "cut", str(tracks / "cut.mp3"), 0.0)]
    n = clip_bucket(bucket, tmp_path / "clips", seconds=30.0, sample_rate=SR, log=tmp_path / "log")
    assert n == 1 and (tmp_path / "clips/h/cut.wav").exists()
    assert "Xing" not in capfd.readouterr().err
    log = (tmp_path / "log").read_text()
    assert re.search(rf"h/cut \({re.escape(str(tracks / 'cut.mp3'))}\): decoder: Xing", log), log
