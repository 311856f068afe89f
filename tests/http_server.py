"""A loopback HTTP server for download tests: Range support, fault injection, byte counting.

Usage (plain)::

    with LoopbackServer({"/a.zip": data}) as srv:
        url = srv.url("/a.zip")
        srv.fault("/a.zip", status=500, times=2)   # two 500s, then healthy
        srv.fault("/a.zip", status=429, headers={"Retry-After": "1"})  # rate limited
        srv.suffix_status = 416                    # refuse "bytes=-N" ranges
        ...
        srv.bytes_served("/a.zip"), srv.requests_for("/a.zip")

As a pytest fixture named ``http_server`` (a fresh, started server per test): list this
module in ``pytest_plugins`` of ``tests/conftest.py``, or import the fixture object into a
test module (``from http_server import http_server_fixture  # noqa: F401``).

Files are ``bytes`` or ``pathlib.Path`` values keyed by URL path, or come from ``root=``
(a directory served as-is). The server only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

__all__ = ["Fault", "LoopbackServer", "RequestRecord", "http_server_fixture"]


@dataclass
class Fault:
    """Misbehaviour for requests to one path. ``times`` requests are affected (``None``:
    all of them), after which the path behaves normally.

    - ``status``: answer with this HTTP status and a short body (e.g. 500, 503, 404),
      with ``headers`` (e.g. ``{"Retry-After": "1"}``).
    - ``serve``: answer with these bytes instead of the file, with headers that agree
      (e.g. a copy cut short by the host).
    - ``truncate_at``: send the full ``Content-Length`` but only this many body bytes, then
      close the connection cleanly (a short body).
    - ``drop_at``: send this many body bytes, then reset the connection (RST).
    - ``corrupt``: flip the bits of every body byte at these absolute file offsets
      (default: the middle byte of the file).
    - ``ignore_range``: answer 200 with the whole file even when ``Range`` was asked.
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    serve: bytes | None = None
    truncate_at: int | None = None
    drop_at: int | None = None
    corrupt: bool = False
    corrupt_offsets: tuple[int, ...] | None = None
    ignore_range: bool = False
    times: int | None = 1


@dataclass
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class LoopbackServer:
    """Threaded HTTP/1.0 server on 127.0.0.1 with an ephemeral port.

    ``range_status`` answers every ``Range`` request with that status (e.g. 501),
    ``suffix_status`` only suffix ranges (``bytes=-N``, e.g. 416 or 501), as some hosts do.
    """

    def __init__(
        self,
        files: dict[str, bytes | Path] | None = None,
        *,
        root: str | Path | None = None,
        ranges: bool = True,
        chunk_size: int = 64 * 1024,
    ):
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.files: dict[str, bytes | Path] = {}
        #: extra response headers per path (e.g. a paginated API's ``Link``)
        self.headers: dict[str, dict[str, str]] = {}
        for path, data in (files or {}).items():
            self.add(path, data)
        self.root = Path(root) if root is not None else None
        self.ranges = ranges
        self.range_status: int | None = None
        self.suffix_status: int | None = None
        self.chunk_size = chunk_size
        self.records: list[RequestRecord] = []
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- configuration
    def add(
        self, path: str, data: bytes | Path | str, headers: dict[str, str] | None = None
    ) -> str:
        """Serve ``data`` (bytes or a file path) at ``path``, with ``headers`` added to its
        answers; returns its URL once started."""
        path = path if path.startswith("/") else "/" + path
        self.files[path] = Path(data) if isinstance(data, str) else data
        if headers:
            self.headers[path] = dict(headers)
        return self.url(path) if self._httpd else path

    def fault(self, path: str, **kwargs) -> Fault:
        """Queue a :class:`Fault` for ``path`` (faults apply in the order queued)."""
        path = path if path.startswith("/") else "/" + path
        f = Fault(**kwargs)
        with self._lock:
            self._faults.setdefault(path, []).append(f)
        return f

    def clear_faults(self, path: str | None = None) -> None:
        """Drop the queued faults (of ``path`` only, when given)."""
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path if path.startswith("/") else "/" + path, None)

    def reset_counts(self) -> None:
        with self._lock:
            self.records.clear()

    # ---------------------------------------------------------------- inspection
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def requests_for(self, path: str | None = None, method: str | None = None):
        with self._lock:
            return [
                r
                for r in self.records
                if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    def bytes_served(self, path: str | None = None) -> int:
        """Body bytes written to sockets (for ``path``, or in total)."""
        return sum(r.body_bytes for r in self.requests_for(path))

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> LoopbackServer:
        server = self

        class Handler(_Handler):
            srv = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- internals
    def _lookup(self, path: str) -> bytes | Path | None:
        if path in self.files:
            return self.files[path]
        if self.root is not None:
            candidate = (self.root / path.lstrip("/")).resolve()
            root = self.root.resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                return candidate
        return None

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            f = queue[0]
            if f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    queue.pop(0)
            return f

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.records.append(rec)


class _Handler(BaseHTTPRequestHandler):
    srv: LoopbackServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        rng = self.headers.get("Range")
        rec = RequestRecord(self.command, path, rng, 0, headers=dict(self.headers.items()))
        # recorded before answering (and counted before each write) so that a client that
        # has read a response always sees it counted
        self.srv._record(rec)
        self._respond(path, rng, head, rec)

    def _send_simple(self, rec: RequestRecord, status: int, body: bytes = b"", **headers):
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        if self.command != "HEAD" and body:
            rec.body_bytes += len(body)
            self.wfile.write(body)

    def _respond(self, path: str, rng: str | None, head: bool, rec: RequestRecord) -> None:
        data = self.srv._lookup(path)
        if data is None:
            self._send_simple(rec, 404, b"not found\n")
            return
        fault = self.srv._take_fault(path)
        if fault is not None and fault.status is not None:
            body = f"injected {fault.status}\n".encode()
            self._send_simple(rec, fault.status, body, **fault.headers)
            return
        if fault is not None and fault.serve is not None:
            data = fault.serve
        refused = self.srv.range_status
        if rng and rng.strip().startswith("bytes=-") and self.srv.suffix_status:
            refused = self.srv.suffix_status
        if rng and refused:
            self._send_simple(rec, refused, f"range refused ({refused})\n".encode())
            return
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        start, end, status = 0, size - 1, 200
        use_range = self.srv.ranges and not (fault and fault.ignore_range)
        if rng and use_range:
            m = _RANGE.match(rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                self._send_simple(rec, 416, Content_Range=f"bytes */{size}")
                return
            a, b = m.group(1), m.group(2)
            if a == "":  # suffix range: last b bytes
                start, end = max(0, size - int(b)), size - 1
            else:
                start, end = int(a), min(size - 1, int(b)) if b else size - 1
            if start >= size or start > end:
                self._send_simple(rec, 416, Content_Range=f"bytes */{size}")
                return
            status = 206
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", _content_type(path))
        self.send_header("Content-Length", str(end - start + 1))
        if self.srv.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for key, value in self.srv.headers.get(path, {}).items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        limit = end - start + 1
        cut = None
        if fault is not None:
            for lim in (fault.truncate_at, fault.drop_at):
                if lim is not None:
                    cut = min(limit, lim)
        sent = 0
        bad = set()
        if fault is not None and fault.corrupt:
            bad = set(fault.corrupt_offsets or (size // 2,))
        try:
            for offset, chunk in _chunks(data, start, end + 1, self.srv.chunk_size):
                if cut is not None and sent + len(chunk) > cut:
                    chunk = chunk[: cut - sent]
                if bad:
                    chunk = _flip(chunk, offset, bad)
                if chunk:
                    sent += len(chunk)
                    rec.body_bytes = sent
                    try:
                        self.wfile.write(chunk)
                    except OSError:
                        rec.body_bytes -= len(chunk)  # client went away; not served
                        raise
                if cut is not None and sent >= cut:
                    break
        except OSError:  # BrokenPipe / ConnectionReset: the client hung up
            return
        if fault is not None and fault.drop_at is not None:
            _reset(self.connection)
        self.close_connection = True


def _chunks(data: bytes | Path, start: int, stop: int, size: int):
    if isinstance(data, bytes):
        for off in range(start, stop, size):
            yield off, data[off : min(stop, off + size)]
        return
    with open(data, "rb") as f:
        f.seek(start)
        off = start
        while off < stop:
            block = f.read(min(size, stop - off))
            if not block:
                return
            yield off, block
            off += len(block)


def _flip(chunk: bytes, offset: int, bad: set[int]) -> bytes:
    hits = [o - offset for o in bad if offset <= o < offset + len(chunk)]
    if not hits:
        return chunk
    buf = bytearray(chunk)
    for i in hits:
        buf[i] ^= 0xFF
    return bytes(buf)


def _reset(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


def _content_type(path: str) -> str:
    if path.endswith(".json") or "/api/" in path:
        return "application/json"
    if path.endswith(".zip"):
        return "application/zip"
    return "application/octet-stream"


@pytest.fixture(name="http_server")
def http_server_fixture():
    """A started :class:`LoopbackServer` with no files; add them with ``.add(path, data)``."""
    with LoopbackServer() as srv:
        yield srv
