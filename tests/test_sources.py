"""The dataset modules: FMA metadata and selection (data.fma), AAM names (data.aam),
member matching (data.archives), Zenodo records (data.zenodo)."""

from __future__ import annotations

import json
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures_datasets import FMA_GENRES, FmaTrack, default_fma_tracks, write_tracks_csv
from fixtures_datasets import datasets_fixture as datasets_fixture  # noqa: F401
from http_server import http_server_fixture as http_server_fixture  # noqa: F401
from workflow_helpers import REPO

from synthdetect.data.aam import aam_mix_member, aam_mixes_archive, aam_range
from synthdetect.data.archives import archive_ref, match_members
from synthdetect.data.fma import (
    fma_member,
    fma_track_id,
    parse_sha1sums,
    read_fma_tracks,
    select_fma,
)
from synthdetect.data.http import DownloadError
from synthdetect.data.zenodo import (
    fetch_zenodo_checksums,
    fetch_zenodo_record,
    resolve_checksums,
    zenodo_checksums,
    zenodo_files,
)

# The archives' URLs and checksums live in the config only; tests read them from there.
PAPER = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
AAM_MIX_ARCHIVES = [archive_ref(a, "aam") for a in PAPER["aam"]["archives"]]
AAM_PUBLISHED_MD5 = {a.name: a.checksum for a in AAM_MIX_ARCHIVES}
FMA_SMALL = archive_ref(PAPER["fma"]["archives"][0], "fma")


def big_tracks(counts: dict[str, int], subset: str = "small", start: int = 2) -> pd.DataFrame:
    ids = np.arange(start, start + sum(counts.values()))
    genres = [g for g, c in counts.items() for _ in range(c)]
    genres = list(np.random.default_rng(99).permutation(genres))  # interleave genres by id
    return pd.DataFrame(
        {"track_id": [f"{i:06d}" for i in ids], "subset": subset, "genre_top": genres}
    )


# --------------------------------------------------------------------------- FMA metadata


def test_read_fma_tracks_from_the_metadata_zip(datasets, tmp_path):
    with zipfile.ZipFile(datasets.fma_metadata_zip) as zf:
        zf.extract("fma_metadata/tracks.csv", tmp_path)
    raw = (tmp_path / "fma_metadata/tracks.csv").read_text().splitlines()
    assert raw[0].startswith(",album,album") and raw[2].startswith("track_id,")
    tracks = read_fma_tracks(tmp_path / "fma_metadata/tracks.csv")
    assert list(tracks.columns) == ["track_id", "subset", "genre_top"]
    assert len(tracks) == len(datasets.fma_tracks)
    assert tracks["track_id"].tolist() == sorted(t.tid for t in datasets.fma_tracks)
    row = tracks.set_index("track_id").loc["099134"]
    assert row["subset"] == "small" and row["genre_top"] == "Hip-Hop"
    assert pd.isna(tracks.set_index("track_id").loc["000141", "genre_top"])
    # the real pandas recipe reads the same file the same way
    real = pd.read_csv(tmp_path / "fma_metadata/tracks.csv", header=[0, 1], index_col=0)
    assert real[("set", "subset")].tolist() == tracks["subset"].tolist()


def test_read_fma_tracks_rejects_other_csv(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an FMA tracks.csv"):
        read_fma_tracks(p)


def test_read_fma_tracks_without_the_index_name_row(tmp_path):
    tracks = [FmaTrack(5, "Rock"), FmaTrack(2, "Pop")]
    p = write_tracks_csv(tmp_path / "t.csv", tracks)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # drop "track_id,,,,"
    assert read_fma_tracks(p)["track_id"].tolist() == ["000002", "000005"]


# --------------------------------------------------------------------------- selection


def test_select_fma_is_balanced_and_deterministic():
    counts = dict(zip(FMA_GENRES, [40, 55, 61, 70, 45, 52, 66, 75], strict=True))
    tracks = big_tracks(counts)
    a = select_fma(tracks, n=100, seed=0)
    b = select_fma(tracks.sample(frac=1, random_state=1), n=100, seed=0)  # row order moot
    pd.testing.assert_frame_equal(a, b)
    per_genre = a["genre_top"].value_counts()
    assert len(a) == 100 and per_genre.min() == 12 and per_genre.max() == 13
    assert sorted(per_genre[per_genre == 13].index) == list(FMA_GENRES[:4])
    assert a["track_id"].is_monotonic_increasing and a["track_id"].is_unique
    c = select_fma(tracks, n=100, seed=1)
    assert set(c["track_id"]) != set(a["track_id"])


def test_select_fma_does_not_touch_global_rng():
    tracks = big_tracks(dict.fromkeys(FMA_GENRES, 10))
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    select_fma(tracks, n=16, seed=5)
    assert np.random.random() == expected


def test_small_genre_shortfall_goes_to_the_others():
    tracks = big_tracks({"Folk": 3, "Pop": 30, "Rock": 30, "Hip-Hop": 30})
    counts = select_fma(tracks, n=40)["genre_top"].value_counts().to_dict()
    assert counts["Folk"] == 3 and sum(counts.values()) == 40
    assert max(counts.values()) - min(v for g, v in counts.items() if g != "Folk") <= 1


def test_subsets_nest_and_missing_genres_are_dropped():
    small = big_tracks(dict.fromkeys(FMA_GENRES, 5))
    medium = big_tracks(dict.fromkeys(FMA_GENRES, 5), subset="medium", start=1000)
    large = big_tracks({"Rock": 5}, subset="large", start=5000)
    tracks = pd.concat([small, medium, large], ignore_index=True)
    tracks.loc[0, "genre_top"] = np.nan
    assert set(select_fma(tracks, "small", n=39)["subset"]) == {"small"}
    got = select_fma(tracks, "medium", n=79)
    assert set(got["subset"]) == {"small", "medium"} and tracks.loc[0, "track_id"] not in set(
        got["track_id"]
    )
    with pytest.raises(ValueError, match="fewer than n=41"):
        select_fma(tracks, "small", n=41)
    with pytest.raises(ValueError, match="unknown FMA subset"):
        select_fma(tracks, "tiny", n=1)


def test_excluding_bad_tracks_only_brings_in_replacements():
    tracks = big_tracks(dict.fromkeys(FMA_GENRES, 20))
    a = select_fma(tracks, n=40, seed=7)
    bad = a["track_id"].iloc[[0, 5]].tolist()
    b = select_fma(tracks, n=40, seed=7, exclude=[int(bad[0]), bad[1]])
    assert len(b) == 40 and not set(bad) & set(b["track_id"])
    assert len(set(a["track_id"]) ^ set(b["track_id"])) == 4
    assert (b["genre_top"].value_counts() == 5).all()


def test_fixture_selection_covers_every_genre(datasets, tmp_path):
    p = write_tracks_csv(tmp_path / "tracks.csv", datasets.fma_tracks)
    chosen = select_fma(read_fma_tracks(p), n=16, seed=0)
    assert (chosen["genre_top"].value_counts() == 2).all()


# --------------------------------------------------------------------------- member names


def test_fma_member_names():
    assert fma_member(99134) == "fma_small/099/099134.mp3"
    assert fma_member("000002") == "fma_small/000/000002.mp3"
    assert fma_member("2", subset="medium") == "fma_medium/000/000002.mp3"
    assert fma_track_id("fma_small/155/155066.mp3") == "155066"
    for bad in ["abc", "-1", "1234567", ""]:
        with pytest.raises(ValueError):
            fma_track_id(bad)
    assert all(fma_member(t.track_id) == t.member for t in default_fma_tracks(1) if t.audio)


def test_aam_names_and_ranges():
    assert aam_mix_member(7) == "0007_mix.flac" and aam_mix_member("0123") == "0123_mix.flac"
    assert [aam_range(i) for i in (1, 1000, 1001, 2000, 2001, 3000)] == [
        "0001-1000",
        "0001-1000",
        "1001-2000",
        "1001-2000",
        "2001-3000",
        "2001-3000",
    ]
    assert aam_mixes_archive(2500) == "2001-3000-audio-mixes.zip"
    assert [a.name for a in AAM_MIX_ARCHIVES] == sorted(AAM_PUBLISHED_MD5)
    assert AAM_MIX_ARCHIVES[0].url.endswith(
        "/records/5794629/files/0001-1000-audio-mixes.zip?download=1"
    )
    assert FMA_SMALL.checksum == "sha1:ade154f733639d52e35e32f5593efe5be76c6d70"
    for bad in (0, 3001, "x"):
        with pytest.raises(ValueError):
            aam_mix_member(bad)


def test_match_members():
    listing = [
        "mixes/",
        "mixes/0001_mix.flac",
        "0002_mix.flac",
        "a/0003_mix.flac",
        "b/0003_mix.flac",
    ]
    got = match_members(listing, ["0001_mix.flac", "0002_mix.flac"])
    assert got == {"0001_mix.flac": "mixes/0001_mix.flac", "0002_mix.flac": "0002_mix.flac"}
    with pytest.raises(KeyError, match=r"0003_mix.flac \(2 candidates\).*0004_mix.flac"):
        match_members(listing, ["0003_mix.flac", "0004_mix.flac"])


def test_parse_sha1sums(datasets):
    with zipfile.ZipFile(datasets.fma_small_zip) as zf:
        text = zf.read("fma_small/checksums").decode()
    sums = parse_sha1sums(text, prefix="fma_small/")
    assert set(sums) == set(datasets.fma_audio)
    assert all(v.startswith("sha1:") and len(v) == 45 for v in sums.values())


# --------------------------------------------------------------------------- Zenodo

CURRENT = {
    "id": 5794629,
    "files": [
        {
            "id": "9b1c...",
            "key": "0001-1000-audio-mixes.zip",
            "size": 14_700_000_000,
            "checksum": "md5:55feacbd10405191098f1906174c374b",
            "links": {
                "self": "https://zenodo.org/api/records/5794629/files/0001-1000-audio-mixes.zip/content"
            },
        },
        {
            "key": "info.zip",
            "size": 10,
            "checksum": "md5:15B395250D43A11E899908319E750B2F",
            "links": {},
        },
    ],
}


def test_zenodo_checksums_current_shape():
    assert zenodo_checksums(CURRENT) == {
        "0001-1000-audio-mixes.zip": "md5:55feacbd10405191098f1906174c374b",
        "info.zip": "md5:15b395250d43a11e899908319e750b2f",
    }
    f = zenodo_files(CURRENT)["0001-1000-audio-mixes.zip"]
    assert f.size == 14_700_000_000 and f.url.endswith("/content")


def test_zenodo_checksums_other_shapes():
    export = {
        "files": {
            "entries": {
                "a.zip": {"checksum": "md5:" + "a" * 32, "size": 3, "links": {"content": "u"}}
            }
        }
    }
    legacy = {
        "files": [
            {"filename": "b.zip", "checksum": "b" * 32, "filesize": 4, "links": {"download": "v"}}
        ]
    }
    assert zenodo_checksums(export) == {"a.zip": "md5:" + "a" * 32}
    assert zenodo_checksums(legacy) == {"b.zip": "md5:" + "b" * 32}
    assert zenodo_files(legacy)["b.zip"].url == "v"
    assert zenodo_checksums({"files": []}) == {} and zenodo_checksums({}) == {}


def test_fetch_zenodo_checksums_from_loopback(http_server):
    http_server.add("/api/records/5794629", json.dumps(CURRENT).encode())
    api = http_server.base_url + "/api/records/{record_id}"
    assert fetch_zenodo_checksums(5794629, api_url=api) == zenodo_checksums(CURRENT)
    assert fetch_zenodo_record(5794629, api_url=api)["id"] == 5794629
    with pytest.raises(DownloadError, match="404"):
        fetch_zenodo_record(1, api_url=api)


def test_resolve_checksums_prefers_the_record(caplog):
    live = {"0001-1000-audio-mixes.zip": "md5:" + "0" * 32}
    with caplog.at_level(logging.WARNING, logger="synthdetect.data.zenodo"):
        got = resolve_checksums(AAM_PUBLISHED_MD5, published=AAM_PUBLISHED_MD5, live=live)
    assert got["0001-1000-audio-mixes.zip"] == "md5:" + "0" * 32
    assert got["1001-2000-audio-mixes.zip"] == AAM_PUBLISHED_MD5["1001-2000-audio-mixes.zip"]
    assert "using Zenodo's" in caplog.text
    assert resolve_checksums(["nope.zip"]) == {"nope.zip": None}
