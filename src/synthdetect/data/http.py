"""Resumable, verified HTTP downloads (standard library + tqdm).

``download(url, dest, checksum=...)`` writes to ``dest.part`` next to ``dest``, resumes that
file with an HTTP ``Range`` request after a dropped connection, retries transient failures
with exponential backoff, verifies the checksum and only then renames the file to ``dest``.
A file that fails its checksum is deleted and reported with the URL, the expected and the
actual digest.

Rate limits: Zenodo answers bursts with 429 and ``Retry-After`` (its window is a minute), so
a 429 or 503 that names a wait is waited out as asked -- without using up a retry -- as long
as the total waiting of one request stays within a retry budget (:data:`RETRY_BUDGET_S`).

The small HTTP helpers here (``open_url``, ``open_range``, ``probe``, ``with_retries``,
:class:`Retrier`) are shared by :mod:`synthdetect.data.zipfetch` and
:mod:`synthdetect.data.zenodo`.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import logging
import os
import re
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import sleep
from typing import TypeVar

from tqdm import tqdm

__all__ = [
    "ChecksumError",
    "DownloadError",
    "HTTPStatusError",
    "RETRY_BUDGET_S",
    "RangeNotSupportedError",
    "RemoteInfo",
    "Retrier",
    "download",
    "file_digest",
    "open_range",
    "open_url",
    "parse_checksum",
    "probe",
    "retry_after_s",
    "supports_ranges",
    "verify",
    "with_retries",
]

log = logging.getLogger(__name__)

USER_AGENT = "synthdetect/0.1 (+https://github.com/; dataset downloader)"
PATH_HINT = (
    "If you already have this file, point the source's `path:` key in the config at the "
    "local copy instead of downloading it."
)
_HEX_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_RETRY_STATUS = {408, 425, 429}
# "not implemented" / "version not supported" will not change on a retry
_PERMANENT_5XX = {501, 505}
_RATE_LIMITED = {429, 503}
# Statuses with which a server refuses a Range request it cannot serve (instead of 200).
RANGE_REFUSED = {416, 501}
MAX_BACKOFF_S = 60.0
#: Seconds one request may spend waiting between attempts. Zenodo's guest limits are per
#: minute (60 requests) and per hour; a 429's Retry-After lasts up to the minute's end.
RETRY_BUDGET_S = 300.0

T = TypeVar("T")


class DownloadError(RuntimeError):
    """A download failed for good; the message names the URL."""

    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(message)
        self.url = url


class HTTPStatusError(DownloadError):
    """The server answered with an HTTP error status that retrying will not fix."""

    def __init__(self, message: str, *, url: str, status: int):
        super().__init__(message, url=url)
        self.status = status


class ChecksumError(DownloadError):
    """A file's digest differs from the expected one (the bad file has been deleted)."""

    def __init__(self, *, url: str | None, path: Path, expected: str, actual: str):
        where = f" downloaded from {url}" if url else ""
        super().__init__(
            f"checksum mismatch for {path}{where}: expected {expected}, got {actual}",
            url=url,
        )
        self.path = path
        self.expected = expected
        self.actual = actual


class RangeNotSupportedError(DownloadError):
    """The server ignored a ``Range`` request (answered 200 with the whole file) or refused
    it (416, 501)."""


class _Transient(Exception):
    """Internal: a failure worth retrying (truncated body, unexpected range answer...)."""


# --------------------------------------------------------------------------- checksums


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"sha1:abc..."`` -> ``("sha1", "abc...")``. A bare hex digest is typed by its length."""
    text = checksum.strip()
    if ":" in text:
        algo, _, digest = text.partition(":")
        algo = algo.strip().lower().replace("-", "")
    else:
        digest = text
        algo = _HEX_BY_LENGTH.get(len(digest), "")
    digest = digest.strip().lower()
    if not algo or algo not in hashlib.algorithms_available:
        raise ValueError(f"unsupported checksum {checksum!r}: use 'md5:', 'sha1:' or 'sha256:'")
    if not re.fullmatch(r"[0-9a-f]+", digest):
        raise ValueError(f"checksum {checksum!r} is not a hex digest")
    return algo, digest


def file_digest(path: str | os.PathLike[str], algo: str, *, chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file with any ``hashlib`` algorithm."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | os.PathLike[str], checksum: str, *, url: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the given ``"algo:hex"`` digest."""
    algo, expected = parse_checksum(checksum)
    actual = file_digest(path, algo)
    if actual != expected:
        raise ChecksumError(
            url=url, path=Path(path), expected=f"{algo}:{expected}", actual=f"{algo}:{actual}"
        )


# --------------------------------------------------------------------------- HTTP helpers


def _request(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    base = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    base.update(headers or {})
    return urllib.request.Request(url, headers=base, method=method)


def _http_error(url: str, exc: urllib.error.HTTPError, hint: str | None) -> HTTPStatusError:
    msg = f"GET {url} failed: HTTP {exc.code} {exc.reason}."
    if exc.code in (401, 403, 404, 410):
        msg += " " + (hint or PATH_HINT)
    return HTTPStatusError(msg, url=url, status=exc.code)


def is_transient(exc: BaseException) -> bool:
    """True for failures a retry may fix: connection errors, timeouts, 5xx, short bodies."""
    if isinstance(exc, urllib.error.HTTPError):
        return (exc.code >= 500 and exc.code not in _PERMANENT_5XX) or exc.code in _RETRY_STATUS
    if isinstance(exc, urllib.error.URLError):
        # a bad certificate or an unsupported URL scheme will not fix itself
        return not isinstance(exc.reason, (ssl.SSLCertVerificationError, str))
    return isinstance(
        exc,
        (
            _Transient,
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            socket.timeout,
        ),
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _backoff(attempt: int, backoff_s: float) -> float:
    return min(MAX_BACKOFF_S, backoff_s * (2 ** max(0, attempt - 1)))


def retry_after_s(exc: BaseException) -> float | None:
    """The wait a 429 or 503 answer asks for in ``Retry-After`` (seconds or an HTTP-date);
    ``None`` for other failures or without a usable header."""
    if not isinstance(exc, urllib.error.HTTPError) or exc.code not in _RATE_LIMITED:
        return None
    value = (exc.headers.get("Retry-After") if exc.headers else None) or ""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Retrier:
    """The waits between the attempts of one request.

    A failure that names its wait (429/503 with ``Retry-After``) is waited out as asked and
    does not use up a retry; any other transient failure uses one and waits
    ``backoff_s * 2**k`` (at most a minute). All waits together stay within ``budget_s``:
    a ``Retry-After`` beyond what is left of it fails at once, naming the URL and the wait.
    :meth:`progressed` starts a fresh streak (an attempt that moved the transfer forward).
    """

    def __init__(
        self,
        url: str,
        *,
        retries: int,
        backoff_s: float,
        budget_s: float = RETRY_BUDGET_S,
        what: str = "GET",
    ):
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.budget_s = budget_s
        self.what = what
        self.attempt = 0
        self.waited = 0.0

    def progressed(self) -> None:
        self.attempt = 0
        self.waited = 0.0

    def wait(self, exc: BaseException, detail: str = "") -> bool:
        """Sleep before the next attempt after ``exc``; ``False`` when out of retries (the
        caller raises its own error)."""
        asked = retry_after_s(exc)
        if asked is not None:
            if self.waited + asked > self.budget_s:
                raise DownloadError(
                    f"{self.what} {self.url}: {_describe(exc)} asks to wait {asked:.0f} s "
                    f"(Retry-After), more than is left of the {self.budget_s:.0f} s retry "
                    f"budget ({self.waited:.0f} s waited); try again later or raise the "
                    f"source's retry_budget_s",
                    url=self.url,
                ) from exc
            log.warning(
                "%s %s: %s%s; waiting %.1f s as Retry-After asks (%.0f of %.0f s budget used)",
                self.what,
                self.url,
                _describe(exc),
                detail,
                asked,
                self.waited,
                self.budget_s,
            )
            pause = asked
        else:
            self.attempt += 1
            pause = _backoff(self.attempt, self.backoff_s)
            if self.attempt > self.retries or self.waited + pause > self.budget_s:
                return False
            log.warning(
                "%s %s: %s%s; retry %d/%d in %.1f s",
                self.what,
                self.url,
                _describe(exc),
                detail,
                self.attempt,
                self.retries,
                pause,
            )
        sleep(pause)
        self.waited += pause
        return True


def with_retries(
    fn: Callable[[], T],
    *,
    url: str,
    retries: int = 5,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
    hint: str | None = None,
    what: str = "GET",
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures (see :class:`Retrier`).

    Non-transient HTTP errors become :class:`HTTPStatusError`; running out of retries raises
    :class:`DownloadError` naming the URL and the last failure.
    """
    retrier = Retrier(url, retries=retries, backoff_s=backoff_s, budget_s=budget_s, what=what)
    while True:
        try:
            return fn()
        except urllib.error.HTTPError as exc:
            if not is_transient(exc):
                raise _http_error(url, exc, hint) from exc
            last: BaseException = exc
        except Exception as exc:  # noqa: BLE001 - classified right below
            if not is_transient(exc):
                raise
            last = exc
        if not retrier.wait(last):
            raise DownloadError(
                f"{what} {url} failed after {retrier.attempt} attempts: {_describe(last)}",
                url=url,
            ) from last


def open_url(
    url: str, *, headers: dict[str, str] | None = None, timeout_s: float = 60, method: str = "GET"
) -> http.client.HTTPResponse:
    """``urlopen`` with our headers; HTTP errors propagate as ``urllib.error.HTTPError``."""
    return urllib.request.urlopen(_request(url, headers, method), timeout=timeout_s)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``"bytes 0-99/1234"`` -> ``(0, 99, 1234)``; ``None`` when absent or unparsable."""
    if not value:
        return None
    m = _CONTENT_RANGE.search(value)
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


@contextlib.contextmanager
def open_range(
    url: str, start: int, end: int | None = None, *, timeout_s: float = 60
) -> Iterator[tuple[http.client.HTTPResponse, int, int, int | None]]:
    """Open ``bytes=start-end`` (``end`` inclusive; ``start < 0`` asks for the last ``-start``
    bytes). Yields ``(response, first, last, total)`` from the server's ``Content-Range``.

    Raises :class:`RangeNotSupportedError` when the server answers 200 (whole file) or
    refuses the range (416, 501).
    """
    tail = "" if end is None else str(end)
    spec = f"bytes={start}" if start < 0 else f"bytes={start}-{tail}"
    try:
        resp = open_url(url, headers={"Range": spec}, timeout_s=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code in RANGE_REFUSED:
            raise RangeNotSupportedError(
                f"{url} refused the Range request {spec} (HTTP {exc.code} {exc.reason})", url=url
            ) from exc
        raise
    try:
        if resp.status != 206:
            raise RangeNotSupportedError(
                f"{url} ignored the Range request (HTTP {resp.status})", url=url
            )
        cr = parse_content_range(resp.headers.get("Content-Range"))
        if cr is None:
            raise _Transient(f"206 without a valid Content-Range from {url}")
        first, last, total = cr
        if start >= 0 and (first != start or (end is not None and last != end)):
            raise _Transient(f"asked {url} for {spec}, got bytes {first}-{last}")
        yield resp, first, last, total
    finally:
        resp.close()


@dataclass(frozen=True)
class RemoteInfo:
    """What a 1-byte ``Range`` probe tells about a URL."""

    url: str
    size: int | None
    accepts_ranges: bool


def probe(
    url: str,
    *,
    timeout_s: float = 60,
    retries: int = 5,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
    hint: str | None = None,
) -> RemoteInfo:
    """Ask for ``bytes=0-0``: a 206 with a ``Content-Range`` means ranges work; a 200 or
    a refusal (416, 501) means they do not. The size comes from ``Content-Range`` (or
    ``Content-Length`` of a 200); when neither tells, a ``HEAD`` is asked."""

    def attempt() -> RemoteInfo:
        try:
            resp = open_url(url, headers={"Range": "bytes=0-0"}, timeout_s=timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code not in RANGE_REFUSED:
                raise
            return RemoteInfo(url, _head_size(url, timeout_s), False)
        with resp:
            if resp.status == 206:
                cr = parse_content_range(resp.headers.get("Content-Range"))
                if cr is not None:
                    size = cr[2] if cr[2] is not None else _head_size(url, timeout_s)
                    return RemoteInfo(url, size, True)
            length = resp.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() and resp.status == 200 else None
            return RemoteInfo(url, size, False)

    return with_retries(
        attempt, url=url, retries=retries, backoff_s=backoff_s, budget_s=budget_s, hint=hint
    )


def _head_size(url: str, timeout_s: float) -> int | None:
    """``Content-Length`` of a ``HEAD`` (``None`` when the server will not say)."""
    try:
        with open_url(url, timeout_s=timeout_s, method="HEAD") as resp:
            length = resp.headers.get("Content-Length")
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None
    return int(length) if length and length.isdigit() else None


def supports_ranges(
    url: str, *, timeout_s: float = 60, retries: int = 5, backoff_s: float = 1.0
) -> bool:
    """True when the server honours byte ``Range`` requests for ``url``."""
    return probe(url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s).accepts_ranges


# --------------------------------------------------------------------------- download


def _progress_bar(total: int | None, desc: str, enabled: bool) -> tqdm:
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        mininterval=0.5 if tty else 30.0,
        leave=tty,
    )


def _attempt(url: str, part: Path, *, timeout_s: float, chunk_size: int, bar: tqdm) -> int:
    """One GET (resuming ``part`` when it has bytes). Returns bytes received; raises on a
    short body or transient failure, leaving the bytes received so far in ``part``."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = open_url(url, headers=headers, timeout_s=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            cr = exc.headers.get("Content-Range", "") if exc.headers else ""
            m = re.search(r"/(\d+)", cr)
            if m and int(m.group(1)) == offset:
                return 0  # the partial file is already complete
            log.warning("%s: cannot resume at byte %d (HTTP 416); restarting", url, offset)
            part.unlink(missing_ok=True)
            raise _Transient("range not satisfiable; restarting from scratch") from exc
        raise
    with resp:
        if offset and resp.status == 206:
            cr = parse_content_range(resp.headers.get("Content-Range"))
            if cr is None or cr[0] != offset:
                part.unlink(missing_ok=True)
                raise _Transient(f"bad resume answer (Content-Range {cr}); restarting")
            mode = "ab"
            total = cr[2]
        elif resp.status == 200:
            if offset:
                log.info("%s ignored Range; restarting the download from byte 0", url)
                offset = 0
            mode = "wb"
            total = None
        else:
            raise DownloadError(f"GET {url}: unexpected HTTP {resp.status}", url=url)
        length_h = resp.headers.get("Content-Length")
        length = int(length_h) if length_h and length_h.isdigit() else None
        if total is None and length is not None:
            total = offset + length
        bar.reset(total=total)
        bar.update(offset)
        received = 0
        with open(part, mode) as f:
            try:
                while True:
                    chunk = resp.read(chunk_size)
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                f.flush()
                os.fsync(f.fileno())
        if length is not None and received < length:
            raise _Transient(f"truncated body: got {received} of {length} bytes")
        return received


def fetch_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    hint: str | None = None,
    budget_s: float = RETRY_BUDGET_S,
) -> tuple[Path, int]:
    """Like :func:`download` but also returns the number of bytes transferred."""
    dest = Path(dest)
    if checksum is not None:
        parse_checksum(checksum)  # fail fast on a malformed checksum
    if dest.exists():
        if checksum is None:
            return dest, 0
        try:
            verify(dest, checksum, url=url)
            return dest, 0
        except ChecksumError as exc:
            log.warning("%s; deleting it and downloading again", exc)
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    transferred = 0
    retrier = Retrier(url, retries=retries, backoff_s=backoff_s, budget_s=budget_s)
    with _progress_bar(None, dest.name, progress) as bar:
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                transferred += _attempt(
                    url, part, timeout_s=timeout_s, chunk_size=chunk_size, bar=bar
                )
                break
            except urllib.error.HTTPError as exc:
                if not is_transient(exc):
                    raise _http_error(url, exc, hint) from exc
                last: BaseException = exc
            except Exception as exc:  # noqa: BLE001 - classified right below
                if not is_transient(exc):
                    raise
                last = exc
            after = part.stat().st_size if part.exists() else 0
            transferred += max(0, after - before)
            # A failed attempt that still moved the file forward does not use up a retry.
            if after > before:
                retrier.progressed()
            if not retrier.wait(last, f" (have {after} bytes)"):
                raise DownloadError(
                    f"GET {url} failed after {retries} retries: {_describe(last)}; the partial "
                    f"download is kept in {part} and resumes on the next run",
                    url=url,
                ) from last
    if checksum is not None:
        try:
            verify(part, checksum, url=url)
        except ChecksumError as exc:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                url=url, path=dest, expected=exc.expected, actual=exc.actual
            ) from None
    os.replace(part, dest)
    log.info("downloaded %s -> %s", url, dest)
    return dest, transferred


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    budget_s: float = RETRY_BUDGET_S,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, retried, verified, atomic) and return ``dest``.

    - An existing ``dest`` is kept when it matches ``checksum`` (or when none is given); a
      mismatching one is replaced.
    - Bytes go to ``dest.part``; after a dropped connection or a short body the next attempt
      asks for ``Range: bytes=<size of .part>-``. A server that ignores ``Range`` (HTTP 200)
      restarts the file cleanly.
    - Connection errors, timeouts, HTTP 5xx/429 and truncated bodies (fewer bytes than
      ``Content-Length``) are retried ``retries`` times with ``backoff_s * 2**k`` seconds
      between attempts (an attempt that made progress does not count); a 429/503 with
      ``Retry-After`` waits as asked, within ``budget_s`` (:class:`Retrier`).
    - ``checksum`` (``"sha1:..."``, ``"md5:..."``, ``"sha256:..."``) is verified before the
      rename; on mismatch ``dest.part`` is deleted and :class:`ChecksumError` names the URL,
      the expected and the actual digest.
    - HTTP 404/403/410 raise :class:`HTTPStatusError` naming the URL and the ``path:`` key.
    """
    path, _ = fetch_file(
        url,
        dest,
        checksum=checksum,
        retries=retries,
        backoff_s=backoff_s,
        timeout_s=timeout_s,
        progress=progress,
        chunk_size=chunk_size,
        budget_s=budget_s,
    )
    return path
