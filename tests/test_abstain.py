"""The abstain rates' shared decoding: the test clips and unusual copies are prepared
once, and every bundle's scores of the stored inputs are the scores `predict` gives the
files, warnings and all."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import soundfile as sf
from test_benchmark_windows import SR, tones
from test_bundle import PRE, cnn_bundle, mlp_bundle

from synthdetect.serving.abstain import prepare_groups, read_prepared, score_groups
from synthdetect.serving.scoring import Scorer


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    root = tmp_path_factory.mktemp("abstain")
    sf.write(root / "clip0.wav", tones(0, 30.0), SR, subtype="PCM_16")
    sf.write(root / "clip1.wav", tones(1, 45.0), SR, subtype="PCM_16")
    sf.write(root / "short.wav", tones(2, 3.0), SR, subtype="PCM_16")
    sf.write(root / "6ch.wav", np.tile(tones(3, 30.0)[:, None], (1, 6)), SR, subtype="PCM_16")
    (root / "empty.wav").write_bytes(b"")
    return {
        "test": [root / "clip0.wav", root / "clip1.wav"],
        "odd": [root / "short.wav", root / "6ch.wav", root / "empty.wav"],
    }


def test_stored_inputs_score_as_predict_scores_the_files(groups, tmp_path):
    table = prepare_groups(groups, PRE, tmp_path / "inputs")
    assert table.status.tolist() == ["ok", "ok", "ok", "ok", "error"]
    assert table.start_s.map(len).tolist() == [1, 2, 1, 1, 0]  # 45 s: 0 and 15 s
    assert np.load(tmp_path / "inputs/images.npy").shape == (5, 32, 32, 3)
    for bundle in (mlp_bundle(tmp_path), cnn_bundle(tmp_path)):
        got = score_groups(bundle, tmp_path / "inputs")
        assert got.group.tolist() == ["test", "test", "odd", "odd", "odd"]
        with Scorer(bundle) as scorer:
            for row in got.itertuples():
                want = scorer.score_file(row.file)
                assert (row.status, row.warning) == (want.status, want.warning)
                assert row.reason == (want.reason or want.message)
                if want.status == "ok":
                    assert (row.label, row.p_ai) == (want.label, want.p_ai)
    warnings = dict(zip(got.file, got.warning, strict=True))
    assert "zero-padded" in warnings[str(groups["odd"][0])]
    assert "6 channels downmixed" in warnings[str(groups["odd"][1])]
    assert "empty" in got.reason.iloc[-1]


def test_inputs_of_other_preprocessing_or_without_fakeprints_are_refused(groups, tmp_path):
    prepare_groups({"test": groups["test"][:1]}, PRE, tmp_path)
    other = copy.deepcopy(PRE)
    other["spectrogram"]["n_fft"] = 1024
    with pytest.raises(ValueError, match=r"spectrogram.n_fft differ.*abstain_inputs"):
        read_prepared(tmp_path, other)
    (prep,) = read_prepared(tmp_path, PRE)["test"]
    assert prep.images.shape == (1, 32, 32, 3) and prep.fakeprints is None
