"""FMA/AAM acquisition wired into the workflow, against the loopback server.

1. The archive kinds on their own: selective fetch moves only the chosen members,
   a server without ranges gets the whole archive, a bad checksum is a clear error, a
   local ``path:`` needs no network, AAM checksums come from the Zenodo record.
2. The real Snakemake CLI from download to Table 1 on tiny FMA/AAM archives, then a
   second result folder served from Snakemake's between-workflow cache.
3. ``snakemake -n`` on the default ``config/config.yaml`` plans with the network cut off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fixtures_datasets import AAM_RECORD_ID, build_datasets, cached_datasets, serve_datasets
from http_server import LoopbackServer
from workflow_helpers import REPO, TINY, job_counts, jobs_run, snakemake, write_config

from synthdetect.data import aam, fma
from synthdetect.data import archives as acquire
from synthdetect.data.fma import fma_member
from synthdetect.data.http import ChecksumError
from synthdetect.data.kinds import KINDS
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import read_index
from synthdetect.pipeline.manifest import build_manifest
from synthdetect.seeds import track_key

FAST = acquire.FetchOptions(retries=1, backoff_s=0.01, timeout_s=10, progress=False, workers=2)
BAD_FMA = {"099134": "not an audio file", "108925": "silent", "098565": "too short"}
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}
AAM_KEY = "0001-1000-audio-mixes.zip"


def digest(path: Path, algo: str) -> str:
    return f"{algo}:{hashlib.new(algo, Path(path).read_bytes()).hexdigest()}"


def serve(server: LoopbackServer, ds) -> dict[str, str]:
    """The fixture archives at their real URL paths (AAM also at its real download URL)."""
    urls = serve_datasets(server, ds)
    urls["aam"] = server.add(f"/records/{AAM_RECORD_ID}/files/{AAM_KEY}", ds.aam_zip)
    urls["api"] = server.url("/api/records/{record_id}")
    return urls


def fma_refs(urls, ds):
    small = acquire.archive_ref(
        {"url": urls["fma_small.zip"], "checksum": digest(ds.fma_small_zip, "sha1")},
        "sources.fma.archives[0]",
    )
    meta = acquire.archive_ref(
        {"url": urls["fma_metadata.zip"], "checksum": digest(ds.fma_metadata_zip, "sha1")},
        "sources.fma.metadata",
    )
    return small, meta


def options(tmp_path, **kw) -> acquire.FetchOptions:
    return acquire.FetchOptions(**{**FAST.__dict__, "download_dir": tmp_path / "archives", **kw})


# --------------------------------------------------------------------------- 1. library


def test_selective_fetch_moves_only_the_selected_clips(http_server, datasets, tmp_path):
    urls = serve(http_server, datasets)
    small, meta = fma_refs(urls, datasets)
    opts = options(tmp_path)
    tracks = tmp_path / "tracks.csv"
    fma.fetch_fma_metadata(meta, tracks, opts)
    assert "track_id" in tracks.read_text().splitlines()[2]

    chosen = fma.fma_selection(tracks, subset="small", take=3, seed=5)
    stats = fma.fetch_fma_audio([small], tracks, tmp_path / "audio", take=3, seed=5, options=opts)
    wanted = sorted(fma_member(t) for t in chosen.track_id)
    assert stats[0].mode == "ranges" and sorted(stats[0].written) == wanted
    got = sorted(
        p.relative_to(tmp_path / "audio").as_posix() for p in (tmp_path / "audio").rglob("*.mp3")
    )
    assert got == wanted
    for m in wanted:
        assert (tmp_path / "audio" / m).read_bytes() == datasets.fma_audio[m]
    served = http_server.bytes_served("/fma/fma_small.zip")
    size = datasets.fma_small_zip.stat().st_size
    # 3 of 19 clips: their bytes, the archive's 128 KiB tail and the gaps read over
    assert served == stats[0].bytes_fetched < size / 2
    # the candidate table lists exactly those clips, by FMA track id
    table = KINDS["fma"].candidates(
        "fma", {"kind": "fma", "label": "human"}, {"audio": str(tmp_path / "audio")}
    )
    assert sorted(table.track) == sorted(chosen.track_id) and set(table.label) == {"human"}
    assert not (tmp_path / "archives").exists()  # nothing downloaded whole


def test_server_without_ranges_gets_the_whole_archive(datasets, tmp_path):
    with LoopbackServer(ranges=False) as server:
        urls = serve(server, datasets)
        small, meta = fma_refs(urls, datasets)
        opts = options(tmp_path)
        fma.fetch_fma_metadata(meta, tmp_path / "tracks.csv", opts)
        stats = fma.fetch_fma_audio(
            [small], tmp_path / "tracks.csv", tmp_path / "a", take=4, seed=0, options=opts
        )
        assert stats[0].mode == "full" and len(stats[0].written) == 4
        whole = tmp_path / "archives" / "fma_small.zip"
        assert digest(whole, "sha1") == small.checksum
        full = [r for r in server.requests_for("/fma/fma_small.zip") if r.range is None]
        assert [r.body_bytes for r in full] == [whole.stat().st_size]
        # the next selection reads the kept archive: no request at all
        server.reset_counts()
        again = fma.fetch_fma_audio(
            [small], tmp_path / "tracks.csv", tmp_path / "b", take=6, seed=1, options=opts
        )
        assert again[0].mode == "local" and server.requests_for("/fma/fma_small.zip") == []


def test_checksum_mismatch_names_url_expected_and_actual(http_server, datasets, tmp_path):
    urls = serve(http_server, datasets)
    small, meta = fma_refs(urls, datasets)
    wrong = acquire.archive_ref({"url": small.url, "checksum": "sha1:" + "0" * 40}, small.where)
    opts = options(tmp_path, selective=False)
    fma.fetch_fma_metadata(meta, tmp_path / "tracks.csv", opts)
    with pytest.raises(ChecksumError) as err:
        fma.fetch_fma_audio(
            [wrong], tmp_path / "tracks.csv", tmp_path / "a", take=2, seed=0, options=opts
        )
    text = str(err.value)
    assert small.url in text and "sha1:" + "0" * 40 in text and small.checksum in text
    assert list((tmp_path / "archives").glob("fma_small.zip*")) in (
        [],
        [tmp_path / "archives/fma_small.zip.lock"],
    )
    # a user's local copy that fails its checksum is reported, naming the config key
    with pytest.raises(ChecksumError) as err:
        acquire.open_archive(
            acquire.archive_ref(
                {"path": str(datasets.fma_small_zip), "checksum": "sha1:" + "0" * 40},
                "sources.fma.archives[0]",
            ),
            opts,
        )
    assert "sources.fma.archives[0].path" in "".join(err.value.__notes__)
    assert datasets.fma_small_zip.exists()


def test_local_path_needs_no_network(http_server, datasets, tmp_path):
    urls = serve(http_server, datasets)
    _, meta = fma_refs(urls, datasets)
    local = acquire.archive_ref(
        {
            "url": urls["fma_small.zip"],
            "path": str(datasets.fma_small_zip),
            "checksum": digest(datasets.fma_small_zip, "sha1"),
        },
        "sources.fma.archives[0]",
    )
    only_path = acquire.archive_ref({"path": str(datasets.fma_metadata_zip)}, "x.metadata")
    opts = options(tmp_path)
    fma.fetch_fma_metadata(only_path, tmp_path / "tracks.csv", opts)
    stats = fma.fetch_fma_audio(
        [local], tmp_path / "tracks.csv", tmp_path / "a", take=5, seed=0, options=opts
    )
    assert stats[0].mode == "local" and len(stats[0].written) == 5
    assert http_server.requests_for() == []
    missing = acquire.archive_ref({"path": str(tmp_path / "nope.zip")}, "sources.fma.metadata")
    with pytest.raises(FileNotFoundError, match=r"sources\.fma\.metadata\.path"):
        acquire.open_archive(missing, opts)


def test_aam_takes_the_manifest_rank_order_and_zenodo_checksums(
    http_server, datasets, tmp_path, caplog
):
    urls = serve(http_server, datasets)
    right = digest(datasets.aam_zip, "md5")
    ref = acquire.archive_ref({"url": urls["aam"], "checksum": "md5:" + "1" * 32}, "a")
    zenodo = ZenodoChecksums(AAM_RECORD_ID, urls["api"], retries=0, timeout_s=5)
    # selective: two of the three songs, the first two in the manifest's rank order
    aam.fetch_aam_audio(
        [ref],
        tmp_path / "sel",
        source="aam",
        take=2,
        seed=3,
        options=options(tmp_path),
        zenodo=zenodo,
    )
    ranked = sorted(["0001", "0002", "0003"], key=lambda t: (track_key(3, "aam", t), t))
    assert sorted(p.name for p in (tmp_path / "sel").iterdir()) == sorted(
        f"{t}_mix.flac" for t in ranked[:2]
    )
    assert http_server.requests_for(f"/api/records/{AAM_RECORD_ID}") == []  # not needed
    # whole archive: Zenodo's md5 wins over the (here wrong) configured one
    stats = aam.fetch_aam_audio(
        [ref],
        tmp_path / "all",
        source="aam",
        take=None,
        seed=0,
        options=options(tmp_path, selective=False),
        zenodo=zenodo,
    )
    assert stats[0].mode == "full" and len(stats[0].written) == 3
    assert "using Zenodo's" in caplog.text
    assert digest(tmp_path / "archives" / AAM_KEY, "md5") == right
    # Zenodo unreachable: the configured md5 is the fallback
    down = ZenodoChecksums(AAM_RECORD_ID, "http://127.0.0.1:9/{record_id}", retries=0)
    ok = acquire.archive_ref({"url": urls["aam"], "checksum": right}, "a")
    assert down.for_download(ok) == right and "cannot read Zenodo record" in caplog.text


def test_fetch_audio_stages_and_renames(http_server, datasets, tmp_path):
    urls = serve(http_server, datasets)
    dest = tmp_path / "aam" / "audio-all"
    kind = KINDS["aam"]
    spec = {"kind": "aam", "label": "ai", "archives": [{"url": urls["aam"]}], "spares": None}
    plan = kind.plan("aam", spec, 0)
    kind.fetch_audio(plan, dest, source="aam", download_dir=tmp_path / "archives", progress=False)
    assert sorted(p.name for p in dest.iterdir()) == [f"{i:04d}_mix.flac" for i in (1, 2, 3)]
    assert not (tmp_path / "aam" / ".audio-all.partial").exists()
    table = kind.candidates("aam", {"kind": "aam", "label": "ai"}, {"audio": str(dest)})
    assert list(table.track) == ["0001", "0002", "0003"] and (table.duration_s > 30).all()
    # a run that stopped part-way left its staging folder: only what is missing is fetched
    os.replace(dest, tmp_path / "aam" / ".audio-all.partial")
    (tmp_path / "aam" / ".audio-all.partial" / "0002_mix.flac").unlink()
    stats = kind.fetch_audio(
        plan, dest, source="aam", download_dir=tmp_path / "archives", progress=False
    )
    assert stats[0].written == ["0002_mix.flac"] and len(stats[0].skipped) == 2
    assert (dest / "0002_mix.flac").read_bytes() == datasets.aam_audio["0002_mix.flac"]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"sources\.aam\.archives\[1\]"):
        acquire.archive_ref({"checksum": "md5:00"}, "sources.aam.archives[1]")
    with pytest.raises(ValueError, match=r"sources\.fma\.archives\[0\]\.checksum"):
        acquire.archive_ref(
            {"url": "https://x/a.zip", "checksum": "crc:1"}, "sources.fma.archives[0]"
        )
    spec = {
        "kind": "fma",
        "label": "human",
        "archives": [{"path": str(tmp_path / "no.zip")}],
        "metadata": {"url": "https://x/m.zip"},
    }
    kind = KINDS["fma"]
    with pytest.raises(ValueError, match=r"sources\.fma\.archives\[0\]\.path"):
        kind.check("fma", spec)
    plan = kind.plan("fma", {**spec, "n": 30, "spares": 2}, 7)
    assert kind.selection_key(plan) == "small-seed7-n32"
    with pytest.raises(ValueError, match="audio-small-seed7-n32"):
        kind.folder_plan("fma", {**spec, "n": 30, "spares": 2}, 7, "small-seed1-n32")


def with_wrong_checksum(ds, path: Path, member: str) -> Path:
    """A copy of the fixture's fma_small.zip whose ``checksums`` list disagrees about one
    clip (the clip's bytes and CRC-32 are the archive's own)."""
    rel = member.split("/", 1)[1]
    with zipfile.ZipFile(ds.fma_small_zip) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "fma_small/checksums":
                lines = [
                    f"{'0' * 40}  {rel}" if line.endswith(f"  {rel}") else line
                    for line in data.decode().splitlines()
                ]
                data = ("\n".join(lines) + "\n").encode()
            dst.writestr(info, data, compress_type=info.compress_type)
    return path


def test_clip_that_disagrees_with_the_checksum_list_is_refetched_then_left_out(
    http_server, datasets, tmp_path
):
    urls = serve(http_server, datasets)
    bad = datasets.good_fma[0].member
    tampered = with_wrong_checksum(datasets, tmp_path / "fma_small.zip", bad)
    url = http_server.add("/fma/tampered/fma_small.zip", tampered)
    _, meta = fma_refs(urls, datasets)
    fma.fetch_fma_metadata(meta, tmp_path / "tracks.csv", options(tmp_path))
    kind = KINDS["fma"]
    spec = {"kind": "fma", "label": "human", "archives": [{"url": url}], "spares": None}
    dest = tmp_path / "audio"
    stats = kind.fetch_audio(
        kind.plan("fma", spec, 0),
        dest,
        source="fma",
        inputs={"tracks": str(tmp_path / "tracks.csv")},
        download_dir=tmp_path / "archives",
        progress=False,
    )
    assert not (dest / bad).exists() and bad not in stats[0].written
    actual = "sha1:" + hashlib.sha1(datasets.fma_audio[bad]).hexdigest()
    reason = stats[0].rejected[bad]
    assert "sha1:" + "0" * 40 in reason and actual in reason and url in reason
    # fetched twice: the second time on its own, from its own first byte
    start = read_index(tampered)[bad].span[0]
    assert http_server.requests_for("/fma/tampered/fma_small.zip")[-1].range.startswith(
        f"bytes={start}-"
    )
    assert (dest / "rejected.tsv").read_text().splitlines()[1].startswith(f"{bad}\t")
    # the candidates list it with the reason, the manifest excludes it with that reason
    table = kind.candidates("fma", spec, {"audio": str(dest)})
    tid = bad.split("/")[-1][:6]
    row = table.set_index("track").loc[tid]
    assert row.rejected == reason and not Path(row.path).exists()
    assert table.rejected.notna().sum() == 1
    manifest, excluded = build_manifest(
        [({"name": "fma", "n": None}, table)], seed=0, clip_s=30.0, split=SPLIT, balance=False
    )
    assert tid not in set(manifest.track)
    assert excluded.set_index("track").loc[tid, "reason"] == reason


# --------------------------------------------------------------------------- 2. the CLI

N = 6  # tracks per class


@pytest.fixture(scope="module")
def tiny(pytestconfig, tmp_path_factory):
    """FMA with one good clip per genre + the three known bad ones; 8 AAM songs."""
    cache = getattr(pytestconfig, "cache", None)
    if cache is None:
        return build_datasets(tmp_path_factory.mktemp("tiny"), 1, range(1, 9))
    return cached_datasets(cache.mkdir("synthdetect-datasets"), 1, tuple(range(1, 9)))


def cli_config(urls, ds) -> dict:
    return {
        **TINY,
        "results": "results",
        "resources": "resources",
        "models": {**TINY["models"], "enabled": ["rf_color"]},  # one model: seconds
        "sources": {
            "fma": {
                "kind": "fma",
                "label": "human",
                "n": N,
                "crop": "start",
                "spares": 8,  # 14 >= 11: every small clip, the bad ones too
                "archives": [
                    {"url": urls["fma_small.zip"], "checksum": digest(ds.fma_small_zip, "sha1")}
                ],
                "metadata": {
                    "url": urls["fma_metadata.zip"],
                    "checksum": digest(ds.fma_metadata_zip, "sha1"),
                },
            },
            "aam": {
                "kind": "aam",
                "label": "ai",
                "n": N,
                "crop": "random",
                "spares": 1,  # 7 of the 8 songs
                "zenodo_record": AAM_RECORD_ID,
                "zenodo_api": urls["api"],
                "archives": [{"url": urls["aam"], "checksum": digest(ds.aam_zip, "md5")}],
            },
        },
    }


@pytest.mark.workflow
def test_snakemake_from_download_to_table1_and_the_cache(tiny, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SNAKEMAKE_OUTPUT_CACHE", str(cache))
    with LoopbackServer() as server:
        urls = serve(server, tiny)
        work = tmp_path / "a"
        work.mkdir()
        write_config(work / "config.yaml", cli_config(urls, tiny))
        # targets first: --configfile and --cache take lists and would swallow them
        proc = snakemake(
            work, "results/report/table1.csv", "--configfile", "config.yaml", "--cache"
        )
        ran = jobs_run(proc.stdout + proc.stderr)
        assert ran["fetch_audio"] == 2 and ran["fetch_fma_metadata"] == 1

        res = work / "results"
        manifest = pd.read_parquet(res / "manifest.parquet")
        assert manifest.groupby("label").size().to_dict() == {"ai": N, "human": N}
        excluded = pd.read_parquet(res / "excluded.parquet").set_index("track")
        for track, why in BAD_FMA.items():
            assert why in excluded.loc[track, "reason"], excluded.loc[track, "reason"]
        assert set(excluded.source) == {"fma"}
        # AAM: the 7 fetched songs are the manifest's first 7 in rank order
        ranked = sorted(
            (f"{i:04d}" for i in range(1, 9)), key=lambda t: (track_key(0, "aam", t), t)
        )
        fetched = sorted(p.name[:4] for p in (work / "resources/aam").glob("audio-*/*.flac"))
        assert fetched == sorted(ranked[:7])
        assert set(manifest[manifest.source == "aam"].track) == set(ranked[:N])
        assert (
            server.bytes_served(f"/records/{AAM_RECORD_ID}/files/{AAM_KEY}")
            < tiny.aam_zip.stat().st_size
        )
        table = pd.read_csv(res / "report/table1.csv", index_col="metric")
        assert list(table.columns) == ["rf_color"]
        assert table.loc["accuracy"].between(0, 1).all()

        # nothing left to do, and the plan does not change
        again = snakemake(work, "results/report/table1.csv", "--configfile", "config.yaml", "-n")
        assert "Nothing to be done" in again.stdout + again.stderr

        # another result folder: the downloads come from the cache, not the server
        server.reset_counts()
        other = tmp_path / "b"
        other.mkdir()
        write_config(other / "config.yaml", cli_config(urls, tiny))
        proc = snakemake(
            other,
            "results/candidates/fma.parquet",
            "results/candidates/aam.parquet",
            "--configfile",
            "config.yaml",
            "--cache",
        )
        assert server.requests_for() == []  # the three downloads came from the cache
        assert (proc.stdout + proc.stderr).count("from cache") >= 3
        fma = pd.read_parquet(other / "results/candidates/fma.parquet")
        assert len(fma) == 11 and all((other / p).exists() for p in fma.path)
        assert all(p.startswith("resources/fma/audio-small-seed0-n14/") for p in fma.path)


# --------------------------------------------------------------------------- 3. offline plan

GUARD = textwrap.dedent(
    """
    import pathlib
    import socket

    pathlib.Path(__file__).with_name("loaded").touch()

    def _refuse(*args, **kwargs):
        raise RuntimeError(f"network access while planning: {args!r}")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    """
)


@pytest.mark.workflow
def test_default_config_plans_without_network(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config/config.yaml", tmp_path / "config/config.yaml")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")])
    )
    proc = snakemake(tmp_path, "-n", "--cores", "8", timeout=120)
    assert (guard / "loaded").exists()  # the guard was in place
    counts = job_counts(proc.stdout)
    assert counts["fetch_fma_metadata"] == 1 and counts["fetch_audio"] == 2
    assert counts["candidates"] == 2 and counts["manifest"] == 1
    assert "resources/fma/audio-small-seed0-n3032" in proc.stdout
    assert "resources/aam/audio-all" in proc.stdout
    assert not (tmp_path / "resources").exists()
    # and a bad archive config fails at startup, naming the key
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    config["sources"]["fma"]["archives"] = [{"path": "missing/fma_small.zip"}]
    write_config(tmp_path / "bad.yaml", config)
    bad = snakemake(tmp_path, "--configfile", "bad.yaml", "-n", check=False)
    assert bad.returncode != 0 and "sources.fma.archives[0].path" in bad.stdout + bad.stderr


def test_paper_config_keeps_the_published_checksums():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    fma, aam = config["sources"]["fma"], config["sources"]["aam"]
    assert fma["archives"][0]["checksum"] == "sha1:ade154f733639d52e35e32f5593efe5be76c6d70"
    assert fma["metadata"]["checksum"] == "sha1:f0df49ffe5f2a6008d7dc83c6915b31835dfe733"
    assert aam["zenodo_record"] == 5794629 and len(aam["archives"]) == 3
    names = [acquire.archive_ref(a, "x").name for a in aam["archives"]]
    assert names == [f"{r}-audio-mixes.zip" for r in ("0001-1000", "1001-2000", "2001-3000")]
    assert fma["n"] == aam["n"] == 3000 and fma["selective"] and aam["spares"] is None
