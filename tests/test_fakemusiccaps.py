"""``kind: fakemusiccaps`` against the loopback server serving a tiny ``FakeMusicCaps.zip``
in the real layout (``<generator folder>/<MusicCaps ytid>.wav``, macOS resource forks).

1. Names and plans: generators by key or folder name, the default record and archive.
2. Fetching one generator: only its selected members move, in the manifest's rank order,
   with the faults the FMA/AAM tests inject (truncation, wrong bytes, 5xx, no Range,
   zip-slip) and the Zenodo record's md5 with the configured fallback.
3. The Snakemake CLI from the loopback server to the generator matrix (cross_source) with
   10 s clips.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from fixtures_datasets import (
    FAKEMUSICCAPS_RECORD_ID,
    build_fakemusiccaps_zip,
    musiccaps_ytids,
    wav_bytes,
    zenodo_record,
)
from http_server import LoopbackServer
from workflow_helpers import TINY, snakemake, write_config

from synthdetect.data import archives as acquire
from synthdetect.data import fakemusiccaps as fmc
from synthdetect.data.extract import UnsafeMemberError
from synthdetect.data.http import ChecksumError
from synthdetect.data.kinds import KINDS
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import read_index
from synthdetect.seeds import track_key

KEY = "FakeMusicCaps.zip"
YTIDS = musiccaps_ytids(5)
FAST = acquire.FetchOptions(retries=2, backoff_s=0.01, timeout_s=10, progress=False, workers=2)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    path = tmp_path_factory.mktemp("fmc") / KEY
    return path, build_fakemusiccaps_zip(path, YTIDS)


def serve(server, path: Path, record: int = FAKEMUSICCAPS_RECORD_ID) -> dict[str, str]:
    """The zip at Zenodo's download path and the record API answer naming its md5."""
    url = server.add(f"/records/{record}/files/{KEY}", path)
    answer = zenodo_record({KEY: path}, server.base_url, record)
    server.add(f"/api/records/{record}", json.dumps(answer).encode())
    return {
        "zip": url,
        "api": server.url("/api/records/{record_id}"),
        "path": f"/records/{record}/files/{KEY}",
    }


def opts(tmp_path, **kw) -> acquire.FetchOptions:
    return acquire.FetchOptions(**{**FAST.__dict__, "download_dir": tmp_path / "archives", **kw})


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(Path(path).read_bytes()).hexdigest()


def wavs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.wav"))


# --------------------------------------------------------------------------- 1. names, plans


def test_generators_by_key_or_folder_name():
    assert fmc.generator_key("MusicGen_medium") == fmc.generator_key("musicgen_medium")
    assert fmc.generator_key("AudioLDM2-music") == "audioldm2"
    with pytest.raises(ValueError, match="unknown FakeMusicCaps generator 'suno'.*mustango"):
        fmc.generator_key("suno")
    names = [
        "MusicGen_medium/",
        "MusicGen_medium/abcdefghijk.wav",
        "__MACOSX/MusicGen_medium/._abcdefghijk.wav",
        "MusicGen_medium/._x.wav",
        "FakeMusicCaps/musicgen_medium/-bcdefghijk.wav",  # repacked under a root folder
        "musicldm/abcdefghijk.wav",
        "MusicGen_medium/notes.txt",
    ]
    assert fmc.fakemusiccaps_clips(names, "musicgen_medium") == {
        "abcdefghijk": "MusicGen_medium/abcdefghijk.wav",
        "-bcdefghijk": "FakeMusicCaps/musicgen_medium/-bcdefghijk.wav",
    }


def test_plan_defaults_to_the_record_and_keys_the_folder_by_generator(tmp_path):
    kind = KINDS["fakemusiccaps"]
    spec = {"kind": "fakemusiccaps", "label": "ai", "generator": "MusicGen_medium", "n": 10}
    plan = kind.plan("mg", {**spec, "spares": 2}, 0)
    assert plan["archives"] == [
        {"url": f"https://zenodo.org/records/{fmc.FAKEMUSICCAPS_RECORD}/files/{KEY}?download=1"}
    ]
    assert plan["zenodo"]["record"] == fmc.FAKEMUSICCAPS_RECORD == 13732524
    assert kind.selection_key(plan) == "musicgen_medium-seed0-n12" and plan["source"] == "mg"
    # both spellings of a generator share one folder; the v2 record brings its md5
    same = kind.plan("mg", {**spec, "generator": "musicgen_medium", "spares": 2}, 0)
    assert kind.selection_key(same) == kind.selection_key(plan)
    v2 = kind.plan("mg", {**spec, "zenodo_record": fmc.FAKEMUSICCAPS_V2_RECORD}, 0)
    assert v2["archives"][0]["checksum"] == "md5:db418dc95ab7dc378a55f29d6021fd66"
    assert "15063698" in v2["archives"][0]["url"]
    assert kind.plan("x", {**spec, "n": None}, 0)["take"] is None
    with pytest.raises(ValueError, match=r"sources\.x\.generator"):
        kind.check("x", {**spec, "generator": "riffusion"})
    with pytest.raises(ValueError, match=r"sources\.x\.label"):
        kind.check("x", {**spec, "label": "human"})
    kind.check("x", spec)  # needs nothing on disk or on the network


# --------------------------------------------------------------------------- 2. fetching


def test_selective_fetch_moves_one_generators_selection_only(http_server, archive, tmp_path):
    path, clips = archive
    urls = serve(http_server, path)
    kind = KINDS["fakemusiccaps"]
    spec = {
        "kind": "fakemusiccaps",
        "label": "ai",
        "generator": "stable_audio_open",
        "n": 2,
        "spares": 1,
        "archives": [{"url": urls["zip"], "checksum": "md5:" + "0" * 32}],
        "zenodo_record": FAKEMUSICCAPS_RECORD_ID,
        "zenodo_api": urls["api"],
    }
    plan = kind.plan("sao", spec, 4)
    dest = tmp_path / "sao" / f"audio-{kind.selection_key(plan)}"
    stats = kind.fetch_audio(plan, dest, source="sao", download_dir=tmp_path / "a", progress=False)
    ranked = sorted(YTIDS, key=lambda t: (track_key(4, "sao", t), t))[:3]
    wanted = sorted(f"stable_audio_open/{t}.wav" for t in ranked)
    assert wavs(dest) == wanted and stats[0].mode == "ranges"
    for m in wanted:
        assert (dest / m).read_bytes() == clips[m]
    served = http_server.bytes_served(urls["path"])
    assert served == stats[0].bytes_fetched < path.stat().st_size / 4
    # the record API is not needed (each member's CRC-32 is checked), nothing is kept whole
    assert http_server.requests_for(f"/api/records/{FAKEMUSICCAPS_RECORD_ID}") == []
    assert not (tmp_path / "a").exists()
    table = kind.candidates("sao", spec, {"audio": str(dest)})
    assert sorted(table.track) == sorted(ranked) and set(table.label) == {"ai"}
    assert set(table.generator) == {"stable_audio_open"} and (table.duration_s > 9.5).all()


def test_truncation_wrong_bytes_and_5xx_are_retried(http_server, archive, tmp_path):
    path, clips = archive
    urls = serve(http_server, path)
    member = f"mustango/{YTIDS[1]}.wav"
    span = read_index(path)[member].span
    # the probe answers 503 twice; the tail comes whole; the members' request is cut short,
    # then has wrong bytes in the middle of one member (a CRC-32 mismatch)
    http_server.fault(urls["path"], status=503, times=2)
    http_server.fault(urls["path"], times=2)  # probe, tail: as they are
    http_server.fault(urls["path"], truncate_at=1000)
    http_server.fault(urls["path"], corrupt=True, corrupt_offsets=((span[0] + span[1]) // 2,))
    refs = [acquire.archive_ref({"url": urls["zip"]}, "sources.m.archives[0]")]
    stats = fmc.fetch_fakemusiccaps_audio(
        refs,
        tmp_path / "out",
        source="m",
        generator="mustango",
        take=None,
        seed=0,
        options=opts(tmp_path),
    )
    assert wavs(tmp_path / "out") == sorted(f"mustango/{t}.wav" for t in YTIDS)
    assert (tmp_path / "out" / member).read_bytes() == clips[member]
    records = http_server.requests_for(urls["path"])
    assert [r.status for r in records[:2]] == [503, 503] and stats[0].mode == "ranges"
    assert len(records) == 2 + 2 + 3  # the members' request twice more


def test_server_without_ranges_downloads_once_for_every_generator(archive, tmp_path, caplog):
    path, clips = archive
    with LoopbackServer(ranges=False) as server:
        urls = serve(server, path)
        wrong = acquire.archive_ref({"url": urls["zip"], "checksum": "md5:" + "1" * 32}, "x")
        zenodo = ZenodoChecksums(FAKEMUSICCAPS_RECORD_ID, urls["api"], retries=0, timeout_s=5)
        o = opts(tmp_path)
        first = fmc.fetch_fakemusiccaps_audio(
            [wrong],
            tmp_path / "mg",
            source="mg",
            generator="MusicGen_medium",
            take=2,
            seed=0,
            options=o,
            zenodo=zenodo,
        )
        assert first[0].mode == "full" and len(wavs(tmp_path / "mg")) == 2
        assert "using Zenodo's" in caplog.text  # the record's md5 beat the configured one
        assert md5(tmp_path / "archives" / KEY) == md5(path)
        whole = [r for r in server.requests_for(urls["path"]) if r.method == "GET" and not r.range]
        assert [r.body_bytes for r in whole] == [path.stat().st_size]
        # the second generator's source reads the kept archive: no request for it at all
        # (a kept copy is checked against the configured md5 first, so give the right one)
        server.reset_counts()
        right = acquire.archive_ref({"url": urls["zip"], "checksum": md5(path)}, "x")
        again = fmc.fetch_fakemusiccaps_audio(
            [right],
            tmp_path / "ml",
            source="ml",
            generator="musicldm",
            take=None,
            seed=0,
            options=o,
            zenodo=zenodo,
        )
        assert again[0].mode == "local" and server.requests_for(urls["path"]) == []
        assert wavs(tmp_path / "ml") == sorted(f"musicldm/{t}.wav" for t in YTIDS)
        # wrong bytes in the whole download: the record's md5 refuses it, nothing is kept
        (tmp_path / "archives" / KEY).unlink()
        server.fault(urls["path"], corrupt=True, times=None)
        with pytest.raises(ChecksumError, match=urls["zip"].replace("?", r"\?")):
            fmc.fetch_fakemusiccaps_audio(
                [wrong],
                tmp_path / "y",
                source="y",
                generator="mustango",
                take=1,
                seed=0,
                options=o,
                zenodo=zenodo,
            )
        assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == [f"{KEY}.lock"]
        server.clear_faults()
        # the record unreachable and the configured md5 wrong: the download is refused
        down = ZenodoChecksums(FAKEMUSICCAPS_RECORD_ID, "http://127.0.0.1:9/{record_id}", retries=0)
        with pytest.raises(ChecksumError) as err:
            fmc.fetch_fakemusiccaps_audio(
                [wrong],
                tmp_path / "x",
                source="x",
                generator="mustango",
                take=1,
                seed=0,
                options=o,
                zenodo=down,
            )
        assert urls["zip"] in str(err.value) and md5(path) in str(err.value)
        assert "cannot read Zenodo record" in caplog.text


def test_zip_slip_member_is_refused_before_anything_is_written(http_server, tmp_path):
    path = tmp_path / KEY
    evil = {"../musicldm/zzzzzzzzzzz.wav": wav_bytes(1.0)}
    build_fakemusiccaps_zip(path, YTIDS[:2], ("musicldm",), seconds=1.0, extra=evil)
    urls = serve(http_server, path)
    refs = [acquire.archive_ref({"url": urls["zip"]}, "a")]
    with pytest.raises(UnsafeMemberError, match=r"\.\./musicldm/zzzzzzzzzzz\.wav"):
        fmc.fetch_fakemusiccaps_audio(
            refs,
            tmp_path / "out" / "d",
            source="s",
            generator="musicldm",
            take=None,
            seed=0,
            options=opts(tmp_path),
        )
    assert not (tmp_path / "out" / "musicldm").exists() and wavs(tmp_path / "out") == []


def test_missing_generator_names_the_folders_there(http_server, tmp_path):
    path = tmp_path / KEY
    build_fakemusiccaps_zip(path, YTIDS[:1], ("musicldm", "mustango"), seconds=0.5)
    urls = serve(http_server, path)
    refs = [acquire.archive_ref({"url": urls["zip"]}, "sources.s.archives[0]")]
    with pytest.raises(KeyError, match=r"no audioldm2 clips.*musicldm, mustango"):
        fmc.fetch_fakemusiccaps_audio(
            refs,
            tmp_path / "o",
            source="s",
            generator="audioldm2",
            take=None,
            seed=0,
            options=opts(tmp_path),
        )


def test_local_copy_needs_no_network(http_server, archive, tmp_path):
    path, _ = archive
    urls = serve(http_server, path)
    kind = KINDS["fakemusiccaps"]
    spec = {
        "kind": "fakemusiccaps",
        "label": "ai",
        "generator": "audioldm2",
        "spares": None,
        "archives": [{"url": urls["zip"], "path": str(path), "checksum": md5(path)}],
        "zenodo_api": urls["api"],
    }
    kind.check("l", spec)
    stats = kind.fetch_audio(kind.plan("l", spec, 0), tmp_path / "d", source="l", progress=False)
    assert stats[0].mode == "local" and len(stats[0].written) == len(YTIDS)
    assert http_server.requests_for() == []


# --------------------------------------------------------------------------- 3. the CLI

MATRIX_N = 8  # clips per source


def human_folder(root: Path, n: int) -> Path:
    """A folder source's human class: 12 s WAVs at 22.05 kHz."""
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"human_{i:02d}.wav").write_bytes(wav_bytes(12.0, 22050, 70_000 + i))
    return root


@pytest.mark.workflow
def test_cli_from_the_loopback_server_to_the_generator_matrix(tmp_path):
    """Two generators of a tiny FakeMusicCaps zip, a folder of human music, 10 s clips:
    the run fetches both generators' selections and writes the 2 x 2 generator matrix."""
    path = tmp_path / KEY
    ids = musiccaps_ytids(MATRIX_N + 2, seed=3)
    build_fakemusiccaps_zip(path, ids, ("MusicGen_medium", "musicldm"), seconds=10.24)
    work = tmp_path / "work"
    work.mkdir()
    human = human_folder(work / "human", MATRIX_N)
    with LoopbackServer() as server:
        urls = serve(server, path)
        gen = {
            "kind": "fakemusiccaps",
            "label": "ai",
            "n": MATRIX_N,
            "spares": 1,
            "crop": "start",
            "archives": [{"url": urls["zip"], "checksum": md5(path)}],
            "zenodo_record": FAKEMUSICCAPS_RECORD_ID,
            "zenodo_api": urls["api"],
        }
        config = {
            **TINY,
            "results": "results",
            "resources": "resources",
            "clip": {"seconds": 10, "sample_rate": 16000},
            "models": {**TINY["models"], "enabled": ["rf_deriv"]},
            "sources": {
                "human": {"kind": "folder", "label": "human", "path": str(human)},
                "musicgen": {**gen, "generator": "musicgen_medium"},
                "musicldm": {**gen, "generator": "musicldm"},
            },
            "cross_source": [
                {"name": f"{a}_to_{b}", "train": ["human", a], "test": ["human", b]}
                for a in ("musicgen", "musicldm")
                for b in ("musicgen", "musicldm")
            ],
        }
        write_config(work / "config.yaml", config)
        snakemake(work, "results/report/cross_source.csv", "--configfile", "config.yaml")
        fetched = server.bytes_served(urls["path"])
    assert 0 < fetched < path.stat().st_size  # 9 + 9 of the 20 clips, by ranges
    for source, folder in (("musicgen", "MusicGen_medium"), ("musicldm", "musicldm")):
        got = sorted(p.stem for p in (work / "resources" / source).glob(f"audio-*/{folder}/*.wav"))
        assert got == sorted(
            sorted(ids, key=lambda t: (track_key(0, source, t), t))[: MATRIX_N + 1]
        )
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    assert manifest.groupby("source").size().to_dict() == {
        "human": MATRIX_N,
        "musicgen": MATRIX_N,
        "musicldm": MATRIX_N,
    }
    assert set(manifest.clip_s) == {10.0}
    candidates = pd.read_parquet(work / "results/candidates/musicldm.parquet")
    assert set(candidates.generator) == {"musicldm"}
    matrix = pd.read_csv(work / "results/report/cross_source.csv", index_col=[0, 1])
    assert list(matrix.columns) == ["rf_deriv"]
    settings = {f"{a}_to_{b}" for a in ("musicgen", "musicldm") for b in ("musicgen", "musicldm")}
    assert set(matrix.loc["accuracy"].index) == settings
    assert matrix.loc["accuracy", "rf_deriv"].between(0, 1).all()
