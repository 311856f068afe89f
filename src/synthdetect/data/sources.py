"""What the datasets look like: URLs, checksums, archive member names, metadata parsing.

Pure functions except :func:`fetch_zenodo_record` / :func:`fetch_zenodo_checksums`, which
read Zenodo's record API at run time.

FMA (Defferrard et al. 2017, https://github.com/mdeff/fma): ``fma_small.zip`` holds 8,000
30 s MP3 clips as ``fma_small/<first 3 digits>/<6-digit id>.mp3`` plus ``fma_small/README.txt``
and ``fma_small/checksums`` (``sha1sum`` lines relative to ``fma_small/``);
``fma_metadata.zip`` holds ``fma_metadata/tracks.csv`` with a two-row column header
(``('set', 'subset')``, ``('track', 'genre_top')``, ...) and a third row naming the index
(``track_id``). Both zips use bzip2.

AAM (Ostermann et al. 2023, Zenodo record 5794629): 3,000 songs in three ranges; each range
has ``<range>-audio-mixes.zip`` with ``<4-digit id>_mix.flac`` per song (120-180 s).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from synthdetect.data.http import open_url, parse_checksum, with_retries

__all__ = [
    "AAM_MIX_ARCHIVES",
    "AAM_PUBLISHED_MD5",
    "AAM_RECORD_ID",
    "FMA_GENRES",
    "FMA_METADATA",
    "FMA_SMALL",
    "ArchiveSpec",
    "ZenodoFile",
    "aam_mix_member",
    "aam_mixes_archive",
    "aam_range",
    "fetch_zenodo_checksums",
    "fetch_zenodo_record",
    "fma_member",
    "fma_track_id",
    "match_members",
    "parse_sha1sums",
    "read_fma_tracks",
    "resolve_checksums",
    "select_fma",
    "zenodo_checksums",
    "zenodo_files",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveSpec:
    """A downloadable archive: where it is, its name and its published checksum."""

    name: str
    url: str
    checksum: str | None
    size_hint: str = ""


FMA_BASE_URL = "https://os.unil.cloud.switch.ch/fma"
FMA_SMALL = ArchiveSpec(
    "fma_small.zip",
    f"{FMA_BASE_URL}/fma_small.zip",
    "sha1:ade154f733639d52e35e32f5593efe5be76c6d70",
    "7.2 GiB",
)
FMA_METADATA = ArchiveSpec(
    "fma_metadata.zip",
    f"{FMA_BASE_URL}/fma_metadata.zip",
    "sha1:f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "342 MiB",
)
FMA_TRACKS_MEMBER = "fma_metadata/tracks.csv"
FMA_SUBSETS = ("small", "medium", "large")  # each contains the previous ones
FMA_GENRES = (
    "Electronic",
    "Experimental",
    "Folk",
    "Hip-Hop",
    "Instrumental",
    "International",
    "Pop",
    "Rock",
)

AAM_RECORD_ID = 5794629
ZENODO_API = "https://zenodo.org/api/records/{record_id}"
ZENODO_FILE_URL = "https://zenodo.org/records/{record_id}/files/{key}?download=1"
AAM_RANGES = ("0001-1000", "1001-2000", "2001-3000")
# md5s as published by third parties; fetch_zenodo_checksums() gets Zenodo's own at run time
AAM_PUBLISHED_MD5 = {
    "0001-1000-audio-mixes.zip": "md5:55feacbd10405191098f1906174c374b",
    "1001-2000-audio-mixes.zip": "md5:35958837ad306a5cf064c775670d7efe",
    "2001-3000-audio-mixes.zip": "md5:cf716165098919cfa1b144705204ebfc",
}
AAM_MIX_ARCHIVES = tuple(
    ArchiveSpec(
        f"{r}-audio-mixes.zip",
        ZENODO_FILE_URL.format(record_id=AAM_RECORD_ID, key=f"{r}-audio-mixes.zip"),
        AAM_PUBLISHED_MD5[f"{r}-audio-mixes.zip"],
        "~14.7 GB",
    )
    for r in AAM_RANGES
)


# --------------------------------------------------------------------------- FMA


def fma_track_id(track_id: int | str) -> str:
    """Normalise a track id to FMA's 6-digit zero-padded string (``2`` -> ``'000002'``)."""
    text = str(track_id).strip()
    if text.endswith(".mp3"):
        text = PurePosixPath(text).stem
    if not text.isdigit() or len(text.lstrip("0")) > 6:
        raise ValueError(f"not an FMA track id: {track_id!r}")
    return f"{int(text):06d}"


def fma_member(track_id: int | str, subset: str = "small") -> str:
    """Archive member of a track: ``fma_member(99134) == 'fma_small/099/099134.mp3'``."""
    tid = fma_track_id(track_id)
    return f"fma_{subset}/{tid[:3]}/{tid}.mp3"


def read_fma_tracks(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read FMA's ``tracks.csv`` (two-row header) into ``track_id, subset, genre_top``.

    ``track_id`` is the 6-digit string, ``subset`` the smallest FMA subset holding the
    track (``small``/``medium``/``large``), ``genre_top`` may be missing (NaN) outside
    ``small``/``medium``. Only the three needed columns are parsed (the real file has
    52 columns and ~106k rows). Rows are sorted by ``track_id``.
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        top, sub = next(reader, []), next(reader, [])
        third = next(reader, [])
    cols = list(zip(top, sub, strict=False))
    wanted = [("set", "subset"), ("track", "genre_top")]
    missing = [c for c in wanted if c not in cols]
    if missing:
        raise ValueError(f"{csv_path}: not an FMA tracks.csv (no column {missing[0]})")
    # the real file has a third header row naming the index ("track_id,,,...")
    skip = 3 if third and not third[0].strip().isdigit() and not any(third[1:]) else 2
    raw = pd.read_csv(
        csv_path,
        header=None,
        skiprows=skip,
        usecols=[0] + [cols.index(c) for c in wanted],
        names=["track_id", "subset", "genre_top"],
        dtype="string",
        keep_default_na=False,
        na_values=[""],
    )
    out = pd.DataFrame(
        {
            "track_id": [fma_track_id(i) for i in raw["track_id"]],
            "subset": raw["subset"].astype(object).where(raw["subset"].notna(), np.nan),
            "genre_top": raw["genre_top"].astype(object).where(raw["genre_top"].notna(), np.nan),
        }
    )
    return out.sort_values("track_id", kind="stable").reset_index(drop=True)


def _in_subset(subsets: pd.Series, subset: str) -> pd.Series:
    if subset not in FMA_SUBSETS:
        raise ValueError(f"unknown FMA subset {subset!r}; expected one of {FMA_SUBSETS}")
    allowed = FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1]
    return subsets.isin(allowed)


def _quotas(available: Mapping[str, int], n: int) -> dict[str, int]:
    """Split ``n`` as evenly as possible over groups, capped by what each group has."""
    quota = dict.fromkeys(available, 0)
    left = n
    open_groups = sorted(g for g, a in available.items() if a > 0)
    while left > 0 and open_groups:
        share, extra = divmod(left, len(open_groups))
        next_open = []
        for i, g in enumerate(open_groups):
            want = share + (1 if i < extra else 0)
            take = min(want, available[g] - quota[g])
            quota[g] += take
            left -= take
            if quota[g] < available[g]:
                next_open.append(g)
        open_groups = next_open
    return quota


def select_fma(
    tracks: pd.DataFrame,
    subset: str = "small",
    n: int = 3000,
    seed: int = 0,
    *,
    exclude: Iterable[int | str] = (),
) -> pd.DataFrame:
    """Pick ``n`` tracks of an FMA subset, balanced over ``genre_top``, reproducibly.

    Each track of the subset gets a random key from ``np.random.default_rng(seed)`` drawn
    in ``track_id`` order *before* ``exclude`` is applied, and each genre contributes its
    quota of lowest-key tracks. So the same inputs give the same selection, excluding a few
    bad tracks only brings in replacements (the rest is unchanged), and a smaller ``n``
    gives a subset of a larger one when quotas nest. Quotas are ``n // genres`` (the
    remainder to the alphabetically first genres); a genre with too few tracks gives its
    shortfall to the others. Raises ``ValueError`` when the subset has fewer than ``n``.
    Returns ``track_id, subset, genre_top`` sorted by ``track_id``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    pool = tracks[_in_subset(tracks["subset"], subset) & tracks["genre_top"].notna()]
    pool = pool.assign(track_id=pool["track_id"].map(fma_track_id))
    pool = pool.sort_values("track_id", kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pool = pool.assign(_key=rng.random(len(pool)))
    excluded = {fma_track_id(t) for t in exclude}
    pool = pool[~pool["track_id"].isin(excluded)]
    if len(pool) < n:
        raise ValueError(
            f"FMA subset {subset!r} has {len(pool)} usable tracks with a genre, fewer than n={n}"
        )
    counts = pool["genre_top"].value_counts().to_dict()
    quota = _quotas(counts, n)
    parts = [
        grp.nsmallest(quota[genre], "_key", keep="first")
        for genre, grp in pool.groupby("genre_top", sort=True)
        if quota.get(genre, 0) > 0
    ]
    cols = ["track_id", "subset", "genre_top"]
    if not parts:
        return pool.iloc[:0][cols].reset_index(drop=True)
    chosen = pd.concat(parts)[cols]
    return chosen.sort_values("track_id", kind="stable").reset_index(drop=True)


def parse_sha1sums(text: str, prefix: str = "") -> dict[str, str]:
    """``sha1sum`` output (like ``fma_small/checksums``) -> ``{prefix + path: 'sha1:...'}``."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([0-9a-fA-F]{40})\s+\*?(.+?)\s*$", line)
        if m:
            out[prefix + m.group(2)] = f"sha1:{m.group(1).lower()}"
    return out


# --------------------------------------------------------------------------- AAM


def _aam_id(song_id: int | str) -> int:
    text = str(song_id).strip()
    if text.endswith("_mix.flac"):
        text = text[: -len("_mix.flac")]
    value = int(text)
    if not 1 <= value <= 3000:
        raise ValueError(f"AAM song ids run from 1 to 3000, got {song_id!r}")
    return value


def aam_mix_member(song_id: int | str) -> str:
    """Member name of a song's mix: ``aam_mix_member(7) == '0007_mix.flac'``.

    Use :func:`match_members` to map these names onto the names an archive really lists
    (it also accepts members under a folder).
    """
    return f"{_aam_id(song_id):04d}_mix.flac"


def aam_range(song_id: int | str) -> str:
    """The id range a song belongs to: ``aam_range(1001) == '1001-2000'``."""
    i = _aam_id(song_id)
    lo = (i - 1) // 1000 * 1000 + 1
    return f"{lo:04d}-{lo + 999:04d}"


def aam_mixes_archive(song_id: int | str) -> str:
    """Zenodo file holding a song's mix: ``'0001-1000-audio-mixes.zip'``."""
    return f"{aam_range(song_id)}-audio-mixes.zip"


def match_members(available: Iterable[str], wanted: Iterable[str]) -> dict[str, str]:
    """Map wanted member names to an archive's names: exact match first, else the unique
    member with the same base name (archives sometimes nest files in a folder).

    Raises ``KeyError`` naming what is missing or ambiguous.
    """
    available = [a for a in available if not a.endswith("/")]
    exact = set(available)
    by_base: dict[str, list[str]] = {}
    for a in available:
        by_base.setdefault(PurePosixPath(a).name, []).append(a)
    out, problems = {}, []
    for w in wanted:
        if w in exact:
            out[w] = w
            continue
        hits = by_base.get(PurePosixPath(w).name, [])
        if len(hits) == 1:
            out[w] = hits[0]
        else:
            problems.append(f"{w} ({'missing' if not hits else f'{len(hits)} candidates'})")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise KeyError(f"archive members not found: {', '.join(problems[:5])}{more}")
    return out


# --------------------------------------------------------------------------- Zenodo


@dataclass(frozen=True)
class ZenodoFile:
    """One file of a Zenodo record."""

    key: str
    size: int | None
    checksum: str | None
    url: str | None


def _normalise_md5(checksum: str | None) -> str | None:
    if not checksum:
        return None
    text = checksum if ":" in checksum else f"md5:{checksum}"  # legacy API: bare md5 hex
    algo, digest = parse_checksum(text)
    return f"{algo}:{digest}"


def zenodo_files(record: Mapping) -> dict[str, ZenodoFile]:
    """Parse the files of a Zenodo record API answer (``GET /api/records/<id>``).

    Understands the current shape (``files: [{key, size, checksum: 'md5:..', links: {self,
    content}}]``), the InvenioRDM export shape (``files: {entries: {key: {...}}}``) and
    the legacy one (``filename``, ``filesize``, bare md5, ``links.download``).
    """
    files = record.get("files") or []
    if isinstance(files, Mapping):
        entries = files.get("entries") or {}
        files = [dict(v, key=v.get("key", k)) for k, v in entries.items()]
    out = {}
    for f in files:
        key = f.get("key") or f.get("filename")
        if not key:
            continue
        links = f.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        size = f.get("size", f.get("filesize"))
        out[key] = ZenodoFile(
            key, int(size) if size is not None else None, _normalise_md5(f.get("checksum")), url
        )
    return out


def zenodo_checksums(record: Mapping) -> dict[str, str]:
    """``{filename: 'md5:...'}`` for every file of a Zenodo record API answer."""
    return {k: f.checksum for k, f in zenodo_files(record).items() if f.checksum}


def fetch_zenodo_record(
    record_id: int | str,
    *,
    api_url: str = ZENODO_API,
    timeout_s: float = 30,
    retries: int = 3,
    backoff_s: float = 1.0,
) -> dict:
    """GET a Zenodo record's JSON. ``api_url`` may contain ``{record_id}``."""
    url = api_url.format(record_id=record_id)

    def attempt() -> dict:
        with open_url(url, headers={"Accept": "application/json"}, timeout_s=timeout_s) as r:
            return json.loads(r.read().decode("utf-8"))

    return with_retries(attempt, url=url, retries=retries, backoff_s=backoff_s)


def fetch_zenodo_checksums(
    record_id: int | str = AAM_RECORD_ID, *, api_url: str = ZENODO_API, **kwargs
) -> dict[str, str]:
    """``{filename: 'md5:...'}`` from Zenodo's record API, at run time."""
    return zenodo_checksums(fetch_zenodo_record(record_id, api_url=api_url, **kwargs))


def resolve_checksums(
    names: Iterable[str],
    *,
    published: Mapping[str, str] = AAM_PUBLISHED_MD5,
    live: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Checksum to use per file: the record API's (``live``) when it has one, else the
    published one. A disagreement is logged -- the record's own value wins."""
    out: dict[str, str | None] = {}
    for name in names:
        pub = published.get(name)
        cur = (live or {}).get(name)
        if cur and pub and cur.lower() != pub.lower():
            log.warning(
                "%s: Zenodo says %s, published list says %s; using Zenodo's", name, cur, pub
            )
        out[name] = cur or pub
    return out
