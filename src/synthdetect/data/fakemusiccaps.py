"""FakeMusicCaps (Comanducci, Bestagini, Tubaro 2024): the MusicCaps captions re-generated
by five open text-to-music models, on Zenodo (CC BY-NC 4.0).

The record holds one zip, ``FakeMusicCaps.zip``, with one folder per generator --
``MusicGen_medium``, ``musicldm``, ``audioldm2``, ``stable_audio_open``, ``mustango`` -- of
``<MusicCaps ytid>.wav`` clips (16 kHz mono, about 10 s). It has no human audio (MusicCaps
itself is on YouTube only) and no official splits. Sources and what could not be verified:
``docs/data.md``.

The source kind (:class:`FakeMusicCapsKind`) takes one generator per source, so each
generator is an AI source of its own (per-generator, or leave-one-generator-out
``cross_source`` settings). It fetches the generator's clips -- all, or the first
``n + spares`` in the manifest's seeded rank order, as AAM does -- with HTTP ranges when the
host offers them; the archive's md5 comes from the Zenodo record API at run time, the
configured one is the fallback.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

import pandas as pd

from synthdetect.data.archives import (
    ArchiveKind,
    ArchiveRef,
    FetchOptions,
    fetch_from,
    open_archive,
)
from synthdetect.data.candidates import write_track_info
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import FetchStats
from synthdetect.seeds import track_key

__all__ = [
    "FAKEMUSICCAPS_FILE",
    "FAKEMUSICCAPS_RECORD",
    "FAKEMUSICCAPS_V2_RECORD",
    "GENERATORS",
    "FakeMusicCapsKind",
    "default_archive",
    "fakemusiccaps_clips",
    "fetch_fakemusiccaps_audio",
    "generator_key",
]

log = logging.getLogger(__name__)

#: The record the project's README links (the 2024 release). Its file list could not be
#: checked; the kind reads it from the record API at run time.
FAKEMUSICCAPS_RECORD = 13732524
#: "Dataset v2 (2025)": one ``FakeMusicCaps.zip`` of 12,889,873,014 bytes.
FAKEMUSICCAPS_V2_RECORD = 15063698
FAKEMUSICCAPS_FILE = "FakeMusicCaps.zip"
#: md5s as published, the fallback when the record API cannot be reached (v2's, as several
#: independent scripts check it against the API; none is known for the 2024 record).
PUBLISHED_MD5 = {FAKEMUSICCAPS_V2_RECORD: "md5:db418dc95ab7dc378a55f29d6021fd66"}
ZENODO_FILE_URL = "https://zenodo.org/records/{record_id}/files/{key}?download=1"
ZENODO_API = "https://zenodo.org/api/records/{record_id}"

#: generator key -> the folder names it may have in the zip (the authors' generation script
#: for AudioLDM2 writes ``audioldm2-music``; the released zip has ``audioldm2``).
GENERATORS: dict[str, tuple[str, ...]] = {
    "musicgen_medium": ("MusicGen_medium",),
    "musicldm": ("musicldm",),
    "audioldm2": ("audioldm2", "audioldm2-music"),
    "stable_audio_open": ("stable_audio_open",),
    "mustango": ("mustango",),
}
# a YouTube id: a clip whose name is not one is not a candidate
_YTID = re.compile(r"[A-Za-z0-9_-]+")


def generator_key(name: str) -> str:
    """The generator a config names, by key or by its folder in the zip (any case):
    ``generator_key("MusicGen_medium") == "musicgen_medium"``."""
    text = str(name).strip().lower()
    for key, folders in GENERATORS.items():
        if text == key or text in (f.lower() for f in folders):
            return key
    raise ValueError(
        f"unknown FakeMusicCaps generator {name!r}; one of {', '.join(GENERATORS)} "
        f"(or its folder name: {', '.join(f[0] for f in GENERATORS.values())})"
    )


def _is_junk(parts: Sequence[str]) -> bool:
    """macOS resource forks (``__MACOSX/``, ``._name``) that zips made on a Mac carry."""
    return "__MACOSX" in parts or parts[-1].startswith("._")


def fakemusiccaps_clips(names: Iterable[str], generator: str) -> dict[str, str]:
    """``{ytid: member}`` of one generator's clips among an archive's member names: the
    ``.wav`` files directly in a folder named for the generator (at any depth, so a zip
    repacked under a root folder works too), without macOS resource forks."""
    folders = {f.lower() for f in GENERATORS[generator_key(generator)]}
    out: dict[str, str] = {}
    for name in names:
        parts = PurePosixPath(name).parts
        if name.endswith("/") or len(parts) < 2 or _is_junk(parts):
            continue
        if parts[-2].lower() not in folders or not parts[-1].lower().endswith(".wav"):
            continue
        ytid = parts[-1][: -len(".wav")]
        if not _YTID.fullmatch(ytid):
            log.warning("FakeMusicCaps member %s is not named by a YouTube id; skipped", name)
        elif ytid in out:
            log.warning("FakeMusicCaps clip %s is there twice; using %s", ytid, out[ytid])
        else:
            out[ytid] = name
    return out


def default_archive(record: int) -> dict:
    """The archive of a record, as the config would name it: Zenodo's download URL (the
    one that honours ``Range``) and the published md5 when one is known."""
    archive = {"url": ZENODO_FILE_URL.format(record_id=record, key=FAKEMUSICCAPS_FILE)}
    if record in PUBLISHED_MD5:
        archive["checksum"] = PUBLISHED_MD5[record]
    return archive


def fetch_fakemusiccaps_audio(
    refs: Sequence[ArchiveRef],
    dest: str | os.PathLike[str],
    *,
    source: str,
    generator: str,
    take: int | None,
    seed: int,
    options: FetchOptions | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> list[FetchStats]:
    """Fetch one generator's clips into ``dest``: all, or -- when ``take`` is smaller -- the
    first ``take`` in the manifest's rank order (``track_key(seed, source, ytid)``), so the
    manifest's spares are on disk. Writes the clips' generator into ``dest``'s track info.
    """
    options = options or FetchOptions()
    key = generator_key(generator)
    opened = [open_archive(ref, options, zenodo) for ref in refs]
    where: dict[str, tuple[int, str]] = {}
    for i, archive in enumerate(opened):
        for ytid, name in fakemusiccaps_clips(archive.index.names(), key).items():
            where.setdefault(ytid, (i, name))
    if not where:
        folders = sorted(
            {str(PurePosixPath(n).parent) for a in opened for n in a.index.names() if "/" in n}
        )
        raise KeyError(
            f"no {key} clips (<{'|'.join(GENERATORS[key])}>/<ytid>.wav) in "
            f"{', '.join(r.where for r in refs)}; its folders: {', '.join(folders[:12])}"
        )
    tracks = sorted(where)
    if take is not None and take < len(tracks):
        tracks = sorted(tracks, key=lambda t: (track_key(seed, source, t), t))[:take]
    log.info("FakeMusicCaps %s: fetching %d of %d clips", key, len(tracks), len(where))
    out = []
    for i, archive in enumerate(opened):
        names = [where[t][1] for t in tracks if where[t][0] == i]
        if names:
            out.append(fetch_from(archive, names, dest, options=options, zenodo=zenodo))
    folder = {t: PurePosixPath(where[t][1]).parts[-2] for t in tracks}
    write_track_info(
        dest, pd.DataFrame({"track": tracks, "generator": [folder[t] for t in tracks]})
    )
    return out


class FakeMusicCapsKind(ArchiveKind):
    """``kind: fakemusiccaps``: one generator's clips of FakeMusicCaps, from Zenodo.

    ``archives`` and ``zenodo_record`` may be left out: the record defaults to
    :data:`FAKEMUSICCAPS_RECORD` and the archive to its ``FakeMusicCaps.zip``.
    """

    name = "fakemusiccaps"
    label = "ai"
    # the fetched folder holds one generator: <folder>/<ytid>.wav
    track_pattern = r"(?:^|/)([A-Za-z0-9_-]+)\.wav$"
    fetch_runtime = 480  # ~12.9 GB when the host ignores ranges

    @staticmethod
    def _filled(spec: Mapping) -> dict:
        """The spec with the record and archive defaults filled in."""
        record = spec.get("zenodo_record") or FAKEMUSICCAPS_RECORD
        return {
            **spec,
            "zenodo_record": record,
            "zenodo_api": spec.get("zenodo_api") or ZENODO_API,
            "archives": spec.get("archives") or [default_archive(record)],
        }

    def archives(self, name, spec):
        return super().archives(name, self._filled(spec))

    def check(self, name, spec):
        super().check(name, self._filled(spec))
        try:
            generator_key(spec.get("generator", ""))
        except ValueError as exc:
            raise ValueError(f"config sources.{name}.generator: {exc}") from None

    def plan(self, name, spec, seed):
        plan = super().plan(name, self._filled(spec), seed)
        plan["subset"] = generator_key(spec["generator"])
        # a subset follows the manifest's rank order, which depends on the source's name
        plan["source"] = name if plan["take"] is not None else None
        return plan

    def fetch(self, plan, refs, dest, *, source, inputs, options, zenodo):
        return fetch_fakemusiccaps_audio(
            refs,
            dest,
            source=source,
            generator=plan["subset"],
            take=plan["take"],
            seed=plan["seed"] or 0,
            options=options,
            zenodo=zenodo,
        )
