"""``kind: sonics`` against the loopback server serving tiny SONICS files at the Hub's paths:
``fake_songs/part_NN.zip`` (``fake_songs/fake_<id>_<suno|udio>_<k>.mp3``), ``fake_songs.csv``,
resolve URLs that redirect to a CDN, and the tree API's sha256s over two pages.

1. The metadata: reading ``fake_songs.csv``, platform/algorithm selection, plans, checks.
2. Fetching: only the selected members move (through the redirect), the Hub's sha256 checks
   whole downloads (configured checksums the fallback), and the faults the FMA/AAM tests
   inject (truncation, wrong bytes, 5xx, no Range, zip-slip).
3. ``split: dataset``: the candidates carry the dataset's split and the manifest keeps it.
4. The real half: which real songs a folder holds, by YouTube id.
5. The Snakemake CLI from the loopback server to the manifest, with the dataset's split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from fixtures_datasets import (
    SonicsSong,
    build_sonics_parts,
    default_sonics_songs,
    serve_sonics,
    wav_bytes,
    write_fake_songs_csv,
)
from http_server import LoopbackServer
from workflow_helpers import TINY, snakemake, write_config

from synthdetect.data import archives as acquire
from synthdetect.data import sonics
from synthdetect.data.candidates import folder_candidates
from synthdetect.data.extract import UnsafeMemberError
from synthdetect.data.http import ChecksumError
from synthdetect.data.kinds import KINDS
from synthdetect.pipeline.manifest import build_manifest
from synthdetect.seeds import track_key

SONGS = default_sonics_songs()
PARTS = ["fake_songs/part_01.zip", "fake_songs/part_02.zip"]
FAST = acquire.FetchOptions(retries=2, backoff_s=0.01, timeout_s=10, progress=False, workers=2)
SPLITS = {"train": "train", "valid": "val", "test": "test"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[dict[str, Path], dict[str, bytes]]:
    return build_sonics_parts(tmp_path_factory.mktemp("sonics"), SONGS)


def opts(tmp_path, **kw) -> acquire.FetchOptions:
    return acquire.FetchOptions(**{**FAST.__dict__, "download_dir": tmp_path / "archives", **kw})


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spec(urls, **kw) -> dict:
    return {
        "kind": "sonics",
        "label": "ai",
        "archives": [{"url": urls[p]} for p in PARTS if p in urls],
        "metadata": {"url": urls["fake_songs.csv"]},
        "hf_api": urls["api"],
        **kw,
    }


def mp3s(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.mp3"))


def fetch(kind, s, tmp_path, name="son", seed=0, csv=None):
    """What the workflow does: fake_songs.csv, then the audio folder of the plan."""
    csv = csv or tmp_path / name / "fake_songs.csv"
    if not csv.exists():
        sonics.fetch_sonics_metadata(
            acquire.archive_ref(s["metadata"], f"sources.{name}.metadata"),
            csv,
            opts(tmp_path),
            sonics.HubChecksums(s.get("hf_api")),
        )
    plan = kind.plan(name, s, seed)
    dest = tmp_path / name / f"audio-{kind.selection_key(plan)}"
    stats = kind.fetch_audio(
        plan,
        dest,
        source=name,
        inputs={"metadata": str(csv)},
        download_dir=tmp_path / "archives",
        progress=False,
    )
    return dest, stats


# --------------------------------------------------------------------------- 1. metadata


def test_fake_songs_csv_and_selection(files):
    table = sonics.read_fake_songs(files[0]["fake_songs.csv"])
    assert list(table.columns) == ["track", "generator", "platform", "dataset_split", "fake_type"]
    assert len(table) == len(SONGS) and table.track.is_monotonic_increasing
    by = table.set_index("track")
    for s in SONGS:
        row = by.loc[s.filename]
        assert (row.generator, row.platform) == (s.algorithm, s.platform)
        assert row.dataset_split == SPLITS[s.split]
    udio = sonics.select_songs(table, platform="udio")
    assert set(udio.generator) == {"udio-30s", "udio-120s"}
    v3 = sonics.select_songs(table, algorithms=["chirp-v3", "chirp-v3.5"])
    assert set(v3.platform) == {"suno"} and len(v3) == 9  # 4 + 4, and the CSV-only song
    with pytest.raises(ValueError, match="no algorithm 'udio-32'.*chirp-v2-xxl-alpha"):
        sonics.select_songs(table, algorithms=["udio-32"])
    assert sonics.sonics_members(
        ["fake_songs/", "fake_songs/fake_00001_suno_0.mp3", "__MACOSX/fake_songs/._a.mp3", "x.txt"]
    ) == {"fake_00001_suno_0": "fake_songs/fake_00001_suno_0.mp3"}


def test_plan_names_the_selection_and_checks_name_the_key():
    kind = KINDS["sonics"]
    base = {
        "kind": "sonics",
        "label": "ai",
        "archives": [{"url": "https://h/part_01.zip"}],
        "metadata": {"url": "https://h/fake_songs.csv"},
        "n": 10,
        "spares": 32,
    }
    assert kind.selection_key(kind.plan("s", {**base, "platform": "suno"}, 0)) == "suno-seed0-n42"
    both = kind.plan("s", {**base, "algorithm": ["udio-30s", "chirp-v3"], "spares": 0}, 1)
    assert kind.selection_key(both) == "chirp-v3_udio-30s-seed1-n10" and both["source"] == "s"
    assert kind.selection_key(kind.plan("s", {**base, "spares": None}, 0)) == "all-all"
    assert kind.recipe("s", {**base, "split": "dataset"})["split"] == "dataset"
    assert "split" not in kind.recipe("s", base)
    with pytest.raises(ValueError, match=r"sources\.s\.algorithm: 'udio-30s' is a udio"):
        kind.check("s", {**base, "platform": "suno", "algorithm": ["udio-30s"]})
    with pytest.raises(ValueError, match=r"sources\.s\.algorithm: 'suno-v4'"):
        kind.check("s", {**base, "algorithm": ["suno-v4"]})
    kind.check("s", {**base, "platform": "udio", "algorithm": ["udio-120s"]})


# --------------------------------------------------------------------------- 2. fetching


def test_selective_fetch_through_the_hub_redirect(http_server, files, tmp_path):
    parts, audio = files
    urls = serve_sonics(http_server, parts, pages=2)
    kind = KINDS["sonics"]
    s = spec(urls, platform="udio", n=3, spares=1)
    dest, stats = fetch(kind, s, tmp_path, seed=2)
    udio = sorted(x.filename for x in SONGS if x.platform == "udio")
    ranked = sorted(udio, key=lambda t: (track_key(2, "son", t), t))[:4]
    assert mp3s(dest) == sorted(f"fake_songs/{t}.mp3" for t in ranked)
    for t in ranked:
        assert (dest / "fake_songs" / f"{t}.mp3").read_bytes() == audio[f"fake_songs/{t}.mp3"]
    assert {x.mode for x in stats} == {"ranges"}
    for part in PARTS:  # every request to the Hub was redirected, with its Range
        resolve = urls[part].split(http_server.base_url)[1]
        assert {r.status for r in http_server.requests_for(resolve)} == {302}
        cdn = urls[f"{part}@cdn"].split(http_server.base_url)[1]
        assert all(r.range for r in http_server.requests_for(cdn))
        assert http_server.bytes_served(cdn) < parts[part].stat().st_size / 2
    # the candidates carry what made each song and the dataset's split
    table = kind.candidates("son", s, {"audio": str(dest)}).set_index("track")
    assert sorted(table.index) == sorted(ranked) and set(table.platform) == {"udio"}
    truth = {x.filename: x for x in SONGS}
    for t, row in table.iterrows():
        assert row.generator == truth[t].algorithm and row.dataset_split == SPLITS[truth[t].split]
    assert "split" not in table  # split: seeded (the default) leaves it to the manifest
    # the two takes of a prompt are one recording (so a seeded split keeps them together)
    assert (table.recording == table.index.str.rsplit("_", n=1).str[0]).all()


def test_hub_sha256_checks_whole_downloads_with_the_configured_fallback(files, tmp_path, caplog):
    parts, _ = files
    with LoopbackServer(ranges=False) as server:
        urls = serve_sonics(server, parts, pages=3)
        listed = sonics.fetch_hub_checksums(urls["api"], retries=0)
        assert listed["part_02.zip"] == listed["fake_songs/part_02.zip"] == sha256(parts[PARTS[1]])
        assert "README.md" not in listed  # a git file has no sha256 there
        kind = KINDS["sonics"]
        wrong = "sha256:" + "0" * 64
        s = spec(urls, algorithm=["chirp-v2-xxl-alpha"], spares=None)
        s["archives"] = [{"url": urls[p], "checksum": wrong} for p in PARTS]
        dest, stats = fetch(kind, s, tmp_path)
        assert {x.mode for x in stats} == {"full"} and len(mp3s(dest)) == 4
        assert "the Hub lists" in caplog.text and "using the Hub's" in caplog.text
        for p in PARTS:
            assert sha256(tmp_path / "archives" / Path(p).name) == sha256(parts[p])
        # the Hub's API down: the configured checksum decides (and here refuses)
        for p in PARTS:
            (tmp_path / "archives" / Path(p).name).unlink()
        down = {**s, "hf_api": "http://127.0.0.1:9/api"}
        with pytest.raises(ChecksumError, match=wrong):
            fetch(kind, down, tmp_path, name="down", csv=tmp_path / "son" / "fake_songs.csv")
        assert "cannot read http://127.0.0.1:9/api" in caplog.text


def test_metadata_download_resumes_and_refuses_wrong_bytes(http_server, files, tmp_path):
    parts, _ = files
    urls = serve_sonics(http_server, parts)
    csv_cdn = urls["fake_songs.csv@cdn"].split(http_server.base_url)[1]
    ref = acquire.archive_ref({"url": urls["fake_songs.csv"]}, "sources.s.metadata")
    hub = sonics.HubChecksums(urls["api"])
    http_server.fault(csv_cdn, status=500)
    http_server.fault(csv_cdn, truncate_at=500)
    sonics.fetch_sonics_metadata(ref, tmp_path / "a.csv", opts(tmp_path), hub)
    assert (tmp_path / "a.csv").read_bytes() == parts["fake_songs.csv"].read_bytes()
    assert http_server.requests_for(csv_cdn)[-1].range == "bytes=500-"  # resumed
    http_server.fault(csv_cdn, corrupt=True, times=None)
    with pytest.raises(ChecksumError) as err:
        sonics.fetch_sonics_metadata(ref, tmp_path / "b.csv", opts(tmp_path), hub)
    assert urls["fake_songs.csv"] in str(err.value) and sha256(parts["fake_songs.csv"]) in str(
        err.value
    )
    assert not (tmp_path / "b.csv").exists()
    # sources sharing one `path`: the first downloads it there, the next only copies it
    http_server.clear_faults(csv_cdn)
    http_server.reset_counts()
    shared = acquire.archive_ref(
        {"url": urls["fake_songs.csv"], "path": str(tmp_path / "shared" / "f.csv")}, "m"
    )
    for name in ("one.csv", "two.csv"):
        sonics.fetch_sonics_metadata(shared, tmp_path / name, opts(tmp_path), hub)
        assert (tmp_path / name).read_bytes() == parts["fake_songs.csv"].read_bytes()
    assert len([r for r in http_server.requests_for(csv_cdn) if r.status == 200]) == 1
    # a local copy: checked against the configured checksum, copied, no request
    http_server.reset_counts()
    local = acquire.archive_ref(
        {"path": str(parts["fake_songs.csv"]), "checksum": sha256(parts["fake_songs.csv"])}, "m"
    )
    sonics.fetch_sonics_metadata(local, tmp_path / "c.csv", opts(tmp_path), hub)
    assert (tmp_path / "c.csv").read_bytes() == parts["fake_songs.csv"].read_bytes()
    assert http_server.requests_for() == []


def test_member_faults_are_retried(http_server, files, tmp_path):
    parts, audio = files
    urls = serve_sonics(http_server, parts)
    cdn = urls[f"{PARTS[0]}@cdn"].split(http_server.base_url)[1]
    http_server.fault(cdn, status=502)  # the probe
    http_server.fault(cdn, times=2)  # probe again, tail: as they are
    http_server.fault(cdn, truncate_at=700)
    http_server.fault(cdn, corrupt=True, corrupt_offsets=(3000,))
    kind = KINDS["sonics"]
    dest, stats = fetch(kind, spec(urls, spares=None), tmp_path)
    assert mp3s(dest) == sorted(audio) and all(x.mode == "ranges" for x in stats)
    for m in audio:
        assert (dest / m).read_bytes() == audio[m]
    assert [r.status for r in http_server.requests_for(cdn)][0] == 502


def test_zip_slip_member_in_a_part_is_refused(http_server, tmp_path):
    songs = [SonicsSong(1, "suno", 0, "chirp-v3", "train", seconds=1.0)]
    evil = {"../fake_songs/fake_00002_suno_0.mp3": b"evil"}
    parts, _ = build_sonics_parts(tmp_path / "src", songs, parts=1, extra=evil)
    songs.append(SonicsSong(2, "suno", 0, "chirp-v3", "train"))
    write_fake_songs_csv(parts["fake_songs.csv"], songs)
    urls = serve_sonics(http_server, parts)
    s = spec(urls, spares=None)
    with pytest.raises(UnsafeMemberError, match=r"\.\./fake_songs/fake_00002_suno_0\.mp3"):
        fetch(KINDS["sonics"], s, tmp_path)
    assert not (tmp_path / "son" / "fake_songs").exists()


# --------------------------------------------------------------------------- 3. split: dataset


def human_folder(root: Path, n: int, seconds: float = 4.0) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"h{i:02d}.wav").write_bytes(wav_bytes(seconds, 22050, 90_000 + i))
    return root


def test_the_manifest_keeps_the_datasets_split(http_server, files, tmp_path):
    parts, _ = files
    urls = serve_sonics(http_server, parts)
    kind = KINDS["sonics"]
    s = spec(urls, spares=None, split="dataset")
    dest, _ = fetch(kind, s, tmp_path)
    table = kind.candidates("son", s, {"audio": str(dest)})
    assert (table.split == table.dataset_split).all()
    assert (table.recording == table.track).all()  # the dataset splits song by song
    human = folder_candidates("human", human_folder(tmp_path / "h", 10), "human")
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    manifest, _ = build_manifest(
        [({"name": "son"}, table), ({"name": "human"}, human)],
        seed=0,
        clip_s=2.0,
        split=fractions,
        balance=False,
    )
    got = manifest[manifest.source == "son"].set_index("track").split
    truth = {x.filename: SPLITS[x.split] for x in SONGS}
    assert got.to_dict() == {t: truth[t] for t in got.index}
    assert manifest[manifest.source == "human"].split.value_counts().to_dict() == {
        "train": 6,
        "val": 2,
        "test": 2,
    }
    # without split: dataset the same tracks get the seeded split
    seeded = kind.candidates("son", {**s, "split": "seeded"}, {"audio": str(dest)})
    again, _ = build_manifest(
        [({"name": "son"}, seeded)], seed=0, clip_s=2.0, split=fractions, balance=False
    )
    assert again.split.value_counts().to_dict() == {"train": 12, "val": 4, "test": 4}
    assert (again.groupby("recording").split.nunique() == 1).all()  # takes stay together
    assert again.recording.nunique() == 10
    # a table whose own split is partial or unknown is an error naming the source
    broken = table.assign(split=table.split.where(table.index > 0))
    with pytest.raises(ValueError, match=r"son.*1 tracks without one"):
        build_manifest([({"name": "son"}, broken)], seed=0, clip_s=2.0, split=fractions)


# --------------------------------------------------------------------------- 4. real half


def test_real_songs_covered_by_youtube_id(tmp_path):
    csv = tmp_path / "real_songs.csv"
    pd.DataFrame(
        {
            "id": [0, 1, 2, 3],
            "filename": ["real_00000", "real_00001", "real_00002", "real_00003"],
            "youtube_id": ["abcdefghijk", "-bcdefghijk", "abc_efghijk", "zzzzzzzzzzz"],
            "lyrics": ["la, la\nla", "", "", ""],
            "split": ["train", "valid", "test", "test"],
        }
    ).to_csv(csv, index=False)
    folder = tmp_path / "real"
    (folder / "sub").mkdir(parents=True)
    for name in ["abcdefghijk.mp3", "sub/Some Title [-bcdefghijk].opus", "Song abc_efghijk.wav"]:
        (folder / name).write_bytes(b"")
    (folder / "zzzzzzzzzzz.txt").write_bytes(b"")  # not audio
    table = sonics.real_songs_covered(folder, csv)
    assert table.path.notna().tolist() == [True, True, True, False]
    assert table.split.tolist() == ["train", "val", "test", "test"]
    text = sonics.coverage_summary(table)
    assert text.splitlines()[0] == "3 of 4 SONICS real songs found (75.0%)"
    assert "  test: 1 of 2" in text


# --------------------------------------------------------------------------- 5. the CLI


@pytest.mark.workflow
def test_cli_fetches_and_the_manifest_keeps_the_datasets_split(files, tmp_path):
    parts, _ = files
    work = tmp_path / "work"
    work.mkdir()
    human = human_folder(work / "human", 8)
    with LoopbackServer() as server:
        urls = serve_sonics(server, parts)
        config = {
            **TINY,
            "results": "results",
            "resources": "resources",
            "clip": {"seconds": 2},
            "sources": {
                "human": {"kind": "folder", "label": "human", "path": str(human)},
                "suno": {**spec(urls, platform="suno", n=6, spares=2), "split": "dataset"},
                "udio": spec(urls, platform="udio", n=4, spares=0),
            },
        }
        write_config(work / "config.yaml", config)
        snakemake(work, "results/manifest.parquet", "--configfile", "config.yaml")
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    truth = {x.filename: SPLITS[x.split] for x in SONGS}
    suno = manifest[manifest.source == "suno"]
    assert len(suno) == 6 and (suno.split == suno.track.map(truth)).all()
    assert len(manifest[manifest.source == "udio"]) == 4
    assert (work / "resources/suno/fake_songs.csv").exists()
    assert sorted(p.name for p in (work / "resources/udio").iterdir() if p.is_dir()) == [
        "audio-udio-seed0-n4"
    ]
    cands = pd.read_parquet(work / "results/candidates/udio.parquet")
    assert set(cands.generator) <= {"udio-30s", "udio-120s"} and set(cands.platform) == {"udio"}
