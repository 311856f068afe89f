"""Tiny archives in the real datasets' layouts, with generated audio.

- ``fma_small.zip`` (bzip2): ``fma_small/NNN/NNNNNN.mp3`` (real MP3s, ~31 s at 22.05 kHz),
  plus ``fma_small/README.txt`` and ``fma_small/checksums`` (``sha1sum`` lines), like the
  real archive. :func:`default_fma_tracks` adds three bad clips with the real ids of known
  bad FMA tracks: ``099134`` holds no audio frames at all, ``108925`` is 31 s of digital
  silence, ``098565`` lasts 1 s.
- ``fma_metadata.zip`` (bzip2): ``fma_metadata/tracks.csv`` with the real 52 columns and
  three header rows (two column levels + ``track_id``), and ``fma_metadata/genres.csv``.
- ``0001-1000-audio-mixes.zip`` (deflate): ``NNNN_mix.flac`` songs longer than 30 s.
- :func:`zenodo_record`: a Zenodo record API answer (``files[].key/size/checksum/links``).

The session-scoped fixture ``datasets`` builds all of it once (about 3 s on 2 cores);
:func:`serve_datasets` puts it on a :class:`http_server.LoopbackServer` at the real URL
paths. Builders are plain functions so other tests can make variants.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from synthdetect.data.fma import FMA_GENRES

FMA_GENRE_IDS = {
    "Electronic": 15,
    "Experimental": 38,
    "Folk": 17,
    "Hip-Hop": 21,
    "Instrumental": 1235,
    "International": 2,
    "Pop": 10,
    "Rock": 12,
}
AAM_RECORD_ID = 5794629


def _level(top: str, names: str) -> list[tuple[str, str]]:
    return [(top, n) for n in names.split()]


# tracks.csv columns in the real file's order: (level 0, level 1)
TRACKS_COLUMNS = (
    _level(
        "album",
        "comments date_created date_released engineer favorites id information listens "
        "producer tags title tracks type",
    )
    + _level(
        "artist",
        "active_year_begin active_year_end associated_labels bio comments date_created "
        "favorites id latitude location longitude members name related_projects tags website "
        "wikipedia_page",
    )
    + _level("set", "split subset")
    + _level(
        "track",
        "bit_rate comments composer date_created date_recorded duration favorites genre_top "
        "genres genres_all information interest language_code license listens lyricist number "
        "publisher tags title",
    )
)


@dataclass(frozen=True)
class FmaTrack:
    """A fixture track. ``kind``: ``tone`` (music-like), ``silent``, ``short`` (1 s) or
    ``empty`` (an MP3 file with no audio frames). ``audio=False`` rows are only listed in
    ``tracks.csv`` (e.g. medium/large-subset tracks)."""

    track_id: int
    genre: str | None
    subset: str = "small"
    kind: str = "tone"
    seconds: float = 31.0
    samplerate: int = 22050
    channels: int = 1
    audio: bool = True

    @property
    def tid(self) -> str:
        return f"{self.track_id:06d}"

    @property
    def member(self) -> str:
        return f"fma_{self.subset}/{self.tid[:3]}/{self.tid}.mp3"


def default_fma_tracks(per_genre: int = 2) -> list[FmaTrack]:
    """``per_genre`` good clips per genre (one clip stereo 44.1 kHz), three bad clips with
    the ids of real bad FMA clips, and three medium/large rows without audio."""
    tracks = []
    tid = 2
    for g, genre in enumerate(FMA_GENRES):
        for k in range(per_genre):
            stereo = g == 0 and k == 0
            tracks.append(
                FmaTrack(tid, genre, samplerate=44100 if stereo else 22050, channels=1 + stereo)
            )
            tid += 3 + g
    tracks += [
        FmaTrack(99134, "Hip-Hop", kind="empty"),
        FmaTrack(108925, "Pop", kind="silent"),
        FmaTrack(98565, "Experimental", kind="short", seconds=1.0),
        FmaTrack(140, "Folk", subset="medium", audio=False),
        FmaTrack(141, None, subset="large", audio=False),
        FmaTrack(142, "Rock", subset="large", audio=False),
    ]
    return sorted(tracks, key=lambda t: t.track_id)


# --------------------------------------------------------------------------- audio


def synth_signal(
    seconds: float,
    samplerate: int,
    channels: int,
    seed: int,
    kind: str = "tone",
    noise: float = 0.01,
) -> np.ndarray:
    """A deterministic music-like signal: a few notes with harmonics, envelope, noise."""
    n = max(1, int(round(seconds * samplerate)))
    if kind == "silent":
        return np.zeros((n, channels), dtype=np.float32)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / samplerate
    note_len = 0.25 + 0.25 * rng.integers(0, 4)
    steps = rng.integers(-7, 8, size=int(seconds / note_len) + 1)
    f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12) * 2 ** (steps / 12)
    freq = f0[np.minimum((t / note_len).astype(int), len(f0) - 1)]
    phase = 2 * np.pi * np.cumsum(freq) / samplerate
    env = 0.6 + 0.4 * np.exp(-((t % note_len) / (0.3 * note_len)))
    mono = sum(np.sin(h * phase) / h for h in (1, 2, 3)) * env * 0.25
    mono = mono + noise * rng.standard_normal(n)
    out = np.stack([mono * (1 - 0.2 * c) for c in range(channels)], axis=1)
    return np.clip(out, -1, 1).astype(np.float32)


def mp3_bytes(track: FmaTrack) -> bytes:
    """Encode a fixture track as MP3 (libsndfile/LAME, small VBR)."""
    if track.kind == "empty":
        return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 1024  # a tag, no MPEG frames
    sig = synth_signal(
        track.seconds,
        track.samplerate,
        track.channels,
        track.track_id,
        "silent" if track.kind == "silent" else "tone",
    )
    buf = io.BytesIO()
    sf.write(buf, sig, track.samplerate, format="MP3", compression_level=0.99)
    return buf.getvalue()


def flac_bytes(seconds: float, samplerate: int = 22050, channels: int = 2, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sig = synth_signal(seconds, samplerate, channels, seed, noise=0.002)
    sf.write(buf, sig, samplerate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


# --------------------------------------------------------------------------- FMA


def tracks_frame(tracks: Iterable[FmaTrack]) -> pd.DataFrame:
    """The tracks.csv table (MultiIndex columns, index ``track_id``)."""
    rows = []
    for t in tracks:
        row = dict.fromkeys(TRACKS_COLUMNS, "")
        gid = FMA_GENRE_IDS.get(t.genre or "", 0)
        row.update(
            {
                ("album", "id"): 1 + t.track_id // 10,
                ("album", "title"): f'Album "{t.track_id // 10}", vol. 1',
                ("artist", "id"): 7 + t.track_id // 20,
                ("artist", "name"): f"Artist {t.track_id % 13}",
                ("artist", "bio"): "Line one,\nline two",
                ("set", "split"): ("training", "validation", "test")[t.track_id % 3],
                ("set", "subset"): t.subset,
                ("track", "bit_rate"): 320000,
                ("track", "duration"): int(round(t.seconds)) if t.audio else 200,
                ("track", "genre_top"): t.genre or "",
                ("track", "genres"): f"[{gid}]" if gid else "[]",
                ("track", "genres_all"): f"[{gid}]" if gid else "[]",
                ("track", "license"): "Attribution-NonCommercial-ShareAlike 3.0",
                ("track", "listens"): 100 + t.track_id,
                ("track", "tags"): "[]",
                ("track", "title"): f"Track {t.tid}",
            }
        )
        rows.append(row)
    df = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(TRACKS_COLUMNS))
    df.index = pd.Index([t.track_id for t in tracks], name="track_id")
    return df


def write_tracks_csv(path: str | Path, tracks: Iterable[FmaTrack]) -> Path:
    path = Path(path)
    path.write_text(tracks_frame(list(tracks)).to_csv(), encoding="utf-8")
    return path


def _genres_csv() -> str:
    lines = ["genre_id,#tracks,parent,title,top_level"]
    lines += [f"{gid},1000,0,{name},{gid}" for name, gid in FMA_GENRE_IDS.items()]
    return "\n".join(lines) + "\n"


def _dirs(members: Iterable[str]) -> list[str]:
    out = set()
    for m in members:
        parts = m.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]) + "/")
    return sorted(out)


def build_fma_small_zip(
    path: str | Path, tracks: Sequence[FmaTrack], compression: int = zipfile.ZIP_BZIP2
) -> dict[str, bytes]:
    """Write ``fma_small.zip``; returns ``{member: mp3 bytes}``."""
    audio = {t.member: mp3_bytes(t) for t in tracks if t.audio and t.subset == "small"}
    sums = "".join(
        f"{hashlib.sha1(b).hexdigest()}  {m.split('/', 1)[1]}\n" for m, b in sorted(audio.items())
    )
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for d in _dirs(audio):
            zf.writestr(zipfile.ZipInfo(d), b"")
        for m in sorted(audio):
            zf.writestr(m, audio[m])
        zf.writestr("fma_small/README.txt", "This .zip archive is part of the FMA fixture.\n")
        zf.writestr("fma_small/checksums", sums)
    return audio


def build_fma_metadata_zip(path: str | Path, tracks: Sequence[FmaTrack]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr(zipfile.ZipInfo("fma_metadata/"), b"")
        zf.writestr("fma_metadata/README.txt", "FMA metadata fixture.\n")
        zf.writestr("fma_metadata/genres.csv", _genres_csv())
        zf.writestr("fma_metadata/tracks.csv", tracks_frame(tracks).to_csv())
    return Path(path)


# --------------------------------------------------------------------------- AAM / Zenodo


def build_aam_mixes_zip(
    path: str | Path, song_ids: Iterable[int], seconds: float = 40.0, samplerate: int = 22050
) -> dict[str, bytes]:
    """Write an AAM ``<range>-audio-mixes.zip`` with stereo ``NNNN_mix.flac`` songs."""
    songs = {
        f"{i:04d}_mix.flac": flac_bytes(seconds, samplerate, 2, seed=10_000 + i) for i in song_ids
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(songs):
            zf.writestr(name, songs[name])
    return songs


def zenodo_record(files: dict[str, Path], base_url: str, record_id: int = AAM_RECORD_ID) -> dict:
    """A Zenodo record API answer for ``files`` served under ``base_url``."""
    entries = []
    for i, (key, p) in enumerate(sorted(files.items())):
        data = Path(p).read_bytes()
        entries.append(
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "key": key,
                "size": len(data),
                "checksum": f"md5:{hashlib.md5(data).hexdigest()}",
                "links": {"self": f"{base_url}/api/records/{record_id}/files/{key}/content"},
            }
        )
    return {
        "id": record_id,
        "recid": str(record_id),
        "doi": f"10.5281/zenodo.{record_id}",
        "metadata": {"title": "AAM: Artificial Audio Multitracks Dataset (fixture)"},
        "files": entries,
        "links": {"self": f"{base_url}/api/records/{record_id}"},
    }


# --------------------------------------------------------------------------- bundle


@dataclass
class Datasets:
    root: Path
    fma_tracks: list[FmaTrack]
    fma_small_zip: Path
    fma_metadata_zip: Path
    fma_audio: dict[str, bytes]
    aam_ids: list[int]
    aam_zip: Path
    aam_audio: dict[str, bytes]
    extra: dict = field(default_factory=dict)

    @property
    def good_fma(self) -> list[FmaTrack]:
        return [t for t in self.fma_tracks if t.audio and t.kind == "tone"]


def build_datasets(
    root: str | Path, per_genre: int = 2, aam_ids: Sequence[int] = (1, 2, 3)
) -> Datasets:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tracks = default_fma_tracks(per_genre)
    small = root / "fma_small.zip"
    meta = root / "fma_metadata.zip"
    aam = root / "0001-1000-audio-mixes.zip"
    fma_audio = build_fma_small_zip(small, tracks)
    build_fma_metadata_zip(meta, tracks)
    aam_audio = build_aam_mixes_zip(aam, aam_ids)
    return Datasets(root, tracks, small, meta, fma_audio, list(aam_ids), aam, aam_audio)


def serve_datasets(server, ds: Datasets) -> dict[str, str]:
    """Serve the archives at their real URL paths; returns ``{name: url}`` (including the
    Zenodo record API URL under ``"record"``)."""
    urls = {
        "fma_small.zip": server.add("/fma/fma_small.zip", ds.fma_small_zip),
        "fma_metadata.zip": server.add("/fma/fma_metadata.zip", ds.fma_metadata_zip),
    }
    key = ds.aam_zip.name
    server.add(f"/api/records/{AAM_RECORD_ID}/files/{key}/content", ds.aam_zip)
    urls[key] = server.url(f"/api/records/{AAM_RECORD_ID}/files/{key}/content")
    record = zenodo_record({key: ds.aam_zip}, server.base_url)
    server.add(f"/api/records/{AAM_RECORD_ID}", json.dumps(record).encode())
    urls["record"] = server.url(f"/api/records/{AAM_RECORD_ID}")
    return {k: server.url(v) if v.startswith("/") else v for k, v in urls.items()}


def cached_datasets(
    cache_root: str | Path, per_genre: int = 2, aam_ids: Sequence[int] = (1, 2, 3)
) -> Datasets:
    """:func:`build_datasets` once per version of this file and arguments: the archives
    are kept under ``cache_root/<key>`` (built in a temporary directory and renamed into
    place, so parallel workers never see half-built archives)."""
    key = hashlib.sha1(
        Path(__file__).read_bytes() + repr((per_genre, tuple(aam_ids))).encode()
    ).hexdigest()[:16]
    final = Path(cache_root) / key
    if not (final / "ok").exists():
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_root))
        build_datasets(tmp, per_genre, aam_ids)
        (tmp / "ok").write_text("")
        try:
            os.rename(tmp, final)
        except OSError:  # another worker won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return _describe_built(final, per_genre, aam_ids)


def _describe_built(root: Path, per_genre: int, aam_ids: Sequence[int]) -> Datasets:
    tracks = default_fma_tracks(per_genre)
    small = root / "fma_small.zip"
    aam = root / "0001-1000-audio-mixes.zip"
    with zipfile.ZipFile(small) as zf:
        fma_audio = {n: zf.read(n) for n in zf.namelist() if n.endswith(".mp3")}
    with zipfile.ZipFile(aam) as zf:
        aam_audio = {n: zf.read(n) for n in zf.namelist()}
    return Datasets(
        root, tracks, small, root / "fma_metadata.zip", fma_audio, list(aam_ids), aam, aam_audio
    )


@pytest.fixture(scope="session", name="datasets")
def datasets_fixture(pytestconfig, tmp_path_factory) -> Datasets:
    """FMA-small, FMA-metadata and AAM-mixes archives, built once and cached in pytest's
    cache directory (``.pytest_cache/d/synthdetect-datasets``) across sessions (or in a
    temporary directory with ``-p no:cacheprovider``). Treat the files as read-only."""
    cache = getattr(pytestconfig, "cache", None)
    if cache is None:
        return build_datasets(tmp_path_factory.mktemp("datasets"))
    return cached_datasets(cache.mkdir("synthdetect-datasets"))
