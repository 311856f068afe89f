"""FMA, the Free Music Archive dataset (Defferrard et al. 2017, https://github.com/mdeff/fma).

``fma_<subset>.zip`` holds 30 s MP3 clips as ``fma_<subset>/<first 3 digits>/<6-digit
id>.mp3`` plus ``README.txt`` and ``checksums`` (``sha1sum`` lines relative to
``fma_<subset>/``); ``fma_metadata.zip`` holds ``fma_metadata/tracks.csv`` with a two-row
column header (``('set', 'subset')``, ``('track', 'genre_top')``, ...) and a third row
naming the index (``track_id``). Both zips use bzip2. The URLs and the archives' sha1s are
config values (``config/config.yaml``), not constants here.

The source kind (:class:`FmaKind`) fetches ``tracks.csv`` first (its own rule), then the
seeded, genre-stratified selection of clips (:func:`select_fma`) plus spares; each clip is
checked against the archive's ``checksums`` list, and one that still disagrees after a
second fetch is left out with that reason.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from synthdetect.data.archives import (
    ArchiveKind,
    ArchiveRef,
    FetchOptions,
    fetch_from,
    fetch_member_file,
    fetch_verified,
    match_available,
    open_archive,
)
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import FetchStats

__all__ = [
    "FMA_GENRES",
    "FMA_SUBSETS",
    "FMA_TRACKS_MEMBER",
    "FmaKind",
    "fetch_fma_audio",
    "fetch_fma_metadata",
    "fma_member",
    "fma_selection",
    "fma_track_id",
    "parse_sha1sums",
    "read_fma_tracks",
    "select_fma",
]

log = logging.getLogger(__name__)

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


def fma_selection(tracks_csv: str | os.PathLike[str], *, subset: str, take: int | None, seed: int):
    """The FMA tracks to fetch: ``take`` of ``subset`` (seeded, stratified by genre), or
    all of it when ``take`` is ``None`` or larger than the subset."""
    if subset not in FMA_SUBSETS:
        raise ValueError(f"config subset: {subset!r} is not one of {FMA_SUBSETS}")
    tracks = read_fma_tracks(tracks_csv)
    allowed = FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1]
    available = int((tracks.subset.isin(allowed) & tracks.genre_top.notna()).sum())
    n = available if take is None else min(take, available)
    return select_fma(tracks, subset, n, seed)


def fetch_fma_metadata(
    ref: ArchiveRef, dest: str | os.PathLike[str], options: FetchOptions | None = None
) -> FetchStats:
    """Fetch ``fma_metadata/tracks.csv`` out of ``fma_metadata.zip`` into the file ``dest``."""
    return fetch_member_file(ref, FMA_TRACKS_MEMBER, dest, options)


def fetch_fma_audio(
    refs: Sequence[ArchiveRef],
    tracks_csv: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    subset: str = "small",
    take: int | None,
    seed: int,
    options: FetchOptions | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> list[FetchStats]:
    """Fetch the FMA clips :func:`fma_selection` picks into ``dest``.

    Every clip's size and CRC-32 are checked while it streams in; the archive's own
    ``fma_<subset>/checksums`` (sha1 per clip) is fetched too when it has one, and a clip
    that differs from it is fetched once more, then left out with that reason
    (:func:`synthdetect.data.archives.fetch_verified`). A selected clip missing from every
    archive is logged and left out (the spares stand in); none found at all is an error
    naming the archives.
    """
    options = options or FetchOptions()
    chosen = fma_selection(tracks_csv, subset=subset, take=take, seed=seed)
    wanted = [fma_member(t, subset) for t in chosen.track_id]
    log.info(
        "FMA %s: %d clips selected (seed %d) over %d genres",
        subset,
        len(wanted),
        seed,
        chosen.genre_top.nunique(),
    )
    out, found = [], set()
    for ref in refs:
        archive = open_archive(ref, options, zenodo)
        names = archive.index.names()
        mapping = match_available([w for w in wanted if w not in found], names)
        if not mapping:
            continue
        sums_name = f"fma_{subset}/checksums"
        sums, first = {}, None
        if sums_name in archive.index:
            first = fetch_from(archive, [sums_name], dest, options=options, zenodo=zenodo)
            text = Path(dest, *PurePosixPath(sums_name).parts).read_text(encoding="utf-8")
            sums = parse_sha1sums(text, prefix=f"fma_{subset}/")
        got = fetch_verified(
            archive, mapping.values(), dest, sums=sums, options=options, zenodo=zenodo
        )
        if first is not None:
            got.add(bytes_fetched=first.bytes_fetched, requests=first.requests)
        out.append(got)
        found.update(mapping)
    missing = [w for w in wanted if w not in found]
    if len(missing) == len(wanted) and wanted:
        where = ", ".join(r.where for r in refs)
        raise KeyError(
            f"none of the {len(wanted)} selected FMA clips (e.g. {wanted[0]}) is in {where}; "
            f"does the archive hold subset {subset!r}?"
        )
    for m in missing:
        log.warning("FMA clip %s is not in the archive; left out (a spare replaces it)", m)
    return out


class FmaKind(ArchiveKind):
    """``kind: fma``: clips of an FMA subset, selected by genre from ``tracks.csv``."""

    name = "fma"
    track_pattern = r"(?:^|/)(\d{6})\.mp3$"
    fetch_runtime = 360

    def archives(self, name, spec):
        named = super().archives(name, spec)
        if spec.get("metadata"):
            named.append(("metadata", spec["metadata"]))
        return named

    def plan(self, name, spec, seed):
        plan = super().plan(name, spec, seed)
        plan["subset"] = spec.get("subset", "small")
        return plan

    def fetch_inputs(self, name, spec, paths):
        return {"tracks": f"{paths.resources}/{name}/tracks.csv"}

    def fetch(self, plan, refs, dest, *, source, inputs, options, zenodo):
        if "tracks" not in inputs:
            raise ValueError(f"source {source!r}: an FMA fetch needs its tracks.csv")
        return fetch_fma_audio(
            refs,
            inputs["tracks"],
            dest,
            subset=plan["subset"] or "small",
            take=plan["take"],
            seed=plan["seed"] or 0,
            options=options,
            zenodo=zenodo,
        )
