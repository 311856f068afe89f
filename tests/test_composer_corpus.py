"""Composer sources: another renderer, other songs, same chain, deterministic, in the DAG.

The builds are tiny (1-2 songs, 5 s clips) so the module runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("tinysoundfont", reason="pip install --no-deps tinysoundfont")

from workflow_helpers import TINY, job_counts, snakemake, write_config  # noqa: E402

from synthdetect.corpora.composer_corpus import (  # noqa: E402
    MissingSoundFontError,
    build_composer_corpus,
    composer_song_seeds,
    main,
)
from synthdetect.corpora.demo import INDEX_COLUMNS, _ai_candidates  # noqa: E402
from synthdetect.corpora.synth import DEFAULT_SOUNDFONT  # noqa: E402
from synthdetect.data.candidates import index_candidates  # noqa: E402

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
needs_fluid = pytest.mark.skipif(
    not FLUID.is_file(), reason=f"{FLUID} missing (apt-get install fluid-soundfont-gm)"
)
SOURCE = "demo_ai_fluid"
SMALL = {"source": SOURCE, "n": 2, "seed": 3, "clip_seconds": 5.0, "progress": False}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def fluid(tmp_path_factory):
    if not FLUID.is_file():
        pytest.skip(f"{FLUID} missing (apt-get install fluid-soundfont-gm)")
    out = tmp_path_factory.mktemp("fluid")
    return out, build_composer_corpus(out, soundfont=FLUID, **SMALL)


def test_index_layout_and_encoding(fluid):
    out, index = fluid
    assert list(index.columns) == [*INDEX_COLUMNS, "soundfont"]
    assert index.equals(pd.read_parquet(out / "index.parquet"))
    assert list(index.track) == ["ai-00000", "ai-00001"]
    assert (index.label == "ai").all() and (index.soundfont == FLUID.name).all()
    assert index.origin.str.startswith("composer:").all()
    for row in index.itertuples():
        info = sf.info(str(out / row.path))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 5 * 22050)
        assert (info.format, info.subtype) == ("MP3", "MPEG_LAYER_III")
    cands = index_candidates(SOURCE, out / "index.parquet", "ai")
    assert len(cands) == 2 and all(Path(p).is_file() for p in cands.path)


@needs_fluid
def test_build_is_byte_identical(fluid, tmp_path):
    out, index = fluid
    again = build_composer_corpus(tmp_path, soundfont=FLUID, **SMALL)
    pd.testing.assert_frame_equal(index, again)
    assert _files(out) == _files(tmp_path)


@needs_fluid
def test_the_soundfont_is_the_renderer(fluid, tmp_path):
    out, index = fluid
    other = build_composer_corpus(tmp_path, soundfont=DEFAULT_SOUNDFONT, **{**SMALL, "n": 1})
    first = index.iloc[0]
    # same song and window, another SoundFont: other audio
    assert other.origin.iat[0] == first.origin
    assert other.offset_in_recording_s.iat[0] == first.offset_in_recording_s
    assert other.soundfont.iat[0] == DEFAULT_SOUNDFONT.name
    a, _ = sf.read(out / first.path, dtype="float32")
    b, _ = sf.read(tmp_path / other.path.iat[0], dtype="float32")
    assert a.shape == b.shape and abs(a - b).max() > 0.05


def test_songs_differ_from_the_demo_corpus_and_between_sources():
    n = 500
    demo = _ai_candidates(3)
    demo_seeds = {next(demo).song_seed for _ in range(n)}
    ours = composer_song_seeds(3, SOURCE, n)
    assert len(set(ours)) == n and not set(ours) & demo_seeds
    assert not set(ours) & set(composer_song_seeds(3, "demo_ai_other", n))
    assert composer_song_seeds(3, SOURCE, 5) == ours[:5]  # a pure function of (seed, name)
    assert composer_song_seeds(4, SOURCE, 5) != ours[:5]


@needs_fluid
def test_built_songs_are_not_the_demo_corpus_songs(fluid):
    _, index = fluid
    demo = _ai_candidates(SMALL["seed"])
    demo_origins = {f"composer:{next(demo).song_seed}" for _ in range(100)}
    assert not set(index.origin) & demo_origins


def test_missing_soundfont_names_source_key_and_package(tmp_path, capsys):
    missing = tmp_path / "sf2" / "FluidR3_GM.sf2"
    with pytest.raises(MissingSoundFontError) as err:
        build_composer_corpus(tmp_path / "out", soundfont=missing, **SMALL)
    message = str(err.value)
    assert SOURCE in message and f"sources.{SOURCE}.soundfont" in message
    assert str(missing) in message and "apt-get install fluid-soundfont-gm" in message
    assert not (tmp_path / "out").exists()
    args = ["--out", str(tmp_path / "out"), "--source", "x", "--soundfont", "nowhere.sf2"]
    assert main(args) == 2
    assert "sources.x.soundfont" in capsys.readouterr().err


def _config(soundfont: Path) -> dict:
    return {
        **TINY,
        "results": "results",
        "sources": {
            "demo_human": {"kind": "demo", "label": "human", "n": 4},
            "demo_ai": {"kind": "demo", "label": "ai", "n": 4},
            SOURCE: {"kind": "composer", "label": "ai", "n": 4, "soundfont": str(soundfont)},
        },
    }


@needs_fluid
@pytest.mark.workflow
def test_dry_run_schedules_the_composer_corpus(tmp_path):
    write_config(tmp_path / "config.yaml", _config(FLUID))
    proc = snakemake(tmp_path, "--configfile", "config.yaml", "-n", timeout=120)
    counts = job_counts(proc.stdout)
    assert counts["composer_corpus"] == 1 and counts["demo_corpus"] == 1
    assert counts["candidates"] == 3 and counts["manifest"] == 1
    assert f"resources/composer/{SOURCE}/index.parquet" in proc.stdout
    assert f"results/candidates/{SOURCE}.parquet" in proc.stdout
    # a missing SoundFont fails at startup, naming the source's key and the package
    write_config(tmp_path / "bad.yaml", _config(tmp_path / "FluidR3_GM.sf2"))
    bad = snakemake(tmp_path, "--configfile", "bad.yaml", "-n", check=False, timeout=120)
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0
    assert f"sources.{SOURCE}.soundfont" in output and "fluid-soundfont-gm" in output
    # and a composer source needs its soundfont key
    config = _config(FLUID)
    del config["sources"][SOURCE]["soundfont"]
    write_config(tmp_path / "nokey.yaml", config)
    nokey = snakemake(tmp_path, "--configfile", "nokey.yaml", "-n", check=False, timeout=120)
    assert nokey.returncode != 0 and "soundfont" in nokey.stdout + nokey.stderr
