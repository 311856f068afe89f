"""Getting a dataset's audio onto disk: which archive members a source needs, and the
cheapest way to fetch them.

The workflow's download rules (``workflow/rules/download.smk``) call these functions
through thin scripts; everything here runs without Snakemake.

An archive is named in the config by ``url`` and/or ``path`` and an optional ``checksum``
(:func:`archive_ref`). :func:`open_archive` decides how to read it, once:

1. ``path`` exists: the local copy is verified against its checksum and read -- no
   network at all. A whole archive downloaded earlier into ``download_dir`` counts too.
2. ``selective`` and the server honours HTTP ``Range``: only the central directory is
   read (one or two small requests); later only the chosen members' bytes are fetched.
3. Otherwise the whole archive is downloaded (resumable, verified against its checksum)
   to ``path`` or ``download_dir/<name>`` and read locally; it is kept for the next run.

:func:`fetch_fma_metadata`, :func:`fetch_fma_audio` and :func:`fetch_aam_audio` build on
that: FMA fetches ``tracks.csv`` and then only the seeded, genre-stratified selection of
clips (:func:`synthdetect.data.sources.select_fma`) plus spares; AAM fetches the mix files,
all of them or the first ``take`` in the manifest's own seeded rank order
(:func:`synthdetect.seeds.track_key`), so the spares are exactly the tracks the
manifest turns to when a clip is excluded.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from synthdetect.data.candidates import aam_track_id
from synthdetect.data.http import (
    ChecksumError,
    DownloadError,
    RangeNotSupportedError,
    fetch_file,
    parse_checksum,
    probe,
    verify,
)
from synthdetect.data.sources import (
    FMA_SUBSETS,
    FMA_TRACKS_MEMBER,
    ZENODO_API,
    fetch_zenodo_checksums,
    fma_member,
    match_members,
    parse_sha1sums,
    read_fma_tracks,
    resolve_checksums,
    select_fma,
)
from synthdetect.data.zipfetch import FetchStats, ZipIndex, fetch_members, read_index
from synthdetect.seeds import track_key

__all__ = [
    "ARCHIVE_KINDS",
    "ArchiveRef",
    "FetchOptions",
    "OpenArchive",
    "ZenodoChecksums",
    "archive_inputs",
    "archive_plan",
    "archive_ref",
    "audio_folder",
    "check_archive_sources",
    "fetch_aam_audio",
    "fetch_audio",
    "fetch_fma_audio",
    "fetch_fma_metadata",
    "fetch_from",
    "fma_selection",
    "folder_plan",
    "open_archive",
    "selection_key",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ArchiveRef:
    """One archive as the config names it. ``where`` is its config key, for messages."""

    name: str
    url: str | None = None
    path: str | None = None
    checksum: str | None = None
    where: str = "archive"


def archive_ref(spec: Mapping, where: str) -> ArchiveRef:
    """An :class:`ArchiveRef` from a config mapping with ``url``/``path``/``checksum``/``name``.

    Raises ``ValueError`` naming ``where`` (e.g. ``sources.fma.archives[0]``) when neither
    ``url`` nor ``path`` is given or the checksum cannot be parsed.
    """
    url, path = spec.get("url") or None, spec.get("path") or None
    if url is None and path is None:
        raise ValueError(f"config {where}: give 'url' (to download) or 'path' (a local copy)")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"config {where}.url: {url!r} is not an http(s) URL")
    name = spec.get("name") or (PurePosixPath(urlsplit(url).path).name if url else Path(path).name)
    if not name:
        raise ValueError(f"config {where}: cannot tell the archive's file name; set 'name'")
    checksum = spec.get("checksum") or None
    if checksum is not None:
        try:
            algo, digest = parse_checksum(checksum)
        except ValueError as exc:
            raise ValueError(f"config {where}.checksum: {exc}") from None
        checksum = f"{algo}:{digest}"
    return ArchiveRef(name, url, str(path) if path else None, checksum, where)


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch: ``selective`` tries HTTP ``Range`` first; whole archives without a
    configured ``path`` go to ``download_dir``."""

    selective: bool = True
    download_dir: Path = Path("resources/archives")
    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    progress: bool = True
    workers: int = 4


class ZenodoChecksums:
    """An archive's checksum: the Zenodo record's md5 where the record API offers one,
    else the configured one.

    The record is asked (once, lazily) only when a checksum is needed: before downloading a
    whole archive, or for a local copy without a configured checksum. A selective fetch
    checks each member's CRC-32 instead and never asks. An unreachable API is logged and
    the configured checksum is used.
    """

    def __init__(
        self,
        record: int | str | None,
        api_url: str,
        *,
        fetch: Callable[..., dict[str, str]] = fetch_zenodo_checksums,
        retries: int = 2,
        timeout_s: float = 30.0,
    ):
        self.record = record
        self.api_url = api_url
        self._fetch = fetch
        self._retries = retries
        self._timeout_s = timeout_s
        self._live: dict[str, str] | None = None

    def live(self) -> dict[str, str]:
        if self.record is None:
            return {}
        if self._live is None:
            try:
                self._live = self._fetch(
                    self.record,
                    api_url=self.api_url,
                    retries=self._retries,
                    timeout_s=self._timeout_s,
                )
                log.info("Zenodo record %s lists %d checksums", self.record, len(self._live))
            except (DownloadError, OSError, ValueError) as exc:
                log.warning(
                    "cannot read Zenodo record %s (%s); using the configured checksums",
                    self.record,
                    exc,
                )
                self._live = {}
        return self._live

    def for_download(self, ref: ArchiveRef) -> str | None:
        published = {ref.name: ref.checksum} if ref.checksum else {}
        return resolve_checksums([ref.name], published=published, live=self.live())[ref.name]

    def for_local(self, ref: ArchiveRef) -> str | None:
        return ref.checksum or self.live().get(ref.name)


class _Configured(ZenodoChecksums):
    def __init__(self):
        super().__init__(None, "")


# --------------------------------------------------------------------------- archives


@dataclass
class OpenArchive:
    """An archive ready to fetch members from: ``location`` is its URL (``mode='ranges'``)
    or a local file (``'local'``: a copy that was already there; ``'full'``: downloaded
    whole just now). ``stats`` counts what opening it cost."""

    ref: ArchiveRef
    location: str
    index: ZipIndex
    mode: str
    stats: FetchStats = field(default_factory=FetchStats)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive lock next to ``target`` so two jobs never download it at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(target.name + ".lock")
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _local(ref: ArchiveRef, path: Path, checksum: str | None, *, ours: bool) -> OpenArchive | None:
    """Open a local copy after checking it; ``ours`` (a download of an earlier run) is
    deleted when it fails the check, a user's ``path:`` copy is reported instead."""
    if checksum is not None:
        log.info("verifying %s against %s", path, checksum)
        try:
            verify(path, checksum, url=ref.url)
        except ChecksumError as exc:
            if ours:
                log.warning("%s; deleting it and fetching again", exc)
                path.unlink(missing_ok=True)
                return None
            exc.add_note(
                f"config {ref.where}.path points at this file; replace it, fix "
                f"{ref.where}.checksum, or remove 'path' to download it"
            )
            raise
    stats = FetchStats(mode="local", archive_size=path.stat().st_size)
    return OpenArchive(ref, str(path), read_index(path), "local", stats)


def open_archive(
    ref: ArchiveRef,
    options: FetchOptions | None = None,
    checksums: ZenodoChecksums | None = None,
) -> OpenArchive:
    """Decide how to read ``ref`` (local copy, HTTP ranges or whole download) and read its
    central directory. See the module docstring for the order."""
    options = options or FetchOptions()
    checksums = checksums or _Configured()
    target = Path(ref.path) if ref.path else Path(options.download_dir) / ref.name
    if ref.path and target.exists():
        return _local(ref, target, checksums.for_local(ref), ours=False)
    if not ref.url:
        raise FileNotFoundError(
            f"config {ref.where}.path: {target} does not exist and the archive has no "
            f"'url' to download it from"
        )
    if not ref.path and target.exists():
        opened = _local(ref, target, checksums.for_local(ref), ours=True)
        if opened is not None:
            log.info("using %s, downloaded by an earlier run", target)
            return opened
    kw = dict(retries=options.retries, backoff_s=options.backoff_s, timeout_s=options.timeout_s)
    stats = FetchStats(mode="ranges")
    if options.selective:
        try:
            info = probe(ref.url, **kw)
            stats.add(requests=1, bytes_fetched=1 if info.accepts_ranges else 0)
            if info.accepts_ranges:
                index = read_index(ref.url, stats=stats, **kw)
                return OpenArchive(ref, ref.url, index, "ranges", stats)
            log.info("%s does not honour Range requests; downloading it whole", ref.url)
        except RangeNotSupportedError:
            log.info("%s ignored a Range request; downloading it whole", ref.url)
    return _download_whole(ref, target, checksums, options, stats)


def _download_whole(
    ref: ArchiveRef,
    target: Path,
    checksums: ZenodoChecksums,
    options: FetchOptions,
    stats: FetchStats,
) -> OpenArchive:
    checksum = checksums.for_download(ref)
    if checksum is None:
        log.warning("%s has no checksum to verify it against (config %s)", ref.url, ref.where)
    with _locked(target):
        log.info("downloading %s -> %s", ref.url, target)
        _, n = fetch_file(
            ref.url,
            target,
            checksum=checksum,
            retries=options.retries,
            backoff_s=options.backoff_s,
            timeout_s=options.timeout_s,
            progress=options.progress,
        )
    stats.add(bytes_fetched=n, requests=1)
    stats.mode = "full"
    stats.archive_size = target.stat().st_size
    return OpenArchive(ref, str(target), read_index(target), "full", stats)


def fetch_from(
    archive: OpenArchive,
    members: Iterable[str],
    dest: str | os.PathLike[str],
    *,
    options: FetchOptions | None = None,
    checksums: Mapping[str, str] | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> FetchStats:
    """Fetch ``members`` of an opened archive into ``dest`` (at their member paths).

    Each member's size and CRC-32 (and ``checksums[name]`` when given) is checked. When a
    server that offered ranges stops honouring them, the whole archive is downloaded and
    the members are read from it. Returns the combined statistics (opening included).
    """
    options = options or FetchOptions()
    members = list(members)
    kw = dict(
        retries=options.retries,
        backoff_s=options.backoff_s,
        timeout_s=options.timeout_s,
        progress=options.progress,
        workers=options.workers,
    )
    try:
        got = fetch_members(
            archive.location, members, dest, index=archive.index, checksums=checksums, **kw
        )
    except RangeNotSupportedError:
        if archive.mode != "ranges":
            raise
        log.info("%s stopped honouring Range requests; downloading it whole", archive.location)
        target = (
            Path(archive.ref.path)
            if archive.ref.path
            else Path(options.download_dir) / archive.ref.name
        )
        whole = _download_whole(
            archive.ref, target, zenodo or _Configured(), options, archive.stats
        )
        archive.location, archive.index, archive.mode = whole.location, whole.index, "full"
        got = fetch_members(
            archive.location, members, dest, index=archive.index, checksums=checksums, **kw
        )
    got.mode = archive.mode
    # what opening the archive cost is counted once, with its first fetch
    got.add(bytes_fetched=archive.stats.bytes_fetched, requests=archive.stats.requests)
    archive.stats = FetchStats(mode=archive.mode)
    got.archive_size = archive.index.size
    log.info(
        "%s (%s): %d members written, %d already there, %d bytes over %d requests",
        archive.ref.name,
        got.mode,
        len(got.written),
        len(got.skipped),
        got.bytes_fetched,
        got.requests,
    )
    return got


# --------------------------------------------------------------------------- FMA


def fetch_fma_metadata(
    ref: ArchiveRef, dest: str | os.PathLike[str], options: FetchOptions | None = None
) -> FetchStats:
    """Fetch ``fma_metadata/tracks.csv`` out of ``fma_metadata.zip`` into the file ``dest``."""
    options = options or FetchOptions()
    dest = Path(dest)
    archive = open_archive(ref, options)
    member = match_members(archive.index.names(), [FMA_TRACKS_MEMBER])[FMA_TRACKS_MEMBER]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tracks.", dir=dest.parent) as tmp:
        stats = fetch_from(archive, [member], tmp, options=options)
        os.replace(Path(tmp, *PurePosixPath(member).parts), dest)
    return stats


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


def _match_available(wanted: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """Like :func:`synthdetect.data.sources.match_members` (exact name, else the unique member
    with that base name), but names the archive lacks are left out instead of raising."""
    names = [n for n in names if not n.endswith("/")]
    exact = set(names)
    by_base: dict[str, list[str]] = {}
    for n in names:
        by_base.setdefault(PurePosixPath(n).name, []).append(n)
    out = {}
    for w in wanted:
        if w in exact:
            out[w] = w
        elif len(hits := by_base.get(PurePosixPath(w).name, [])) == 1:
            out[w] = hits[0]
    return out


def _check_sha1s(dest: Path, members: Iterable[str], sums: Mapping[str, str]) -> None:
    """Compare fetched clips with the archive's published sha1 list; a difference is logged,
    not fatal (the CRC-32 already proved the bytes are the archive's, and the manifest's
    probe judges the audio)."""
    bad = []
    for m in members:
        if m in sums:
            try:
                verify(Path(dest, *PurePosixPath(m).parts), sums[m])
            except ChecksumError as exc:
                bad.append(f"{m} ({exc.actual})")
    if bad:
        log.warning(
            "%d clips differ from the archive's sha1 list: %s", len(bad), ", ".join(bad[:10])
        )


def fetch_fma_audio(
    refs: Sequence[ArchiveRef],
    tracks_csv: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    subset: str = "small",
    take: int | None,
    seed: int,
    options: FetchOptions | None = None,
) -> list[FetchStats]:
    """Fetch the FMA clips :func:`fma_selection` picks into ``dest``.

    Every clip's size and CRC-32 are checked while it streams in; the archive's own
    ``fma_<subset>/checksums`` (sha1 per clip) is fetched too when it has one, and a clip
    that differs from it is logged. A selected clip missing
    from every archive is logged and left out (the spares stand in); none found at all is
    an error naming the archives.
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
        archive = open_archive(ref, options)
        names = archive.index.names()
        mapping = _match_available([w for w in wanted if w not in found], names)
        if not mapping:
            continue
        sums_name = f"fma_{subset}/checksums"
        sums, first = {}, None
        if sums_name in archive.index:
            first = fetch_from(archive, [sums_name], dest, options=options)
            text = Path(dest, *PurePosixPath(sums_name).parts).read_text(encoding="utf-8")
            sums = parse_sha1sums(text, prefix=f"fma_{subset}/")
        got = fetch_from(archive, mapping.values(), dest, options=options)
        if first is not None:
            got.add(bytes_fetched=first.bytes_fetched, requests=first.requests)
        _check_sha1s(dest, got.written, sums)
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


# --------------------------------------------------------------------------- AAM


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


# --------------------------------------------------------------------------- planning

ARCHIVE_KINDS = ("fma", "aam")


def archive_plan(source: str, spec: Mapping, seed: int) -> dict:
    """Everything that decides what a source's ``fetch_audio`` job writes (its params).

    Pure config arithmetic -- no network -- so the workflow can plan offline. ``take`` is
    ``n + spares``, or ``None`` (every track) when either is null; the seed only matters
    when not everything is taken, and the source's name only for AAM, whose subset
    follows the manifest's rank order ``track_key(seed, source, track)``.
    """
    n, spares = spec.get("n"), spec.get("spares")
    take = None if n is None or spares is None else n + spares
    kind = spec["kind"]
    record = spec.get("zenodo_record")
    return {
        "kind": kind,
        "archives": [dict(a) for a in spec["archives"]],
        "selective": bool(spec.get("selective", True)),
        "take": take,
        "seed": None if take is None else seed,
        "subset": spec.get("subset", "small") if kind == "fma" else None,
        "source": source if kind == "aam" and take is not None else None,
        "zenodo": (
            {"record": record, "api": spec.get("zenodo_api", ZENODO_API)}
            if kind == "aam" and record is not None
            else None
        ),
    }


def selection_key(plan: Mapping) -> str:
    """The audio folder's name suffix: ``small-seed0-n3032``, ``seed0-n40`` or ``all``."""
    key = "all" if plan["take"] is None else f"seed{plan['seed']}-n{plan['take']}"
    return f"{plan['subset']}-{key}" if plan["subset"] else key


def audio_folder(resources: str, source: str, spec: Mapping, seed: int) -> str:
    """Where a source's fetched audio goes: ``<resources>/<source>/audio-<selection>``."""
    return f"{resources}/{source}/audio-{selection_key(archive_plan(source, spec, seed))}"


def archive_inputs(resources: str, seed: int, source: str, spec: Mapping) -> dict[str, str]:
    """Named inputs of the workflow's ``candidates`` rule for an FMA or AAM source."""
    if spec["kind"] not in ARCHIVE_KINDS:
        raise ValueError(f"config sources.{source}.kind: {spec['kind']!r} has no archives")
    return {"audio": audio_folder(resources, source, spec, seed)}


def folder_plan(source: str, spec: Mapping, seed: int, selection: str) -> dict:
    """:func:`archive_plan`, after checking that ``audio-<selection>`` is this config's
    folder for the source (another name would be filled with the wrong selection)."""
    plan = archive_plan(source, spec, seed)
    if selection != selection_key(plan):
        raise ValueError(
            f"audio-{selection} is not source {source!r}'s audio folder in this config "
            f"(that is audio-{selection_key(plan)})"
        )
    return plan


def check_archive_sources(sources: Mapping[str, Mapping]) -> None:
    """Startup checks the schema cannot make, naming the key: an archive given only by
    ``path`` must exist (there is no URL to download it from)."""
    for source, spec in sources.items():
        if spec["kind"] not in ARCHIVE_KINDS:
            continue
        named = [(f"archives[{i}]", a) for i, a in enumerate(spec.get("archives") or [])]
        if spec["kind"] == "fma" and spec.get("metadata"):
            named.append(("metadata", spec["metadata"]))
        for key, archive in named:
            where = f"sources.{source}.{key}"
            ref = archive_ref(archive, where)
            if ref.path and not ref.url and not Path(ref.path).is_file():
                raise ValueError(
                    f"config {where}.path: {ref.path} does not exist and there is no "
                    f"'url' to download it from"
                )


# --------------------------------------------------------------------------- entry point


def fetch_audio(
    kind: str,
    archives: Sequence[Mapping],
    dest: str | os.PathLike[str],
    *,
    source: str,
    take: int | None,
    seed: int | None,
    selective: bool = True,
    download_dir: str | os.PathLike[str] = "resources/archives",
    tracks_csv: str | os.PathLike[str] | None = None,
    subset: str = "small",
    zenodo: Mapping | None = None,
    progress: bool = True,
    workers: int = 4,
) -> list[FetchStats]:
    """What the workflow's ``fetch_audio`` rule runs: a source's audio into the folder ``dest``.

    ``archives`` are config mappings (``url``/``path``/``checksum``/``name``); ``zenodo`` is
    ``{"record": id, "api": url}`` or ``None``. Members are fetched into a staging folder
    next to ``dest`` (``.<name>.partial``) that is renamed to ``dest`` when everything is
    there; after a failure it is kept, and the next run fetches only what it lacks.
    """
    options = FetchOptions(
        selective=selective, download_dir=Path(download_dir), progress=progress, workers=workers
    )
    refs = [archive_ref(a, f"sources.{source}.archives[{i}]") for i, a in enumerate(archives)]
    dest = Path(dest)
    staging = dest.with_name(f".{dest.name}.partial")
    staging.mkdir(parents=True, exist_ok=True)
    if kind == "fma":
        if tracks_csv is None:
            raise ValueError("an FMA source needs its tracks.csv")
        stats = fetch_fma_audio(
            refs, tracks_csv, staging, subset=subset, take=take, seed=seed or 0, options=options
        )
    elif kind == "aam":
        checks = ZenodoChecksums(zenodo["record"], zenodo["api"]) if zenodo else None
        stats = fetch_aam_audio(
            refs, staging, source=source, take=take, seed=seed or 0, options=options, zenodo=checks
        )
    else:
        raise ValueError(f"sources.{source}.kind: no archive fetch for kind {kind!r}")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    elif dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return stats
