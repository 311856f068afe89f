"""The demo corpus: layout, index, identical encoding of both classes, determinism.

Most tests use generated "human" recordings (``human_dirs``), so they run without the
Debian packages; the tests marked below use the packages and skip when they are absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("tinysoundfont", reason="pip install --no-deps tinysoundfont")

from synthdetect.audio.codec import mp3_compression_level
from synthdetect.corpora.demo import (  # noqa: E402
    APT_INSTALL,
    INDEX_COLUMNS,
    MissingMusicError,
    build_demo_corpus,
    find_debian_music,
    find_music_in_dirs,
    main,
)

RATE = 48000


def _write(path: Path, audio: np.ndarray, rate: int = RATE) -> None:
    with sf.SoundFile(path, "w", rate, audio.shape[1], format="FLAC") as f:
        for start in range(0, len(audio), 65536):
            f.write(audio[start : start + 65536])


@pytest.fixture(scope="module")
def human_dir(tmp_path_factory) -> Path:
    """Three 65 s 'recordings' (two 30 s windows each), one silent one, one broken file."""
    root = tmp_path_factory.mktemp("music")
    (root / "album").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(65 * RATE) / RATE
    for k, name in enumerate(["Opening Theme.flac", "album/Battle (Remix).flac", "album/end.flac"]):
        tone = 0.3 * np.sin(2 * np.pi * (220 * (k + 1)) * t) * (1 + 0.5 * np.sin(2 * np.pi * t))
        noise = 0.05 * rng.standard_normal(len(t))
        mono = (tone + noise).astype(np.float32)
        _write(root / name, np.stack([mono, 0.8 * mono], axis=1))
    _write(root / "silence.flac", np.zeros((35 * RATE, 2), np.float32))
    (root / "broken.ogg").write_bytes(b"OggS" + bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
    return root


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def corpus(human_dir, tmp_path_factory):
    """4 clips per class: the first round-robin pass over the 4 readable recordings hits
    the silent one, so a second pass is needed; the broken file is skipped up front."""
    out = tmp_path_factory.mktemp("corpus_a")
    records = _Records()
    logger = logging.getLogger("synthdetect.corpora.demo")
    logger.addHandler(records)
    try:
        index = build_demo_corpus(
            out, n_per_class=4, seed=5, human_dirs=[human_dir], progress=False
        )
    finally:
        logger.removeHandler(records)
    return out, index, "\n".join(records.messages)


def test_index_columns_and_counts(corpus):
    out, index, _ = corpus
    assert tuple(index.columns) == INDEX_COLUMNS
    assert index.equals(pd.read_parquet(out / "index.parquet"))
    assert index.label.value_counts().to_dict() == {"human": 4, "ai": 4}
    assert index.track.is_unique
    for row in index.itertuples():
        assert (out / row.path).is_file()
        assert row.path == f"{row.label}/{row.track}.mp3"
        assert row.track.replace("-", "").isalnum()  # filesystem-safe
        assert row.recording
    human = index[index.label == "human"]
    ai = index[index.label == "ai"]
    # round robin: every good recording contributes before any contributes twice
    assert human.recording.nunique() == 3
    assert all(t.startswith(f"h-{r}-") for t, r in zip(human.track, human.recording, strict=True))
    assert (ai.recording == ai.track).all()
    assert ai.origin.str.startswith("composer:").all()
    assert human.origin.str.startswith(f"{Path(human.origin.iloc[0].split(':')[0])}:").all()
    assert ai.tempo.between(60, 180).all() and ai.n_sections.between(3, 5).all()
    assert set(ai["mode"]) <= {"major", "minor"} and ai.programs.str.contains("drums=0").all()
    assert human.tempo.isna().all()
    assert (human.offset_in_recording_s % 30 == 0).all()


def test_both_classes_encoded_identically(corpus):
    out, index, _ = corpus
    infos = {}
    for row in index.itertuples():
        info = sf.info(str(out / row.path))
        infos.setdefault(row.label, set()).add(
            (info.samplerate, info.channels, info.format, info.subtype)
        )
        assert info.frames == 30 * 22050  # sample-exact 30 s
        assert row.duration_s == pytest.approx(30.0)
        # constant bitrate: 128 kbps for 30 s is 480 kB (+ one info frame)
        assert (out / row.path).stat().st_size == pytest.approx(480_000, rel=0.02)
    assert infos["human"] == infos["ai"] == {(22050, 1, "MP3", "MPEG_LAYER_III")}


def test_loudness_is_normalised_for_both_classes(corpus):
    out, index, _ = corpus
    levels = {}
    for row in index.itertuples():
        audio, _ = sf.read(out / row.path, dtype="float32")
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        levels.setdefault(row.label, []).append(rms_db)
        assert np.abs(audio).max() < 1.0
    for label, values in levels.items():
        assert np.allclose(values, -20.0, atol=1.0), (label, values)


def _same_files(dir_a: Path, dir_b: Path) -> None:
    files_a = sorted(p.relative_to(dir_a) for p in dir_a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(dir_b) for p in dir_b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (dir_a / rel).read_bytes() == (dir_b / rel).read_bytes(), rel


def test_build_is_byte_identical(corpus, human_dir, tmp_path):
    out_a, index_a, _ = corpus
    index_b = build_demo_corpus(
        tmp_path, n_per_class=4, seed=5, human_dirs=[human_dir], progress=False
    )
    pd.testing.assert_frame_equal(index_a, index_b)
    _same_files(out_a, tmp_path)


def test_bad_recordings_are_skipped_with_a_warning(corpus):
    _, index, warnings = corpus
    assert "broken.ogg" in warnings
    assert "silence.flac" in warnings and "silent" in warnings
    assert not index.recording.str.contains("broken|silence").any()


def test_failed_renders_are_skipped_then_give_up(human_dir, tmp_path, caplog, monkeypatch):
    import synthdetect.corpora.demo as demo_corpus

    monkeypatch.setattr(demo_corpus, "RENDER_TIMEOUT_S", 1e-9)
    with (
        caplog.at_level(logging.WARNING, logger="synthdetect.corpora.demo"),
        pytest.raises(ValueError, match="usable ai clips"),
    ):
        build_demo_corpus(tmp_path, n_per_class=1, seed=0, human_dirs=[human_dir], progress=False)
    assert "not rendered" in caplog.text and "timeout_s" in caplog.text


def test_too_many_clips_asked(human_dir, tmp_path):
    # 3 x 2 windows + 1 silent window = 7 windows in all
    with pytest.raises(ValueError, match="only 7 human windows"):
        build_demo_corpus(tmp_path, n_per_class=8, seed=0, human_dirs=[human_dir], progress=False)


def test_recording_ids_are_unique_and_safe(human_dir):
    recordings = find_music_in_dirs([human_dir])
    ids = [r.recording for r in recordings]
    assert len(set(ids)) == len(ids) == 5
    assert f"{human_dir.name.lower()}-album-battle-remix" in ids
    assert all(i.replace("-", "").isalnum() for i in ids)


def test_mp3_bitrate_setting():
    # libsndfile: kbps = int(hi - level * (hi - lo)); (8, 160) at 22.05 kHz, (32, 320) at 44.1
    for kbps, rate, (lo, hi) in [
        (128, 22050, (8, 160)),
        (64, 22050, (8, 160)),
        (320, 44100, (32, 320)),
    ]:
        level = mp3_compression_level(kbps, rate)
        assert 0 <= level <= 1 and int(hi - level * (hi - lo)) == kbps
    with pytest.raises(ValueError, match="not an MPEG-2 Layer III bitrate"):
        mp3_compression_level(100, 22050)
    with pytest.raises(ValueError, match="MPEG-1"):
        mp3_compression_level(144, 44100)


def test_missing_packages_name_the_apt_line():
    with pytest.raises(MissingMusicError) as err:
        find_debian_music(packages=("synthdetect-no-such-package",))
    assert APT_INSTALL in str(err.value)
    assert APT_INSTALL == "apt-get install singularity-music warzone2100-music"


@pytest.fixture(scope="module")
def cli_corpus(human_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    args = ["--out", str(out), "--n-per-class", "1", "--seed", "2", "--quiet"]
    return out, main([*args, "--human-dir", str(human_dir)])


def test_cli(cli_corpus, corpus):
    out, rc = cli_corpus
    assert rc == 0
    index = pd.read_parquet(out / "index.parquet")
    assert len(index) == 2
    # another seed, other songs
    _, index_a, _ = corpus
    assert not set(index.origin) & set(index_a.origin[index_a.label == "ai"])


def test_output_does_not_depend_on_worker_count(cli_corpus, human_dir, tmp_path):
    out, _ = cli_corpus
    build_demo_corpus(
        tmp_path, n_per_class=1, seed=2, human_dirs=[human_dir], progress=False, jobs=2
    )
    _same_files(out, tmp_path)


# --- the real Debian packages -------------------------------------------------------


def _debian_or_skip():
    try:
        return find_debian_music()
    except MissingMusicError:
        pytest.skip(f"Debian music packages absent ({APT_INSTALL})")


def test_find_debian_music():
    recordings = _debian_or_skip()
    suffixes = {r.path.suffix for r in recordings}
    assert {".ogg", ".opus"} <= suffixes
    assert len(recordings) >= 40
    assert len({r.recording for r in recordings}) == len(recordings)
    assert all(
        r.origin.split(":")[0] in ("singularity-music", "warzone2100-music") for r in recordings
    )


def test_debian_build_small(tmp_path):
    _debian_or_skip()
    index = build_demo_corpus(tmp_path, n_per_class=2, seed=0, progress=False)
    human = index[index.label == "human"]
    assert len(human) == 2 and human.recording.nunique() == 2
    for row in index.itertuples():
        info = sf.info(str(tmp_path / row.path))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 30 * 22050)
