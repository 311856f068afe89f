import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like

from synthdetect.audio.io import probe, read_window
from synthdetect.data.candidates import folder_candidates
from synthdetect.pipeline.manifest import assign_splits, build_manifest, crop_offset
from synthdetect.seeds import track_key

SPLIT = {"train": 0.7, "val": 0.1, "test": 0.2}


def candidates(n, label, source, per_recording=1):
    return pd.DataFrame(
        {
            "source": source,
            "track": [f"t{i:04d}" for i in range(n)],
            "recording": [f"r{i // per_recording}" for i in range(n)],
            "label": label,
            "path": "x",
            "duration_s": 120.0,
        }
    )


def ok_probe(path, **kw):
    from synthdetect.audio.io import Probe

    return Probe(True, "", 120.0, SR)


def test_split_keeps_recordings_together_and_is_stratified():
    tracks = pd.concat(
        [candidates(300, "human", "h", per_recording=3), candidates(300, "ai", "a")],
        ignore_index=True,
    )
    tracks["recording"] = tracks.source + ":" + tracks.recording
    split = assign_splits(tracks, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    per_rec = pd.DataFrame({"rec": tracks.recording, "split": split}).groupby("rec").split
    assert (per_rec.nunique() == 1).all()  # no recording in two splits
    for label in ("human", "ai"):
        share = split[tracks.label == label].value_counts(normalize=True)
        assert abs(share["train"] - 0.7) < 0.03 and abs(share["test"] - 0.2) < 0.03


def test_every_source_gets_its_share_of_each_split():
    """Two AI sources (say two renderers): a cross-source test needs test tracks of each."""
    tracks = pd.concat(
        [candidates(20, "human", "h"), candidates(10, "ai", "a1"), candidates(10, "ai", "a2")],
        ignore_index=True,
    )
    tracks["recording"] = tracks.source + ":" + tracks.recording
    split = assign_splits(tracks, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    for source, n in (("h", 20), ("a1", 10), ("a2", 10)):
        counts = split[tracks.source == source].value_counts()
        assert counts["test"] == round(0.2 * n) and counts["val"] == round(0.1 * n), source


def test_manifest_is_seeded_and_stable_when_tracks_are_added():
    h, a = candidates(50, "human", "h"), candidates(50, "ai", "a")
    kw = dict(seed=3, clip_s=30.0, split={"train": 0.7, "val": 0.1, "test": 0.2}, prober=ok_probe)
    specs = [({"name": "h", "n": 20}, h), ({"name": "a", "n": 20, "crop": "random"}, a)]
    m1, _ = build_manifest(specs, **kw)
    m2, _ = build_manifest(specs, **kw)
    pd.testing.assert_frame_equal(m1, m2)
    assert (m1[m1.source == "h"].offset_s == 0).all()
    offsets = m1[m1.source == "a"].offset_s
    assert offsets.between(0, 90).all() and offsets.nunique() > 10
    # more candidates: the crop of every track already there is unchanged
    bigger = [({"name": "a", "n": None, "crop": "random"}, candidates(80, "ai", "a"))]
    m3, _ = build_manifest([specs[0], *bigger], **kw)
    merged = m1.merge(m3, on=["source", "track"])
    assert (merged.offset_s_x == merged.offset_s_y).all()
    assert crop_offset("random", 120, 30, 3, "a", "t0001") == crop_offset(
        "random", 120, 30, 3, "a", "t0001"
    )


def test_bad_tracks_are_excluded_with_reasons_and_replaced(tmp_path):
    d = tmp_path / "music"
    d.mkdir()
    for i in range(6):
        sf.write(d / f"good{i}.flac", music_like(i, 31, label="human"), SR)
    sf.write(d / "silent.flac", np.zeros(31 * SR, np.float32), SR)
    sf.write(d / "short.flac", music_like(9, 2, label="human"), SR)
    (d / "broken.mp3").write_bytes(b"not audio at all" * 100)
    cands = folder_candidates("h", d, "human")
    assert len(cands) == 9
    ai = candidates(10, "ai", "a")
    manifest, excluded = build_manifest(
        [({"name": "h", "n": 6}, cands), ({"name": "a", "n": 6}, ai)],
        seed=0,
        clip_s=30.0,
        split={"train": 0.7, "val": 0.1, "test": 0.2},
        prober=lambda path, **kw: probe(path, **kw) if path != "x" else ok_probe(path),
    )
    assert (manifest.label == "human").sum() == (manifest.label == "ai").sum() == 6
    reasons = dict(zip(excluded.track, excluded.reason, strict=True))
    assert set(reasons) == {"silent", "short", "broken"}
    assert reasons["silent"] == "silent: every sample is zero"
    assert reasons["short"].startswith("too short")
    assert reasons["broken"] == "not an audio file soundfile can read (Format not recognised)"


def test_not_enough_usable_tracks_names_the_source():
    with pytest.raises(ValueError, match="source 'h'.*lower its 'n'"):
        build_manifest(
            [({"name": "h", "n": 60}, candidates(50, "human", "h"))],
            seed=0,
            clip_s=30,
            split={"train": 0.7, "val": 0.1, "test": 0.2},
            prober=ok_probe,
        )


def test_read_window_is_sample_exact_and_padded(tmp_path):
    y = music_like(0, 10, label="ai")
    sf.write(tmp_path / "x.flac", y, SR, subtype="FLOAT" if False else "PCM_24")
    w = read_window(tmp_path / "x.flac", 2.0, 3.0, samplerate=None)
    np.testing.assert_allclose(w, y[2 * SR : 5 * SR], atol=1e-6)
    tail = read_window(tmp_path / "x.flac", 8.0, 3.0, samplerate=None)
    assert tail.shape == (3 * SR,) and not tail[-SR:].any()
    assert read_window(tmp_path / "x.flac", 0, 1.0, samplerate=11025).shape == (11025,)


def failing(bad):
    """A prober that finds the tracks in ``bad`` (by path) undecodable."""
    from synthdetect.audio.io import Probe

    def prober(path, **kw):
        return Probe(False, "undecodable: test", float("nan"), 0) if path in bad else ok_probe(path)

    return prober


def with_paths(cands):
    return cands.assign(path=cands.source + "/" + cands.track)


def test_short_class_goes_on_and_balance_trims_the_other_by_rank(caplog):
    h, a = with_paths(candidates(10, "human", "h")), with_paths(candidates(10, "ai", "a"))
    bad = {"h/t0003", "h/t0007"}
    kw = dict(seed=1, clip_s=30.0, split=SPLIT, prober=failing(bad))
    specs = [({"name": "h", "n": 10}, h), ({"name": "a", "n": 10}, a)]
    with caplog.at_level("INFO"):
        manifest, excluded = build_manifest(specs, **kw)
    assert manifest.groupby("label").size().to_dict() == {"ai": 8, "human": 8}
    ranked = sorted(a.track, key=lambda t: (track_key(1, "a", t), t))
    assert sorted(manifest[manifest.source == "a"].track) == sorted(ranked[:8])
    reasons = excluded.set_index("track").reason
    assert reasons["t0003"].startswith("undecodable") and reasons["t0007"].startswith("undecodable")
    trimmed = excluded[excluded.source == "a"]
    assert sorted(trimmed.track) == sorted(ranked[8:])
    assert trimmed.reason.str.startswith("balance: human has only 8 usable tracks of 10").all()
    assert "only 8 usable tracks of 10 asked for" in caplog.text
    assert "human 8 of 10 asked for" in caplog.text  # the final counts, per class
    # balance: false keeps every usable track
    unbalanced, excluded = build_manifest(specs, **kw, balance=False)
    assert unbalanced.groupby("label").size().to_dict() == {"ai": 10, "human": 8}
    assert set(excluded.source) == {"h"}


def test_all_usable_tracks_with_one_bad_file_goes_on():
    """n: null (every usable track) with one excluded file: no error, classes kept even."""
    h, a = with_paths(candidates(15, "human", "h")), with_paths(candidates(15, "ai", "a"))
    specs = [({"name": "h", "n": None}, h), ({"name": "a", "n": None}, a)]
    manifest, excluded = build_manifest(
        specs, seed=0, clip_s=30.0, split=SPLIT, prober=failing({"h/t0004"})
    )
    assert manifest.groupby("label").size().to_dict() == {"ai": 14, "human": 14}
    # classes that differ by what the sources offer are left as they are
    specs = [({"name": "h", "n": None}, h), ({"name": "a", "n": None}, a.iloc[:12])]
    manifest, excluded = build_manifest(specs, seed=0, clip_s=30.0, split=SPLIT, prober=ok_probe)
    assert manifest.groupby("label").size().to_dict() == {"ai": 12, "human": 15}
    assert excluded.empty


def test_balance_spreads_over_the_sources_of_a_class():
    h = with_paths(candidates(20, "human", "h"))
    a1, a2 = with_paths(candidates(10, "ai", "a1")), with_paths(candidates(10, "ai", "a2"))
    specs = [
        ({"name": "h", "n": 20}, h),
        ({"name": "a1", "n": 10}, a1),
        ({"name": "a2", "n": 10}, a2),
    ]
    manifest, excluded = build_manifest(
        specs, seed=0, clip_s=30.0, split=SPLIT, prober=failing({"h/t0001", "h/t0002"})
    )
    assert manifest.groupby("label").size().to_dict() == {"ai": 18, "human": 18}
    ai = pd.concat([a1, a2])
    ranked = sorted(
        zip(ai.source, ai.track, strict=True), key=lambda st: (track_key(0, *st), st[1])
    )
    cut = excluded[excluded.label == "ai"]
    assert sorted(zip(cut.source, cut.track, strict=True)) == sorted(ranked[18:])


def test_members_the_fetch_rejected_are_excluded_with_its_reason_unprobed():
    h = with_paths(candidates(6, "human", "h")).assign(rejected=None)
    h.loc[2, "rejected"] = "checksum: the archive's checksum list says sha1:00, ... give sha1:11"
    probed = []

    def prober(path, **kw):
        probed.append(path)
        return ok_probe(path)

    manifest, excluded = build_manifest(
        [
            ({"name": "h", "n": None}, h),
            ({"name": "a", "n": 6}, with_paths(candidates(6, "ai", "a"))),
        ],
        seed=0,
        clip_s=30.0,
        split=SPLIT,
        prober=prober,
    )
    assert "h/t0002" not in probed and "h/t0002" not in set(manifest.path)
    (row,) = excluded[excluded.source == "h"].itertuples()
    assert row.track == "t0002" and row.reason.startswith("checksum: ")
    assert excluded[excluded.source == "a"].reason.str.startswith("balance: ").all()
    assert "rejected" not in manifest and "rejected" not in excluded
    assert manifest.groupby("label").size().to_dict() == {"ai": 5, "human": 5}


def test_no_usable_track_at_all_is_an_error():
    with pytest.raises(ValueError, match="source 'h': none of its 3 candidate tracks is usable"):
        build_manifest(
            [({"name": "h", "n": None}, with_paths(candidates(3, "human", "h")))],
            seed=0,
            clip_s=30,
            split=SPLIT,
            prober=failing({"h/t0000", "h/t0001", "h/t0002"}),
        )


def test_folder_sources_take_every_audio_suffix(tmp_path):
    for name, fmt in (("a.oga", "OGG"), ("b.flac", "FLAC"), ("c.wav", "WAV")):
        sf.write(tmp_path / name, music_like(1, 1, label="ai"), SR, format=fmt)
    (tmp_path / "notes.txt").write_text("not audio")
    assert list(folder_candidates("x", tmp_path, "ai").track) == ["a", "b", "c"]
