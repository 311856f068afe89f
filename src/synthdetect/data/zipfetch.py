"""Selective fetch of zip members over HTTP ``Range`` requests.

A zip ends with its central directory (CD), which lists every member with its compressed
size, CRC-32 and the offset of its local header. ``read_index`` reads the archive's tail
(one ``Range`` request; a second one when the CD is larger than the tail), parses the
end-of-central-directory record (and the ZIP64 records that archives over 4 GiB carry) and
returns a :class:`ZipIndex`. The tail is asked for by offset when the size is known, else
as a suffix (``bytes=-N``); a host that refuses suffixes (416, 501) is asked for its size
(``bytes=0-0``, then ``HEAD``) and then by offset. ``fetch_members`` then asks only for
the byte spans of the chosen members -- each span runs from a member's local header to the
next member's header, so it covers the data descriptor too -- coalescing neighbouring
spans into one request, streams them through the member's decompressor (stored, deflate,
bzip2), checks the size and CRC-32 and writes each file atomically under the destination
at the member's path.

Which way an archive is read (local copy, ranges, whole download) is decided by
:func:`synthdetect.data.archives.open_archive`; everything here works on a local zip path
as well as on a URL.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import logging
import os
import struct
import threading
import urllib.error
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

from synthdetect.data.extract import atomic_writer, member_target, prepare_parent, same_file
from synthdetect.data.http import (
    RETRY_BUDGET_S,
    ChecksumError,
    DownloadError,
    RangeNotSupportedError,
    Retrier,
    _describe,
    _http_error,
    _Transient,
    is_transient,
    open_range,
    parse_checksum,
    probe,
    verify,
    with_retries,
)

__all__ = [
    "CorruptMemberError",
    "FetchStats",
    "ZipIndex",
    "ZipMember",
    "fetch_members",
    "list_members",
    "read_index",
]

log = logging.getLogger(__name__)

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes
_Z64_LOCATOR = struct.Struct("<IIQI")  # 20 bytes
_Z64_EOCD = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_SIG_LOCAL, _SIG_CENTRAL = 0x04034B50, 0x02014B50
_SIG_EOCD, _SIG_Z64_LOCATOR, _SIG_Z64_EOCD = 0x06054B50, 0x07064B50, 0x06064B50
TAIL_BYTES = 128 * 1024  # EOCD (<= 22 + 65535 comment) + ZIP64 records + often the whole CD
STORED, DEFLATED, BZIP2 = 0, 8, 12
_METHODS = {STORED: "stored", DEFLATED: "deflate", BZIP2: "bzip2"}


class CorruptMemberError(zipfile.BadZipFile):
    """A member's bytes did not decode to the size/CRC-32 the central directory promises."""

    def __init__(self, member: str, message: str, source: str = ""):
        where = f" from {source}" if source else ""
        super().__init__(f"member {member!r}{where}: {message}")
        self.member = member


@dataclass(frozen=True)
class ZipMember:
    """One central-directory entry. ``span`` is the byte range [start, end) of the member's
    local header + data (+ data descriptor) in the archive."""

    name: str
    header_offset: int
    compressed_size: int
    file_size: int
    crc32: int
    method: int
    flags: int
    external_attr: int
    span: tuple[int, int]

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 0x1)


@dataclass(frozen=True)
class ZipIndex:
    """A parsed central directory."""

    source: str
    size: int
    members: tuple[ZipMember, ...]
    cd_offset: int
    cd_size: int
    zip64: bool

    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def __getitem__(self, name: str) -> ZipMember:
        return self._by_name()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name()

    def _by_name(self) -> dict[str, ZipMember]:
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = {m.name: m for m in self.members}
            object.__setattr__(self, "_cache", cache)
        return cache

    def overhead_bytes(self) -> int:
        """Bytes of the archive that are not member data: headers, descriptors, CD, EOCD."""
        return self.size - sum(m.compressed_size for m in self.members)


@dataclass
class FetchStats:
    """What a fetch did: ``mode`` is ``"ranges"``, ``"full"`` or ``"local"``;
    ``bytes_fetched`` counts body bytes received over HTTP (0 for a local archive)."""

    mode: str = "ranges"
    bytes_fetched: int = 0
    requests: int = 0
    archive_size: int | None = None
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: member -> why it was left out (e.g. it disagrees with the archive's checksum list)
    rejected: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, bytes_fetched: int = 0, requests: int = 0) -> None:
        with self._lock:
            self.bytes_fetched += bytes_fetched
            self.requests += requests


# --------------------------------------------------------------------------- sources


class _Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Source(Protocol):
    name: str

    def tail(self, n: int) -> tuple[int, int, bytes]: ...

    def read_at(self, start: int, length: int) -> bytes: ...

    def stream(self, start: int, end: int) -> contextlib.AbstractContextManager[_Reader]: ...


class _LocalSource:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.name = str(path)

    def tail(self, n: int) -> tuple[int, int, bytes]:
        size = self.path.stat().st_size
        start = max(0, size - n)
        return size, start, self.read_at(start, size - start)

    def read_at(self, start: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(length)

    @contextlib.contextmanager
    def stream(self, start: int, end: int) -> Iterator[_Reader]:
        with open(self.path, "rb") as f:
            f.seek(start)
            yield f


class _Counting:
    """Counts body bytes read from an HTTP response into a :class:`FetchStats`."""

    def __init__(self, resp: BinaryIO, stats: FetchStats):
        self.resp = resp
        self.stats = stats

    def read(self, n: int = -1, /) -> bytes:
        data = self.resp.read(n)
        self.stats.add(bytes_fetched=len(data))
        return data


class _HTTPSource:
    def __init__(
        self,
        url: str,
        stats: FetchStats,
        *,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        budget_s: float = RETRY_BUDGET_S,
        size: int | None = None,
    ):
        self.url = self.name = url
        self.stats = stats
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.budget_s = budget_s
        self.size = size

    def _get(self, start: int, length: int | None) -> tuple[int, int, bytes]:
        def attempt() -> tuple[int, int, bytes]:
            end = None if length is None else start + length - 1
            self.stats.add(requests=1)
            with open_range(self.url, start, end, timeout_s=self.timeout_s) as (resp, a, b, t):
                data = _Counting(resp, self.stats).read()
            if len(data) != b - a + 1:
                raise _Transient(f"truncated body: got {len(data)} of {b - a + 1} bytes")
            if t is None:
                raise _Transient(f"{self.url}: Content-Range without the total size")
            return t, a, data

        return with_retries(
            attempt,
            url=self.url,
            retries=self.retries,
            backoff_s=self.backoff_s,
            budget_s=self.budget_s,
        )

    def tail(self, n: int) -> tuple[int, int, bytes]:
        if self.size is None:
            try:
                return self._get(-n, None)
            except RangeNotSupportedError as exc:
                log.info("%s; asking for the size and reading the tail by offset", exc)
                self.size = self._discover_size()
        start = max(0, self.size - n)
        return self._get(start, self.size - start)

    def _discover_size(self) -> int:
        """The archive's size from a ``bytes=0-0`` probe (or ``HEAD``); a host that honours
        no ``Range`` at all raises :class:`RangeNotSupportedError` (download it whole)."""
        info = probe(
            self.url,
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            budget_s=self.budget_s,
        )
        self.stats.add(requests=1, bytes_fetched=1 if info.accepts_ranges else 0)
        if not info.accepts_ranges or info.size is None:
            raise RangeNotSupportedError(
                f"{self.url} honours no Range request this archive can be read with", url=self.url
            )
        return info.size

    def read_at(self, start: int, length: int) -> bytes:
        return self._get(start, length)[2]

    @contextlib.contextmanager
    def stream(self, start: int, end: int) -> Iterator[_Reader]:
        self.stats.add(requests=1)
        with open_range(self.url, start, end - 1, timeout_s=self.timeout_s) as (resp, *_):
            yield _Counting(resp, self.stats)


def _is_url(source: str | os.PathLike[str]) -> bool:
    return isinstance(source, str) and source.split("://", 1)[0].lower() in ("http", "https")


def _source(source, stats: FetchStats, **kwargs) -> _Source:
    if isinstance(source, (_LocalSource, _HTTPSource)):
        return source
    if _is_url(source):
        return _HTTPSource(source, stats, **kwargs)
    return _LocalSource(source)


# --------------------------------------------------------------------------- central directory


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag != 0x0001:
            continue
        vals = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
        if usize == 0xFFFFFFFF and vals:
            usize = vals.pop(0)
        if csize == 0xFFFFFFFF and vals:
            csize = vals.pop(0)
        if offset == 0xFFFFFFFF and vals:
            offset = vals.pop(0)
        break
    return usize, csize, offset


def _parse_cd(
    data: bytes, count: int, concat: int, end_of_data: int, source: str
) -> list[ZipMember]:
    raw = []
    pos = 0
    for _ in range(count):
        if pos + _CENTRAL.size > len(data):
            raise zipfile.BadZipFile(f"{source}: central directory is truncated")
        f = _CENTRAL.unpack_from(data, pos)
        if f[0] != _SIG_CENTRAL:
            raise zipfile.BadZipFile(f"{source}: bad central directory entry at {pos}")
        flags, method, crc, csize, usize = f[3], f[4], f[7], f[8], f[9]
        n, m, k, ext_attr, offset = f[10], f[11], f[12], f[15], f[16]
        pos += _CENTRAL.size
        name_b = data[pos : pos + n]
        extra = data[pos + n : pos + n + m]
        pos += n + m + k
        name = name_b.decode("utf-8" if flags & 0x800 else "cp437")
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        raw.append((name, offset + concat, csize, usize, crc, method, flags, ext_attr))
    starts = sorted({r[1] for r in raw})
    nxt = {s: e for s, e in zip(starts, starts[1:] + [end_of_data], strict=True)}
    return [
        ZipMember(name, off, cs, us, crc, meth, fl, ea, (off, nxt[off]))
        for name, off, cs, us, crc, meth, fl, ea in raw
    ]


def _read_index(src: _Source) -> ZipIndex:
    size, tail_start, tail = src.tail(TAIL_BYTES)
    pos = tail.rfind(struct.pack("<I", _SIG_EOCD))
    while pos >= 0:  # a comment may contain the signature: want the record that ends the file
        if pos + _EOCD.size <= len(tail):
            comment_len = _EOCD.unpack_from(tail, pos)[7]
            if pos + _EOCD.size + comment_len == len(tail):
                break
        pos = tail.rfind(struct.pack("<I", _SIG_EOCD), 0, pos)
    if pos < 0:
        raise zipfile.BadZipFile(f"{src.name}: no end-of-central-directory record (not a zip?)")
    _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
    eocd_at = tail_start + pos
    record_at = eocd_at  # where the CD must end
    zip64 = False
    loc = pos - _Z64_LOCATOR.size
    if loc >= 0 and struct.unpack_from("<I", tail, loc)[0] == _SIG_Z64_LOCATOR:
        zip64 = True
        declared = _Z64_LOCATOR.unpack_from(tail, loc)[2]
        # Normally the ZIP64 record sits right before the locator; the locator's offset is
        # what the writer recorded (shifted when data was prepended to the archive).
        for at in (eocd_at - _Z64_LOCATOR.size - _Z64_EOCD.size, declared):
            if at < 0 or at + _Z64_EOCD.size > size:
                continue
            if at >= tail_start:
                rec = tail[at - tail_start : at - tail_start + _Z64_EOCD.size]
            else:
                rec = src.read_at(at, _Z64_EOCD.size)
            z = _Z64_EOCD.unpack(rec)
            if z[0] == _SIG_Z64_EOCD:
                count, cd_size, cd_offset = z[7], z[8], z[9]
                record_at = at
                break
        else:
            raise zipfile.BadZipFile(f"{src.name}: bad ZIP64 end-of-central-directory record")
    cd_start = record_at - cd_size
    concat = cd_start - cd_offset
    if concat < 0:
        raise zipfile.BadZipFile(f"{src.name}: central directory offset is out of range")
    if cd_start >= tail_start:
        cd = tail[cd_start - tail_start : cd_start - tail_start + cd_size]
    else:
        cd = src.read_at(cd_start, cd_size)
    members = _parse_cd(cd, count, concat, cd_start, src.name)
    return ZipIndex(src.name, size, tuple(members), cd_start, cd_size, zip64)


def read_index(
    source: str | os.PathLike[str],
    *,
    timeout_s: float = 60,
    retries: int = 5,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
    stats: FetchStats | None = None,
    size: int | None = None,
) -> ZipIndex:
    """Parse the central directory of a zip at a URL (``Range`` requests) or a local path.

    Over HTTP this costs one request for the last 128 KiB (by offset when ``size`` is
    known, else as a suffix), plus one for the CD when it is larger. Raises
    :class:`RangeNotSupportedError` when the server ignores or refuses ``Range``.
    """
    stats = stats if stats is not None else FetchStats()
    src = _source(
        source,
        stats,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
        budget_s=budget_s,
        size=size,
    )
    index = _read_index(src)
    stats.archive_size = index.size
    return index


def list_members(source: str | os.PathLike[str], **kwargs) -> list[str]:
    """Member names of a zip at a URL or a local path (see :func:`read_index`)."""
    return read_index(source, **kwargs).names()


# --------------------------------------------------------------------------- fetching


def _read_exact(reader: _Reader, n: int, what: str) -> bytes:
    chunks = []
    left = n
    while left > 0:
        data = reader.read(min(left, 1 << 20))
        if not data:
            raise _Transient(f"truncated body while reading {what}: {n - left} of {n} bytes")
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


def _skip(reader: _Reader, n: int, what: str) -> None:
    while n > 0:
        n -= len(_read_exact(reader, min(n, 1 << 20), what))


class _Decoder:
    def __init__(self, method: int):
        self.method = method
        if method == DEFLATED:
            self._z = zlib.decompressobj(-15)
        elif method == BZIP2:
            self._b = bz2.BZ2Decompressor()

    def feed(self, data: bytes) -> bytes:
        if self.method == STORED:
            return data
        if self.method == DEFLATED:
            return self._z.decompress(data)
        return self._b.decompress(data)

    def finish(self) -> bytes:
        if self.method == DEFLATED:
            out = self._z.flush()
            if not self._z.eof:
                raise ValueError("deflate stream ended early")
            return out
        if self.method == BZIP2 and not self._b.eof:
            raise ValueError("bzip2 stream ended early")
        return b""


def _extract_one(
    reader: _Reader, m: ZipMember, target: Path, checksum: str | None, source: str, chunk_size: int
) -> None:
    head = _read_exact(reader, _LOCAL.size, f"{m.name} local header")
    f = _LOCAL.unpack(head)
    if f[0] != _SIG_LOCAL:
        raise CorruptMemberError(m.name, "bad local header signature", source)
    n, extra = f[9], f[10]
    name_b = _read_exact(reader, n + extra, f"{m.name} local header")[:n]
    if name_b.decode("utf-8" if f[2] & 0x800 else "cp437") != m.name:
        raise CorruptMemberError(m.name, "local header names another file", source)
    hasher = None
    if checksum is not None:
        algo, _ = parse_checksum(checksum)
        hasher = hashlib.new(algo)
    decoder = _Decoder(m.method)
    crc = 0
    size = 0
    fd, tmp = atomic_writer(target)
    try:
        with os.fdopen(fd, "wb") as out:
            left = m.compressed_size
            while True:
                data = _read_exact(reader, min(left, chunk_size), m.name) if left else b""
                left -= len(data)
                try:
                    plain = decoder.feed(data) if data else decoder.finish()
                except (OSError, ValueError, zlib.error, EOFError) as exc:
                    raise CorruptMemberError(m.name, f"cannot decompress: {exc}", source) from None
                crc = zlib.crc32(plain, crc)
                size += len(plain)
                if hasher is not None:
                    hasher.update(plain)
                out.write(plain)
                if not data:
                    break
        if size != m.file_size:
            raise CorruptMemberError(m.name, f"size {size} != {m.file_size}", source)
        if crc != m.crc32:
            raise CorruptMemberError(
                m.name, f"CRC-32 mismatch: expected {m.crc32:08x}, got {crc:08x}", source
            )
        if hasher is not None:
            algo, expected = parse_checksum(checksum)
            if hasher.hexdigest() != expected:
                raise ChecksumError(
                    url=source,
                    path=target,
                    expected=f"{algo}:{expected}",
                    actual=f"{algo}:{hasher.hexdigest()}",
                )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # data descriptor and anything else up to the next member's header
    _skip(reader, m.span[1] - m.span[0] - _LOCAL.size - n - extra - m.compressed_size, m.name)


def _runs(members: list[ZipMember], max_gap: int, max_request: int) -> list[list[ZipMember]]:
    runs: list[list[ZipMember]] = []
    for m in sorted(members, key=lambda m: m.span[0]):
        if runs:
            first, last = runs[-1][0], runs[-1][-1]
            gap = m.span[0] - last.span[1]
            if 0 <= gap <= max_gap and m.span[1] - first.span[0] <= max_request:
                runs[-1].append(m)
                continue
        runs.append([m])
    return runs


def _resolve(index: ZipIndex, names: Iterable[str]) -> list[ZipMember]:
    wanted = list(dict.fromkeys(names))
    missing = [n for n in wanted if n not in index]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise KeyError(f"not in {index.source}: {', '.join(missing[:5])}{more}")
    return [index[n] for n in wanted]


def fetch_members(
    source: str | os.PathLike[str],
    members: Iterable[str],
    dest: str | os.PathLike[str],
    *,
    index: ZipIndex | None = None,
    checksums: Mapping[str, str] | None = None,
    max_gap: int = 64 * 1024,
    max_request: int = 256 * 1024 * 1024,
    retries: int = 5,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
    timeout_s: float = 60,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    workers: int = 4,
    stats: FetchStats | None = None,
) -> FetchStats:
    """Fetch only ``members`` of the zip at ``source`` (URL or local path) into ``dest``.

    Neighbouring member spans closer than ``max_gap`` bytes share one request (the gap is
    read and dropped) up to ``max_request`` bytes per request. Each member is decompressed
    while streaming, its size and CRC-32 (and ``checksums[name]`` when given) are checked,
    and it is renamed into ``dest/<member path>`` only when it is good. Members already
    present with the right size and CRC-32 are skipped without a request. Names are checked
    like :func:`synthdetect.data.extract.safe_extract` does (no ``..``, absolute paths, symlinks).

    A dropped connection, a short body or a CRC mismatch retries the members not yet
    written (resuming after the last good member), ``retries`` times with backoff; a
    429/503 with ``Retry-After`` waits as asked, within ``budget_s``.
    Up to ``workers`` requests run at once (one per run of neighbouring members); a
    failure stops the remaining ones. ``stats.written`` lists members in archive order.
    """
    stats = stats if stats is not None else FetchStats()
    stats.mode = "ranges" if _is_url(source) else "local"
    src = _source(
        source, stats, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, budget_s=budget_s
    )
    if index is None:
        index = _read_index(src)
    stats.archive_size = index.size
    dest = Path(dest)
    chosen = _resolve(index, members)
    todo: list[tuple[ZipMember, Path]] = []
    for m in chosen:
        target = member_target(dest, m.name, m.external_attr)
        if m.encrypted:
            raise CorruptMemberError(m.name, "is encrypted", src.name)
        if not m.is_dir and m.method not in _METHODS:
            raise CorruptMemberError(m.name, f"unsupported compression method {m.method}", src.name)
        todo.append((m, target))
    dest.mkdir(parents=True, exist_ok=True)
    targets: dict[str, Path] = {}
    for m, target in todo:
        if m.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        prepare_parent(target, dest, m.name)
        if same_file(target, m.file_size, m.crc32) and (
            not checksums or m.name not in checksums or _matches(target, checksums[m.name])
        ):
            stats.skipped.append(m.name)
            continue
        targets[m.name] = target
    pending = [index[name] for name in targets]
    runs = _runs(pending, max_gap, max_request)
    total = sum(r[-1].span[1] - r[0].span[0] for r in runs)
    with tqdm(
        total=total,
        desc=Path(src.name).name or src.name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress or not pending,
    ) as bar:

        def one(run: list[ZipMember]) -> None:
            _fetch_run(
                src,
                run,
                targets,
                checksums or {},
                stats,
                bar,
                retrier=Retrier(src.name, retries=retries, backoff_s=backoff_s, budget_s=budget_s),
                chunk_size=chunk_size,
            )

        if workers <= 1 or len(runs) <= 1:
            for run in runs:
                one(run)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zipfetch") as pool:
                futures = [pool.submit(one, run) for run in runs]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise failed[0].exception()
    stats.written.sort(key=lambda name: index[name].span[0])
    return stats


def _matches(path: Path, checksum: str) -> bool:
    try:
        verify(path, checksum)
    except ChecksumError:
        return False
    return True


def _fetch_run(
    src: _Source,
    run: list[ZipMember],
    targets: dict[str, Path],
    checksums: Mapping[str, str],
    stats: FetchStats,
    bar,
    *,
    retrier: Retrier,
    chunk_size: int,
) -> None:
    left = list(run)
    while left:
        start, end = left[0].span[0], left[-1].span[1]
        done_before = len(left)
        try:
            with src.stream(start, end) as reader:
                pos = start
                while left:
                    m = left[0]
                    _skip(reader, m.span[0] - pos, "gap between members")
                    _extract_one(
                        reader, m, targets[m.name], checksums.get(m.name), src.name, chunk_size
                    )
                    bar.update(m.span[1] - pos)
                    pos = m.span[1]
                    stats.written.append(m.name)
                    left.pop(0)
            continue
        except RangeNotSupportedError:
            raise
        except Exception as exc:
            retryable = is_transient(exc) or isinstance(exc, (CorruptMemberError, ChecksumError))
            if not retryable:
                if isinstance(exc, urllib.error.HTTPError):
                    raise _http_error(src.name, exc, None) from exc
                raise
            last = exc
        if len(left) < done_before:
            retrier.progressed()
        if not retrier.wait(last, f" ({len(left)} members left)"):
            if isinstance(last, (CorruptMemberError, ChecksumError)):
                raise last
            raise DownloadError(
                f"{src.name}: giving up after {retrier.retries} retries: {_describe(last)}",
                url=src.name,
            ) from last
