"""Archives hosted on Zenodo: the record API's checksums, with the configured ones as the
fallback.

A record's API answer (``GET <api>/records/<id>``) lists each file's key, size and md5.
The config names the record (``zenodo_record``), the API (``zenodo_api``, a schema
default) and a checksum per archive, so the run verifies against Zenodo's own value and
still works when the API cannot be reached. Nothing here hard-codes a record or a URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from synthdetect.data.http import (
    RETRY_BUDGET_S,
    DownloadError,
    open_url,
    parse_checksum,
    with_retries,
)

__all__ = [
    "ZenodoChecksums",
    "ZenodoFile",
    "fetch_zenodo_checksums",
    "fetch_zenodo_record",
    "resolve_checksums",
    "zenodo_checksums",
    "zenodo_files",
]

log = logging.getLogger(__name__)


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
    api_url: str,
    timeout_s: float = 30,
    retries: int = 3,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
) -> dict:
    """GET a Zenodo record's JSON. ``api_url`` may contain ``{record_id}`` (the config's
    ``zenodo_api``)."""
    url = api_url.format(record_id=record_id)

    def attempt() -> dict:
        with open_url(url, headers={"Accept": "application/json"}, timeout_s=timeout_s) as r:
            return json.loads(r.read().decode("utf-8"))

    return with_retries(attempt, url=url, retries=retries, backoff_s=backoff_s, budget_s=budget_s)


def fetch_zenodo_checksums(record_id: int | str, *, api_url: str, **kwargs) -> dict[str, str]:
    """``{filename: 'md5:...'}`` from Zenodo's record API, at run time."""
    return zenodo_checksums(fetch_zenodo_record(record_id, api_url=api_url, **kwargs))


def resolve_checksums(
    names: Iterable[str],
    *,
    published: Mapping[str, str] | None = None,
    live: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Checksum to use per file: the record API's (``live``) when it has one, else the
    configured (``published``) one. A disagreement is logged -- the record's own value
    wins, since the record is what the bytes are served from."""
    out: dict[str, str | None] = {}
    for name in names:
        pub = (published or {}).get(name)
        cur = (live or {}).get(name)
        if cur and pub and cur.lower() != pub.lower():
            log.warning("%s: Zenodo says %s, the config says %s; using Zenodo's", name, cur, pub)
        out[name] = cur or pub
    return out


class ZenodoChecksums:
    """An archive's checksum: the Zenodo record's md5 where the record API offers one,
    else the configured one.

    The record is asked (once, lazily) only when a checksum is needed: before downloading a
    whole archive, or for a local copy without a configured checksum. A selective fetch
    checks each member's CRC-32 instead and never asks. An unreachable API is logged and
    the configured checksum is used. ``record=None`` means "configured checksums only".
    """

    def __init__(
        self,
        record: int | str | None,
        api_url: str = "",
        *,
        fetch: Callable[..., dict[str, str]] = fetch_zenodo_checksums,
        retries: int = 2,
        timeout_s: float = 30.0,
        budget_s: float = RETRY_BUDGET_S,
    ):
        if record is not None and not api_url:
            raise ValueError(f"Zenodo record {record}: no record API URL (config zenodo_api)")
        self.record = record
        self.api_url = api_url
        self._fetch = fetch
        self._retries = retries
        self._timeout_s = timeout_s
        self._budget_s = budget_s
        self._live: dict[str, str] | None = None

    @property
    def described(self) -> str:
        """Where the live checksums come from, for the log."""
        return f"Zenodo record {self.record}"

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
                    budget_s=self._budget_s,
                )
                log.info("%s lists %d checksums", self.described, len(self._live))
            except (DownloadError, OSError, ValueError) as exc:
                log.warning(
                    "cannot read %s (%s); using the configured checksums", self.described, exc
                )
                self._live = {}
        return self._live

    def for_download(self, ref) -> str | None:
        """The checksum to verify a whole download of ``ref`` (an ``ArchiveRef``) against."""
        published = {ref.name: ref.checksum} if ref.checksum else {}
        return resolve_checksums([ref.name], published=published, live=self.live())[ref.name]

    def for_local(self, ref) -> str | None:
        """The checksum of a local copy: the configured one first (no request needed)."""
        return ref.checksum or self.live().get(ref.name)
