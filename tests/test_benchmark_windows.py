"""The false-positive benchmark's shared decoding: each collection is decoded once, and
every bundle's scores of the stored windows are the scores `predict` gives the files."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_bundle import PRE, cnn_bundle, mlp_bundle

from synthdetect.serving.benchmark import collection_windows, read_windows, score_windows
from synthdetect.serving.scoring import Scorer

SR = 22050


def tones(seed: int, seconds: float) -> np.ndarray:
    """A few decaying partials over noise: audible, never silent, quick to make."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t) * np.exp(-(t % 0.5) * 4) for f in rng.uniform(100, 4000, 4))
    return (0.1 * y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    for i, seconds in enumerate((65.0, 40.0)):
        sf.write(root / f"song{i}.flac", tones(i, seconds), SR)
    sf.write(root / "short.flac", tones(7, 10.0), SR)
    (root / "empty.mp3").write_bytes(b"")
    return root


def test_stored_windows_score_as_predict_scores_the_files(collection, tmp_path):
    windows = tmp_path / "windows"
    table = collection_windows("songs", {"path": str(collection)}, PRE, windows)
    by_file = table.groupby("file").status.agg(list).to_dict()
    assert by_file[str(collection / "song0.flac")] == ["ok"] * 3  # 0, 30 and 35 s
    assert by_file[str(collection / "short.flac")] == ["short"]
    assert by_file[str(collection / "empty.mp3")] == ["error"]
    assert "empty" in table[table.status == "error"].message.iloc[0]
    assert np.load(windows / "images.npy").shape == (5, 32, 32, 3)

    for bundle in (mlp_bundle(tmp_path), cnn_bundle(tmp_path)):
        got = score_windows(bundle, {"songs": windows})
        ok = got[got.status == "ok"]
        with Scorer(bundle) as scorer:
            for path in sorted(collection.glob("song*.flac")):
                want = scorer.score_file(path).windows
                mine = ok[ok.file == str(path)]
                assert mine.start_s.tolist() == [w.start_s for w in want]
                assert mine.p_ai.tolist() == [w.p_ai for w in want]
        assert set(got.status) == {"ok", "short", "error"}
        assert got.recording.str.startswith("songs/").all()


def test_windows_of_other_preprocessing_are_refused(collection, tmp_path):
    collection_windows("songs", {"path": str(collection), "glob": "song0.*"}, PRE, tmp_path)
    other = copy.deepcopy(PRE)
    other["spectrogram"]["n_fft"] = 1024
    with pytest.raises(ValueError, match=r"spectrogram.n_fft differ.*benchmark_windows"):
        read_windows(tmp_path, other)
    assert isinstance(read_windows(tmp_path, PRE)["windows"], pd.DataFrame)
