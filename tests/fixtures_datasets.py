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


# --------------------------------------------------------------------------- FakeMusicCaps

#: The generator folders of FakeMusicCaps.zip (v2), in the order third-party listings give.
FAKEMUSICCAPS_FOLDERS = (
    "MusicGen_medium",
    "musicldm",
    "audioldm2",
    "stable_audio_open",
    "mustango",
)
FAKEMUSICCAPS_RECORD_ID = 15063698
_YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def musiccaps_ytids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 11-character YouTube-style ids (some with ``-`` and ``_``; the first
    starts with ``-``, as real MusicCaps ids can)."""
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    while len(ids) < n:
        text = "".join(rng.choice(list(_YT_ALPHABET), 11))
        if not ids:
            text = "-" + text[1:]
        if text not in ids:
            ids.append(text)
    return ids


def wav_bytes(
    seconds: float, samplerate: int = 16000, seed: int = 0, subtype: str = "PCM_16"
) -> bytes:
    """A mono WAV clip of :func:`synth_signal`."""
    buf = io.BytesIO()
    sf.write(
        buf, synth_signal(seconds, samplerate, 1, seed), samplerate, format="WAV", subtype=subtype
    )
    return buf.getvalue()


def build_fakemusiccaps_zip(
    path: str | Path,
    ytids: Sequence[str],
    folders: Sequence[str] = FAKEMUSICCAPS_FOLDERS,
    *,
    seconds: float = 10.0,
    junk: bool = True,
    extra: dict[str, bytes] | None = None,
) -> dict[str, bytes]:
    """Write a ``FakeMusicCaps.zip`` (deflate): ``<folder>/<ytid>.wav`` clips at 16 kHz mono
    (MusicGen's as float32, the others 16-bit), directory entries and -- with ``junk`` --
    the macOS ``__MACOSX/<folder>/._<ytid>.wav`` resource forks; ``extra`` adds members as
    given (e.g. a zip-slip name). Returns ``{member: bytes}`` of the clips."""
    clips = {}
    for g, folder in enumerate(folders):
        subtype = "FLOAT" if folder == "MusicGen_medium" else "PCM_16"
        for i, ytid in enumerate(ytids):
            clips[f"{folder}/{ytid}.wav"] = wav_bytes(seconds, 16000, 1000 * g + i, subtype)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for d in _dirs(clips):
            zf.writestr(zipfile.ZipInfo(d), b"")
        for name in sorted(clips):
            zf.writestr(name, clips[name])
        if junk:
            for name in sorted(clips)[:3]:
                folder, base = name.split("/")
                zf.writestr(f"__MACOSX/{folder}/._{base}", b"\x00\x05\x16\x07" + b"\x00" * 60)
        for name, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return clips


# --------------------------------------------------------------------------- SONICS

SONICS_REPO = "awsaf49/sonics"
SONICS_CSV_COLUMNS = [
    "id",
    "filename",
    "title",
    "duration",
    "algorithm",
    "style",
    "source",
    "lyrics_features",
    "topic",
    "genre",
    "mood",
    "label",
    "target",
    "skip_time",
    "no_vocal",
    "split",
]


@dataclass(frozen=True)
class SonicsSong:
    """A fixture fake song: ``fake_<id>_<platform>_<k>.mp3``. ``in_parts=False`` songs are
    only listed in ``fake_songs.csv`` (a part the config leaves out)."""

    id: int
    platform: str
    k: int
    algorithm: str
    split: str
    seconds: float = 30.0
    in_parts: bool = True

    @property
    def filename(self) -> str:
        return f"fake_{self.id:05d}_{self.platform}_{self.k}"

    @property
    def member(self) -> str:
        return f"fake_songs/{self.filename}.mp3"


def default_sonics_songs() -> list[SonicsSong]:
    """Five algorithms, two generations per prompt, the three dataset splits; one song only
    in the CSV."""
    algos = [
        ("suno", "chirp-v2-xxl-alpha"),
        ("suno", "chirp-v3"),
        ("suno", "chirp-v3.5"),
        ("udio", "udio-30s"),
        ("udio", "udio-120s"),
    ]
    splits = ["train", "train", "valid", "test"]
    songs = []
    for i in range(10):
        platform, algo = algos[i % len(algos)]
        for k in (0, 1):
            songs.append(SonicsSong(100 + i * 7, platform, k, algo, splits[(i + k) % 4]))
    songs.append(SonicsSong(999, "suno", 0, "chirp-v3.5", "test", in_parts=False))
    return songs


def sonics_mp3(song: SonicsSong) -> bytes:
    buf = io.BytesIO()
    sig = synth_signal(song.seconds, 16000, 1, 50_000 + song.id * 2 + song.k)
    sf.write(buf, sig, 16000, format="MP3", compression_level=0.99)
    return buf.getvalue()


def write_fake_songs_csv(path: str | Path, songs: Iterable[SonicsSong]) -> Path:
    """``fake_songs.csv`` with the README's columns (``filename`` without ``.mp3``), lyrics
    features with commas, quotes and a newline, rows not in the parts' order."""
    rows = []
    for n, s in enumerate(songs):
        rows.append(
            {
                "id": n,
                "filename": s.filename,
                "title": f'Song "{s.id}", take {s.k}',
                "duration": s.seconds,
                "algorithm": s.algorithm,
                "style": "pop, upbeat",
                "source": s.platform,
                "lyrics_features": "{'topic': 'love',\n'mood': \"sad\"}",
                "topic": "love",
                "genre": "pop",
                "mood": "sad",
                "label": ("full fake", "half fake", "mostly fake")[n % 3],
                "target": 1,
                "skip_time": 0.0,
                "no_vocal": False,
                "split": s.split,
            }
        )
    frame = pd.DataFrame(rows, columns=SONICS_CSV_COLUMNS).iloc[::-1]
    frame.to_csv(path, index=False)
    return Path(path)


def build_sonics_parts(
    root: str | Path, songs: Sequence[SonicsSong], parts: int = 2, extra: dict | None = None
) -> tuple[dict[str, Path], dict[str, bytes]]:
    """Write ``fake_songs/part_NN.zip`` under ``root`` (deflate, members
    ``fake_songs/<filename>.mp3``, songs dealt round-robin so no part follows the CSV) and
    ``fake_songs.csv``; ``extra`` adds members to the first part as given. Returns
    ``({repo path: file}, {member: mp3 bytes})``."""
    root = Path(root)
    (root / "fake_songs").mkdir(parents=True, exist_ok=True)
    audio = {s.member: sonics_mp3(s) for s in songs if s.in_parts}
    members = sorted(audio)
    files = {}
    for p in range(parts):
        name = f"fake_songs/part_{p + 1:02d}.zip"
        with zipfile.ZipFile(root / name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("fake_songs/"), b"")
            for m in members[p::parts]:
                zf.writestr(m, audio[m])
            if p == 0:
                zf.writestr("fake_songs/fake_77777_suno_0.mp3", audio[members[0]])  # not in CSV
                for m, data in (extra or {}).items():
                    zf.writestr(zipfile.ZipInfo(m), data)
        files[name] = root / name
    files["fake_songs.csv"] = write_fake_songs_csv(root / "fake_songs.csv", songs)
    return files, audio


def hf_tree(files: dict[str, Path]) -> list[dict]:
    """The Hub tree API's answer for ``files`` (``{path in the repo: file}``): every file is
    LFS-backed with its sha256 as ``lfs.oid``, plus a small git file without ``lfs``."""
    entries = [{"type": "directory", "path": "fake_songs", "oid": "0" * 40, "size": 0}]
    for path, f in sorted(files.items()):
        data = Path(f).read_bytes()
        entries.append(
            {
                "type": "file",
                "path": path,
                "size": len(data),
                "oid": hashlib.sha1(data).hexdigest(),
                "lfs": {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                },
            }
        )
    entries.append({"type": "file", "path": "README.md", "size": 12, "oid": "1" * 40})
    return entries


def serve_sonics(server, files: dict[str, Path], *, pages: int = 1) -> dict[str, str]:
    """Serve the SONICS files at the Hub's paths: ``/datasets/<repo>/resolve/main/<path>``
    answers with a redirect to a CDN path (as the Hub does), and the tree API at
    ``/api/datasets/<repo>/tree/main`` in ``pages`` pages linked by ``Link: rel="next"``.
    Returns ``{repo path: resolve URL}`` plus ``"api"`` and ``{repo path}@cdn`` URLs."""
    urls = {}
    for path, f in files.items():
        cdn = f"/cdn/{hashlib.sha1(path.encode()).hexdigest()[:12]}"
        server.add(cdn, f)
        resolve = f"/datasets/{SONICS_REPO}/resolve/main/{path}"
        server.add(resolve, f)
        server.fault(resolve, status=302, headers={"Location": server.url(cdn)}, times=None)
        urls[path] = server.url(resolve)
        urls[f"{path}@cdn"] = server.url(cdn)
    entries = hf_tree(files)
    api = f"/api/datasets/{SONICS_REPO}/tree/main"
    size = -(-len(entries) // pages)
    for i in range(pages):
        here = api if i == 0 else f"{api}/page{i}"
        nxt = {"Link": f'<{server.url(f"{api}/page{i + 1}")}>; rel="next"'} if i < pages - 1 else {}
        server.add(here, json.dumps(entries[i * size : (i + 1) * size]).encode(), headers=nxt)
    urls["api"] = server.url(api)
    return urls
