"""A class that comes up short goes on, through the real Snakemake CLI.

Two folder sources with ``n: null`` ("every usable track") of N + 1 files each; one human
file does not decode (the AI folder's extra file is an ``.oga``, which folder sources take).
The run must not stop: the manifest keeps both classes even (``balance``, the default),
``excluded.parquet`` says why each track is missing, and the manifest's log gives the
final counts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like, write_corpus
from workflow_helpers import folder_config, snakemake, write_config

pytestmark = pytest.mark.workflow

N = 6


def test_one_bad_file_of_all_usable_tracks_does_not_stop_the_run(tmp_path):
    write_corpus(tmp_path / "corpus", N)
    (tmp_path / "corpus/human/broken.mp3").write_bytes(b"not audio at all" * 100)
    extra = tmp_path / "corpus/ai/extra.oga"
    sf.write(extra, music_like(77, 31.0, label="ai"), SR, format="OGG")
    write_config(tmp_path / "config.yaml", folder_config(Path("corpus"), Path("results")))
    snakemake(tmp_path, "results/manifest.parquet", "--configfile=config.yaml")

    manifest = pd.read_parquet(tmp_path / "results/manifest.parquet")
    assert manifest.groupby("label").size().to_dict() == {"ai": N, "human": N}
    excluded = pd.read_parquet(tmp_path / "results/excluded.parquet").set_index("track")
    assert excluded.loc["broken", "reason"].startswith("not an audio file soundfile can read")
    # the human class got N of the N + 1 it offered, so the AI class keeps N of its N + 1
    (cut,) = excluded[excluded.source == "ai"].reason
    assert cut.startswith(f"balance: human has only {N} usable tracks of {N + 1}")
    log = (tmp_path / "results/logs/manifest.log").read_text()
    assert f"source human: {N} usable of {N + 1} asked for, 1 excluded" in log
    assert f"source ai: {N + 1} usable of {N + 1} asked for, 0 excluded" in log
    assert f"classes: ai {N} of {N + 1} asked for, human {N} of {N + 1} asked for" in log
