"""AAM, the Artificial Audio Multitracks dataset (Ostermann et al. 2023), on Zenodo.

3,000 songs in three id ranges; each range has ``<range>-audio-mixes.zip`` with
``<4-digit id>_mix.flac`` per song (120-180 s). The record id, the archives' URLs and
their md5s are config values (``config/config.yaml``); the md5s are read again from the
record API at run time (:mod:`synthdetect.data.zenodo`).

The source kind (:class:`AamKind`) fetches every mix, or -- with ``n + spares`` smaller
than the archives hold -- the first ones in the manifest's own seeded rank order
(:func:`synthdetect.seeds.track_key`), so the spares are exactly the tracks the manifest
turns to when a mix is excluded.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence

from synthdetect.data.archives import (
    ArchiveKind,
    ArchiveRef,
    FetchOptions,
    fetch_from,
    open_archive,
)
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import FetchStats
from synthdetect.seeds import track_key

__all__ = [
    "AamKind",
    "aam_mix_member",
    "aam_mixes_archive",
    "aam_range",
    "aam_track_id",
    "fetch_aam_audio",
]

log = logging.getLogger(__name__)

AAM_SONGS = 3000
_MIX = re.compile(r"(?:^|/)(\d{4})_mix\.flac$")


def _aam_id(song_id: int | str) -> int:
    text = str(song_id).strip()
    if text.endswith("_mix.flac"):
        text = text[: -len("_mix.flac")]
    value = int(text)
    if not 1 <= value <= AAM_SONGS:
        raise ValueError(f"AAM song ids run from 1 to {AAM_SONGS}, got {song_id!r}")
    return value


def aam_mix_member(song_id: int | str) -> str:
    """Member name of a song's mix: ``aam_mix_member(7) == '0007_mix.flac'``.

    Use :func:`synthdetect.data.archives.match_members` to map these names onto the names
    an archive really lists (it also accepts members under a folder).
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


def aam_track_id(member: str) -> str | None:
    """An AAM mix's song id: ``'0007_mix.flac'`` (possibly in a folder) -> ``'0007'``;
    ``None`` for any other file."""
    m = _MIX.search(member)
    return m.group(1) if m else None


def fetch_aam_audio(
    refs: Sequence[ArchiveRef],
    dest: str | os.PathLike[str],
    *,
    source: str,
    take: int | None,
    seed: int,
    options: FetchOptions | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> list[FetchStats]:
    """Fetch AAM mix files into ``dest``: all of them, or -- when ``take`` is smaller than
    what the archives hold -- the first ``take`` in the manifest's rank order
    (``track_key(seed, source, track)``), so the manifest's spares are on disk."""
    options = options or FetchOptions()
    opened = [open_archive(ref, options, zenodo) for ref in refs]
    where: dict[str, tuple[int, str]] = {}
    for i, archive in enumerate(opened):
        for name in archive.index.names():
            tid = aam_track_id(name)
            if tid is None:
                continue
            if tid in where:
                log.warning("AAM song %s is in two archives; using %s", tid, where[tid][1])
                continue
            where[tid] = (i, name)
    if not where:
        raise KeyError(f"no AAM mix files (NNNN_mix.flac) in {', '.join(r.where for r in refs)}")
    tracks = sorted(where)
    if take is not None and take < len(tracks):
        tracks = sorted(tracks, key=lambda t: (track_key(seed, source, t), t))[:take]
    log.info("AAM: fetching %d of %d mixes", len(tracks), len(where))
    out = []
    for i, archive in enumerate(opened):
        names = [where[t][1] for t in tracks if where[t][0] == i]
        if names:
            out.append(fetch_from(archive, names, dest, options=options, zenodo=zenodo))
    return out


class AamKind(ArchiveKind):
    """``kind: aam``: AAM's mixes, from its Zenodo archives."""

    name = "aam"
    track_pattern = _MIX.pattern
    fetch_runtime = 1440  # ~44 GB when everything is fetched

    def plan(self, name, spec, seed):
        plan = super().plan(name, spec, seed)
        # a subset follows the manifest's rank order, which depends on the source's name
        plan["source"] = name if plan["take"] is not None else None
        return plan

    def fetch(self, plan, refs, dest, *, source, inputs, options, zenodo):
        return fetch_aam_audio(
            refs,
            dest,
            source=source,
            take=plan["take"],
            seed=plan["seed"] or 0,
            options=options,
            zenodo=zenodo,
        )
