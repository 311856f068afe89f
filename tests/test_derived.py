"""The derived source kind: its startup checks, the manifest's copies of the parent's rows,
Table 1's sources beside it, and the derived clip chain on a real file."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import SR, music_like
from test_manifest import candidates, ok_probe
from test_plan import config as plan_config

from synthdetect.audio.codec import estimate_bitrate_kbps, write_mp3
from synthdetect.audio.io import read_clip
from synthdetect.data.kinds import check_sources, derived_sources
from synthdetect.pipeline.buckets import bucket_of
from synthdetect.pipeline.derive import derive_track, generator_for
from synthdetect.pipeline.generators import generator_settings
from synthdetect.pipeline.manifest import build_manifest
from synthdetect.pipeline.plan import plan_variants

SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}
SOURCES = {
    "human": {"kind": "folder", "label": "human", "path": "."},
    "ai": {"kind": "folder", "label": "ai", "path": "."},
    "gm": {"kind": "derived", "label": "ai", "parent": "human", "generator": "griffinmel"},
}


def sources(**changes):
    out = copy.deepcopy(SOURCES)
    out["gm"] |= changes
    return out


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"parent": "nope"}, "sources.gm.parent", "not a source"),
        ({"parent": "ai"}, "sources.gm.parent", "labelled ai"),
        ({"generator": "vocoder"}, "sources.gm.generator", "griffinmel, autoencoder"),
        ({"griffinmel": {"n_mels": 0}}, "sources.gm.griffinmel", "n_mels"),
        ({"griffinmel": {"n_iters": 4}}, "sources.gm.griffinmel", "unknown setting"),
        (
            {"generator": "autoencoder", "autoencoder": {"decoder": "pixelshuffle"}},
            "sources.gm.autoencoder",
            "decoder",
        ),
        (
            {"generator": "autoencoder", "autoencoder": {"max_steps": 2.5}},
            "sources.gm.autoencoder",
            "max_steps",
        ),
        ({"autoencoder": {"max_steps": 5}}, "sources.gm.autoencoder", "generator is griffinmel"),
    ],
)
def test_startup_checks_name_the_key(changes, key, words):
    config = sources(**changes)
    with pytest.raises(ValueError, match=key) as err:  # as the workflow starts up
        check_sources(config)
        for name in derived_sources(config):
            generator_settings(name, config[name])
    assert words in str(err.value)


def test_a_derived_parent_and_too_large_n_are_refused():
    chain = sources()
    chain["gm2"] = {**chain["gm"], "parent": "gm"}
    with pytest.raises(ValueError, match=r"sources\.gm2\.parent: 'gm' is itself derived"):
        check_sources(chain)
    capped = sources(n=20)
    capped["human"]["n"] = 10
    with pytest.raises(ValueError, match=r"sources\.gm\.n: 20 .* only 10"):
        check_sources(capped)
    assert derived_sources(sources()) == ["gm"]


def test_settings_get_the_defaults_and_the_training_bounds():
    gm = generator_settings("gm", SOURCES["gm"])
    assert gm["n_iter"] == 32 and gm["n_mels"] == 128
    spec = {**SOURCES["gm"], "generator": "autoencoder", "autoencoder": {"max_steps": 7}}
    ae = generator_settings("gm", spec)
    assert ae["decoder"] == "transposed" and ae["max_steps"] == 7 and ae["max_seconds"] > 0


def manifest(derived):
    tables = [
        ({"name": "human"}, candidates(40, "human", "human", per_recording=2)),
        ({"name": "ai"}, candidates(40, "ai", "ai")),
    ]
    table, _ = build_manifest(
        tables, seed=0, clip_s=30.0, split=SPLIT, prober=ok_probe, derived=derived
    )
    return table


def test_derived_rows_copy_the_parent_and_keep_its_splits():
    table = manifest({"gm": {"parent": "human", "n": None}, "ae": {"parent": "human", "n": 10}})
    human = table[table.source == "human"].set_index("track")
    gm = table[table.source == "gm"].set_index("track")
    assert len(gm) == 40 and (gm.y == 1).all() and set(gm.label) == {"ai"}
    for column in ("recording", "split", "path", "offset_s", "clip_s"):
        assert (gm[column] == human.loc[gm.index, column]).all()
    ae = table[table.source == "ae"]
    # a seeded subset in the parent's proportions: 6 train, 2 val, 2 test of 10
    assert ae.split.value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    assert table.groupby("recording").split.nunique().max() == 1
    # the human/ai split is what it is without the derived sources
    alone = manifest({})
    assert alone.equals(table[table.source.isin(["human", "ai"])].reset_index(drop=True))
    again = manifest({"ae": {"parent": "human", "n": 10}})
    assert list(again[again.source == "ae"].track) == list(ae.track)


def test_derived_sources_have_buckets_of_their_own():
    assert bucket_of("gm", "t0001", 4, own=True) == f"gm-{bucket_of('gm', 't0001', 4)}"


def test_table1_and_controls_leave_derived_sources_out_the_study_uses_them():
    cfg = plan_config(controls={"codec_match": True})
    cfg["sources"]["gm"] = dict(SOURCES["gm"], parent="human")
    cfg["generators"] = {"human": ["human"], "ai": ["ai", "gm"], "models": None, "fpr": 0.01}
    variants = plan_variants(cfg)
    table1 = variants["res"]
    assert table1.train == table1.test == ("ai", "ai2", "human") and table1.sources is None
    control = variants["res/controls/codec_match"]
    assert control.sources == ("ai", "ai2", "human")
    study = variants["res/cross/gen_ai__gm"]
    assert study.test == ("human", "gm") and study.data == "res"
    # without a derived source nothing changes for the paper's config
    assert plan_variants(plan_config())["res"].train is None


def test_derive_track_matches_level_and_codec(tmp_path):
    parent = tmp_path / "human.mp3"
    write_mp3(parent, music_like(3, 4.0, label="human") * 0.3, SR, 64)
    spec = {"generator": "griffinmel", "settings": generator_settings("gm", SOURCES["gm"])}
    regenerate = generator_for(spec, seed=0, source="gm")
    out = tmp_path / "gm.wav"
    derive_track(
        parent,
        out,
        offset_s=0.5,
        seconds=3.0,
        sample_rate=SR,
        generator=lambda y, sr: regenerate("t", y, sr),
    )
    y, sr = read_clip(out)
    assert sr == SR and len(y) == 3 * SR
    from synthdetect.audio.io import read_window

    x = read_window(parent, 0.5, 3.0, samplerate=SR)
    rms = lambda a: float(np.sqrt(np.mean(np.square(a))))  # noqa: E731
    assert rms(y) == pytest.approx(rms(x), rel=0.1)
    assert not np.allclose(x[: len(y)], y, atol=1e-2)
    assert estimate_bitrate_kbps(parent) == 64
    # the round trip at the parent's bitrate cuts what 64 kbps cannot carry
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    top = spectrum[int(len(spectrum) * 10000 / (SR / 2)) :].sum() / spectrum.sum()
    assert top < 1e-5
    sf.info(out)  # a readable 16-bit WAV
    out2 = tmp_path / "again.wav"
    derive_track(
        parent,
        out2,
        offset_s=0.5,
        seconds=3.0,
        sample_rate=SR,
        generator=lambda y, sr: regenerate("t", y, sr),
    )
    assert out.read_bytes() == out2.read_bytes()
