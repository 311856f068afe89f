"""Getting an archive dataset's audio onto disk: the cheapest way to read an archive, and
the shared base of the archive source kinds.

The workflow's download rules (``workflow/rules/download.smk``) call this through thin
scripts; everything here runs without Snakemake.

An archive is named in the config by ``url`` and/or ``path`` and an optional ``checksum``
(:func:`archive_ref`). :func:`open_archive` decides how to read it, once:

1. ``path`` exists: the local copy is verified against its checksum and read -- no
   network at all. A whole archive downloaded earlier into ``download_dir`` counts too.
2. ``selective`` and the server honours HTTP ``Range``: only the central directory is
   read (one or two small requests); later only the chosen members' bytes are fetched.
3. Otherwise the whole archive is downloaded (resumable, verified against its checksum)
   to ``path`` or ``download_dir/<name>`` and read locally; it is kept for the next run.

A downloaded archive that fails its checksum or does not open as a zip is never reused:
it is deleted and fetched once more, and a second failure names the file and the URL.

:class:`ArchiveKind` is what the dataset modules (:mod:`synthdetect.data.fma`,
:mod:`synthdetect.data.aam`) build on: the fetch plan (pure config arithmetic, so the
workflow plans offline), the audio folder's name, startup checks, the candidate recipe, and
:meth:`ArchiveKind.fetch_audio`, which stages the members and renames the folder when all
are there. A dataset says only which members to fetch (:meth:`ArchiveKind.fetch`) and how
a member's path gives the track id (``track_pattern``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar
from urllib.parse import urlsplit

from synthdetect.data.candidates import write_rejected
from synthdetect.data.http import (
    RETRY_BUDGET_S,
    ChecksumError,
    DownloadError,
    RangeNotSupportedError,
    fetch_file,
    parse_checksum,
    probe,
    verify,
)
from synthdetect.data.sourcekind import SourceKind
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import FetchStats, ZipIndex, fetch_members, read_index

__all__ = [
    "ArchiveKind",
    "ArchiveRef",
    "FetchOptions",
    "OpenArchive",
    "archive_ref",
    "fetch_from",
    "fetch_member_file",
    "fetch_verified",
    "match_available",
    "match_members",
    "open_archive",
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
    configured ``path`` go to ``download_dir``. ``retry_budget_s`` bounds the waiting of
    one request between attempts (rate limits included, see
    :class:`synthdetect.data.http.Retrier`)."""

    selective: bool = True
    download_dir: Path = Path("resources/archives")
    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    progress: bool = True
    workers: int = 4
    retry_budget_s: float = RETRY_BUDGET_S

    def http(self) -> dict:
        return {
            "retries": self.retries,
            "backoff_s": self.backoff_s,
            "timeout_s": self.timeout_s,
            "budget_s": self.retry_budget_s,
        }


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
    """Open a local copy after checking it. ``ours`` (a download of an earlier run) is
    deleted when it fails its checksum or does not open, and ``None`` returned so it is
    fetched again; a user's ``path:`` copy is reported instead, naming the config key."""
    fix = (
        f"config {ref.where}.path points at this file; replace it, fix "
        f"{ref.where}.checksum, or remove 'path' to download it"
    )
    if checksum is not None:
        log.info("verifying %s against %s", path, checksum)
        try:
            verify(path, checksum, url=ref.url)
        except ChecksumError as exc:
            if ours:
                log.warning("%s; deleting it and fetching again", exc)
                path.unlink(missing_ok=True)
                return None
            exc.add_note(fix)
            raise
    try:
        index = read_index(path)
    except zipfile.BadZipFile as exc:
        if ours:
            log.warning(
                "%s (downloaded from %s by an earlier run) is not a readable zip (%s); "
                "deleting it and fetching again",
                path,
                ref.url,
                exc,
            )
            path.unlink(missing_ok=True)
            return None
        exc.add_note(fix)
        raise
    stats = FetchStats(mode="local", archive_size=path.stat().st_size)
    return OpenArchive(ref, str(path), index, "local", stats)


def open_archive(
    ref: ArchiveRef,
    options: FetchOptions | None = None,
    checksums: ZenodoChecksums | None = None,
) -> OpenArchive:
    """Decide how to read ``ref`` (local copy, HTTP ranges or whole download) and read its
    central directory. See the module docstring for the order."""
    options = options or FetchOptions()
    checksums = checksums or ZenodoChecksums(None)
    target = _target(ref, options)
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
    kw = options.http()
    stats = FetchStats(mode="ranges")
    if options.selective:
        try:
            info = probe(ref.url, **kw)
            stats.add(requests=1, bytes_fetched=1 if info.accepts_ranges else 0)
            if info.accepts_ranges:
                index = read_index(ref.url, stats=stats, size=info.size, **kw)
                return OpenArchive(ref, ref.url, index, "ranges", stats)
            log.info("%s does not honour Range requests; downloading it whole", ref.url)
        except RangeNotSupportedError as exc:
            log.info("%s; downloading it whole", exc)
    return _download_whole(ref, target, checksums, options, stats)


def _target(ref: ArchiveRef, options: FetchOptions) -> Path:
    return Path(ref.path) if ref.path else Path(options.download_dir) / ref.name


def _download_whole(
    ref: ArchiveRef,
    target: Path,
    checksums: ZenodoChecksums,
    options: FetchOptions,
    stats: FetchStats,
) -> OpenArchive:
    """Download ``ref`` whole to ``target`` and open it. A copy that does not open as a
    zip (e.g. cut short by the host, consistently with its own headers, when no checksum
    could tell) is treated like a checksum failure: deleted and fetched once more."""
    checksum = checksums.for_download(ref)
    if checksum is None:
        log.warning("%s has no checksum to verify it against (config %s)", ref.url, ref.where)
    kw = options.http()
    with _locked(target):
        for attempt in (1, 2):
            log.info("downloading %s -> %s", ref.url, target)
            _, n = fetch_file(ref.url, target, checksum=checksum, progress=options.progress, **kw)
            stats.add(bytes_fetched=n, requests=1)
            try:
                index = read_index(target)
                break
            except zipfile.BadZipFile as exc:
                target.unlink(missing_ok=True)
                problem = (
                    f"{target}, downloaded from {ref.url}, is not a readable zip ({exc}); "
                    f"deleted {target}"
                )
                if attempt == 2:
                    raise DownloadError(
                        f"{problem}, for the second time: the host serves a broken archive. "
                        f"Check config {ref.where}.url, set its checksum, or download the "
                        f"file yourself and point {ref.where}.path at it",
                        url=ref.url,
                    ) from exc
                log.warning("%s; downloading it once more", problem)
    stats.mode = "full"
    stats.archive_size = target.stat().st_size
    return OpenArchive(ref, str(target), index, "full", stats)


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
    kw = dict(**options.http(), progress=options.progress, workers=options.workers)
    try:
        got = fetch_members(
            archive.location, members, dest, index=archive.index, checksums=checksums, **kw
        )
    except RangeNotSupportedError as exc:
        if archive.mode != "ranges":
            raise
        log.info("%s; downloading %s whole", exc, archive.ref.name)
        whole = _download_whole(
            archive.ref,
            _target(archive.ref, options),
            zenodo or ZenodoChecksums(None),
            options,
            archive.stats,
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


def _member_path(dest: str | os.PathLike[str], member: str) -> Path:
    return Path(dest, *PurePosixPath(member).parts)


def _disagreeing(
    dest: str | os.PathLike[str], members: Iterable[str], sums: Mapping[str, str]
) -> dict[str, ChecksumError]:
    bad = {}
    for m in members:
        path = _member_path(dest, m)
        if m in sums and path.is_file():
            try:
                verify(path, sums[m])
            except ChecksumError as exc:
                bad[m] = exc
    return bad


def fetch_verified(
    archive: OpenArchive,
    members: Iterable[str],
    dest: str | os.PathLike[str],
    *,
    sums: Mapping[str, str],
    options: FetchOptions | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> FetchStats:
    """:func:`fetch_from`, then each member checked against the archive's own checksum
    list ``sums`` (e.g. FMA's ``checksums`` file).

    A member that disagrees is deleted and fetched once more (a transfer the CRC-32 missed,
    or a stale file of an earlier run); one that still disagrees is deleted and listed in
    ``stats.rejected`` with the URL, the expected and the actual digest, so it is never
    trained on and the manifest's exclusions say why it is missing.
    """
    members = list(members)
    got = fetch_from(archive, members, dest, options=options, zenodo=zenodo)
    bad = _disagreeing(dest, members, sums)
    if not bad:
        return got
    log.warning(
        "%s: %d members differ from the archive's checksum list (%s); fetching them once more",
        archive.location,
        len(bad),
        ", ".join(f"{m}: expected {e.expected}, got {e.actual}" for m, e in list(bad.items())[:5]),
    )
    for m in bad:
        _member_path(dest, m).unlink(missing_ok=True)
    again = fetch_from(archive, list(bad), dest, options=options, zenodo=zenodo)
    got.add(bytes_fetched=again.bytes_fetched, requests=again.requests)
    got.mode = archive.mode
    for m, exc in _disagreeing(dest, list(bad), sums).items():
        _member_path(dest, m).unlink(missing_ok=True)
        reason = (
            f"checksum: the archive's checksum list says {exc.expected}, its bytes (fetched "
            f"twice from {archive.location}) give {exc.actual}"
        )
        log.warning("%s: %s; left out", m, reason)
        got.rejected[m] = reason
    got.written = [m for m in got.written if m not in got.rejected]
    got.skipped = [m for m in got.skipped if m not in got.rejected]
    return got


def fetch_member_file(
    ref: ArchiveRef,
    member: str,
    dest: str | os.PathLike[str],
    options: FetchOptions | None = None,
    zenodo: ZenodoChecksums | None = None,
) -> FetchStats:
    """One member of an archive (matched like :func:`match_members`) into the file ``dest``:
    e.g. a dataset's metadata table."""
    options = options or FetchOptions()
    dest = Path(dest)
    archive = open_archive(ref, options, zenodo)
    name = match_members(archive.index.names(), [member])[member]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        stats = fetch_from(archive, [name], tmp, options=options, zenodo=zenodo)
        os.replace(_member_path(tmp, name), dest)
    return stats


def match_members(available: Iterable[str], wanted: Iterable[str]) -> dict[str, str]:
    """Map wanted member names to an archive's names: exact match first, else the unique
    member with the same base name (archives sometimes nest files in a folder).

    Raises ``KeyError`` naming what is missing or ambiguous.
    """
    wanted = list(wanted)
    out = match_available(wanted, available)
    problems = []
    by_base = _by_base(available)
    for w in wanted:
        if w not in out:
            hits = by_base.get(PurePosixPath(w).name, [])
            problems.append(f"{w} ({'missing' if not hits else f'{len(hits)} candidates'})")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise KeyError(f"archive members not found: {', '.join(problems[:5])}{more}")
    return out


def _by_base(names: Iterable[str]) -> dict[str, list[str]]:
    by_base: dict[str, list[str]] = {}
    for n in names:
        if not n.endswith("/"):
            by_base.setdefault(PurePosixPath(n).name, []).append(n)
    return by_base


def match_available(wanted: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """Like :func:`match_members`, but names the archive lacks are left out instead of
    raising."""
    names = [n for n in names if not n.endswith("/")]
    exact = set(names)
    by_base = _by_base(names)
    out = {}
    for w in wanted:
        if w in exact:
            out[w] = w
        elif len(hits := by_base.get(PurePosixPath(w).name, [])) == 1:
            out[w] = hits[0]
    return out


# --------------------------------------------------------------------------- the base kind


class ArchiveKind(SourceKind):
    """The shared base of the archive datasets (one subclass per dataset module).

    A subclass sets ``name``, ``track_pattern`` (a regex whose first group is the track id
    in a member's path), ``fetch_runtime`` (minutes a cluster gives its fetch job), and
    implements :meth:`fetch`; it may add to :meth:`plan` what decides its selection, name
    more archives in :meth:`archives` and ask for more job inputs in :meth:`fetch_inputs`.
    """

    track_pattern: ClassVar[str] = ""
    fetch_runtime: ClassVar[int] = 360

    # ------------------------------------------------------------- config and planning

    def archives(self, name: str, spec: Mapping) -> list[tuple[str, Mapping]]:
        """``(config key, mapping)`` of every archive the source names (for checks)."""
        return [(f"archives[{i}]", a) for i, a in enumerate(spec.get("archives") or [])]

    def check(self, name: str, spec: Mapping) -> None:
        """Startup checks the schema cannot make, naming the key: every archive parses, and
        one given only by ``path`` exists (there is no URL to download it from)."""
        super().check(name, spec)
        for key, archive in self.archives(name, spec):
            where = f"sources.{name}.{key}"
            ref = archive_ref(archive, where)
            if ref.path and not ref.url and not Path(ref.path).is_file():
                raise ValueError(
                    f"config {where}.path: {ref.path} does not exist and there is no "
                    f"'url' to download it from"
                )
        if spec.get("zenodo_record") is not None and not spec.get("zenodo_api"):
            raise ValueError(f"config sources.{name}.zenodo_api: needed with zenodo_record")

    def plan(self, name: str, spec: Mapping, seed: int) -> dict:
        """Everything that decides what a source's ``fetch_audio`` job writes (its params).

        Pure config arithmetic -- no network -- so the workflow can plan offline. ``take``
        is ``n + spares``, or ``None`` (every track) when either is null; the seed only
        matters when not everything is taken. ``subset`` and ``source`` are set by kinds
        whose selection depends on them; ``zenodo`` names the record whose API gives the
        archives' checksums.
        """
        n, spares = spec.get("n"), spec.get("spares")
        take = None if n is None or spares is None else n + spares
        record = spec.get("zenodo_record")
        return {
            "kind": self.name,
            "archives": [dict(a) for a in spec["archives"]],
            "selective": bool(spec.get("selective", True)),
            "take": take,
            "seed": None if take is None else seed,
            "subset": None,
            "source": None,
            "zenodo": (
                {"record": record, "api": spec.get("zenodo_api")} if record is not None else None
            ),
        }

    @staticmethod
    def selection_key(plan: Mapping) -> str:
        """The audio folder's name suffix: ``small-seed0-n3032``, ``seed0-n40`` or ``all``."""
        key = "all" if plan["take"] is None else f"seed{plan['seed']}-n{plan['take']}"
        return f"{plan['subset']}-{key}" if plan["subset"] else key

    def audio_folder(self, resources: str, name: str, spec: Mapping, seed: int) -> str:
        """Where a source's fetched audio goes: ``<resources>/<source>/audio-<selection>``."""
        return f"{resources}/{name}/audio-{self.selection_key(self.plan(name, spec, seed))}"

    def folder_plan(self, name: str, spec: Mapping, seed: int, selection: str) -> dict:
        """:meth:`plan`, after checking that ``audio-<selection>`` is this config's folder
        for the source (another name would be filled with the wrong selection)."""
        plan = self.plan(name, spec, seed)
        if selection != self.selection_key(plan):
            raise ValueError(
                f"audio-{selection} is not source {name!r}'s audio folder in this config "
                f"(that is audio-{self.selection_key(plan)})"
            )
        return plan

    def candidate_inputs(self, name, spec, paths):
        return {"audio": self.audio_folder(paths.resources, name, spec, paths.seed)}

    def recipe(self, name, spec):
        return {"builder": "archive", "label": spec["label"], "track": self.track_pattern}

    def fetch_inputs(self, name: str, spec: Mapping, paths) -> dict[str, str]:
        """Files the ``fetch_audio`` job needs besides the archives (FMA: ``tracks.csv``)."""
        return {}

    # ------------------------------------------------------------- fetching

    def fetch(
        self,
        plan: Mapping,
        refs: Sequence[ArchiveRef],
        dest: Path,
        *,
        source: str,
        inputs: Mapping[str, str],
        options: FetchOptions,
        zenodo: ZenodoChecksums,
    ) -> list[FetchStats]:
        """Fetch the members ``plan`` selects into ``dest`` (a staging folder)."""
        raise NotImplementedError

    def fetch_audio(
        self,
        plan: Mapping,
        dest: str | os.PathLike[str],
        *,
        source: str,
        inputs: Mapping[str, str] | None = None,
        download_dir: str | os.PathLike[str] = "resources/archives",
        progress: bool = True,
        workers: int = 4,
        retry_budget_s: float = RETRY_BUDGET_S,
    ) -> list[FetchStats]:
        """What the workflow's ``fetch_audio`` rule runs: a source's audio into the folder
        ``dest``, as :meth:`plan` decided.

        Members are fetched into a staging folder next to ``dest`` (``.<name>.partial``)
        that is renamed to ``dest`` when everything is there; after a failure it is kept,
        and the next run fetches only what it lacks. Members left out on purpose are listed
        in the folder's ``rejected.tsv`` with their reason.
        """
        options = FetchOptions(
            selective=plan["selective"],
            download_dir=Path(download_dir),
            progress=progress,
            workers=workers,
            retry_budget_s=retry_budget_s,
        )
        refs = [
            archive_ref(a, f"sources.{source}.archives[{i}]")
            for i, a in enumerate(plan["archives"])
        ]
        z = plan.get("zenodo")
        zenodo = ZenodoChecksums(
            z["record"] if z else None, z["api"] if z else "", budget_s=retry_budget_s
        )
        dest = Path(dest)
        staging = dest.with_name(f".{dest.name}.partial")
        staging.mkdir(parents=True, exist_ok=True)
        stats = self.fetch(
            plan, refs, staging, source=source, inputs=inputs or {}, options=options, zenodo=zenodo
        )
        write_rejected(staging, {m: why for s in stats for m, why in s.rejected.items()})
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        elif dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
        return stats
