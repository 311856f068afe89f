"""synthdetect.data.http against a loopback server with injected faults."""

from __future__ import annotations

import email.utils
import hashlib
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from http_server import LoopbackServer
from http_server import http_server_fixture as http_server_fixture  # noqa: F401

from synthdetect.data import http
from synthdetect.data.http import (
    ChecksumError,
    DownloadError,
    HTTPStatusError,
    download,
    parse_checksum,
    probe,
    supports_ranges,
    verify,
    with_retries,
)

SIZE = 300_000
FAST = {"backoff_s": 0.01, "timeout_s": 10, "progress": False, "chunk_size": 16 * 1024}


@pytest.fixture(scope="module")
def payload() -> bytes:
    return np.random.default_rng(1).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_plain_download_verifies_and_renames(http_server, payload, tmp_path):
    url = http_server.add("/data/a.bin", payload)
    dest = tmp_path / "sub" / "a.bin"
    out = download(url, dest, checksum=sha256(payload), **FAST)
    assert out == dest and dest.read_bytes() == payload
    assert not (tmp_path / "sub" / "a.bin.part").exists()
    assert len(http_server.requests_for("/data/a.bin")) == 1
    # an existing file with the right checksum is not fetched again
    download(url, dest, checksum=sha256(payload), **FAST)
    assert len(http_server.requests_for("/data/a.bin")) == 1


def test_existing_file_with_wrong_checksum_is_replaced(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"stale")
    download(url, dest, checksum=sha256(payload), **FAST)
    assert dest.read_bytes() == payload


def test_resume_after_dropped_connection(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", drop_at=SIZE // 3)
    dest = tmp_path / "a.bin"
    download(url, dest, checksum=sha256(payload), **FAST)
    assert dest.read_bytes() == payload
    reqs = http_server.requests_for("/a.bin")
    assert len(reqs) == 2
    assert reqs[0].range is None
    start = int(reqs[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= SIZE // 3
    assert reqs[1].status == 206
    assert http_server.bytes_served("/a.bin") < 2 * SIZE


def test_resume_from_a_part_file_left_by_an_earlier_run(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(payload[:100_000])
    download(url, dest, checksum=sha256(payload), **FAST)
    assert dest.read_bytes() == payload
    (req,) = http_server.requests_for("/a.bin")
    assert req.range == "bytes=100000-"
    assert http_server.bytes_served("/a.bin") == SIZE - 100_000


def test_complete_part_file_is_finished_without_refetching(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    (tmp_path / "a.bin.part").write_bytes(payload)
    download(url, tmp_path / "a.bin", checksum=sha256(payload), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert [r.status for r in http_server.requests_for("/a.bin")] == [416]
    assert http_server.bytes_served("/a.bin") == 0


def test_http_500_then_success(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", status=500, times=3)
    download(url, tmp_path / "a.bin", checksum=sha256(payload), retries=5, **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert [r.status for r in http_server.requests_for("/a.bin")] == [500, 500, 500, 200]


def test_http_5xx_gives_up_after_retries_naming_the_url(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", status=503, times=None)
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "a.bin", retries=2, **FAST)
    assert url in str(err.value) and "503" in str(err.value)
    assert len(http_server.requests_for("/a.bin")) == 3
    assert not (tmp_path / "a.bin").exists()


def test_truncated_body_is_detected_and_resumed(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", truncate_at=1000)
    download(url, tmp_path / "a.bin", checksum=sha256(payload), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    reqs = http_server.requests_for("/a.bin")
    assert [r.range for r in reqs] == [None, "bytes=1000-"]


def test_truncation_is_caught_even_without_a_checksum(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", truncate_at=0, times=None)  # headers, then nothing
    with pytest.raises(DownloadError, match="truncated"):
        download(url, tmp_path / "a.bin", retries=2, **FAST)
    assert not (tmp_path / "a.bin").exists()
    assert len(http_server.requests_for("/a.bin")) == 3


def test_checksum_mismatch_deletes_the_file_and_names_everything(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", corrupt=True, times=None)
    good = sha256(payload)
    bad = payload[: SIZE // 2] + bytes([payload[SIZE // 2] ^ 0xFF]) + payload[SIZE // 2 + 1 :]
    with pytest.raises(ChecksumError) as err:
        download(url, tmp_path / "a.bin", checksum=good, **FAST)
    msg = str(err.value)
    assert url in msg and good in msg and sha256(bad) in msg
    assert err.value.expected == good and err.value.actual == sha256(bad)
    assert os.listdir(tmp_path) == []


def test_server_without_range_support_restarts_cleanly(payload, tmp_path):
    with LoopbackServer({"/a.bin": payload}, ranges=False) as srv:
        (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)  # junk from an earlier run
        srv.fault("/a.bin", drop_at=SIZE // 2)
        download(srv.url("/a.bin"), tmp_path / "a.bin", checksum=sha256(payload), **FAST)
        assert (tmp_path / "a.bin").read_bytes() == payload
        assert [r.status for r in srv.requests_for("/a.bin")] == [200, 200]
        assert not supports_ranges(srv.url("/a.bin"))


def test_range_ignored_on_resume_restarts_cleanly(http_server, payload, tmp_path):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", drop_at=SIZE // 2)
    http_server.fault("/a.bin", ignore_range=True)
    download(url, tmp_path / "a.bin", checksum=sha256(payload), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert [r.status for r in http_server.requests_for("/a.bin")] == [200, 200]


def test_404_is_not_retried_and_suggests_the_path_key(http_server, tmp_path):
    url = http_server.url("/missing.zip")
    with pytest.raises(HTTPStatusError) as err:
        download(url, tmp_path / "m.zip", **FAST)
    assert err.value.status == 404
    assert url in str(err.value) and "path:" in str(err.value)
    assert len(http_server.requests_for("/missing.zip")) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    with LoopbackServer() as srv:
        url = srv.url("/gone.bin")
    with pytest.raises(DownloadError) as err:  # server stopped: connection refused
        download(url, tmp_path / "g.bin", retries=1, **FAST)
    assert url in str(err.value)


def test_progress_bar_does_not_break_download(http_server, payload, tmp_path, capsys):
    url = http_server.add("/a.bin", payload)
    download(url, tmp_path / "a.bin", progress=True, backoff_s=0.01)
    assert (tmp_path / "a.bin").read_bytes() == payload


def test_probe_and_supports_ranges(http_server, payload):
    url = http_server.add("/a.bin", payload)
    info = probe(url)
    assert info.accepts_ranges and info.size == SIZE
    assert supports_ranges(url)


def test_verify_and_parse_checksum(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    verify(p, "md5:" + hashlib.md5(b"hello").hexdigest())
    verify(p, hashlib.sha1(b"hello").hexdigest())  # bare hex: algorithm from its length
    verify(p, "SHA256:" + hashlib.sha256(b"hello").hexdigest().upper())
    with pytest.raises(ChecksumError, match="expected md5:0+, got md5:"):
        verify(p, "md5:" + "0" * 32)
    assert parse_checksum("sha1:ABC") == ("sha1", "abc")
    with pytest.raises(ValueError):
        parse_checksum("crc99:1234")
    with pytest.raises(ValueError):
        parse_checksum("md5:not-hex")


# --------------------------------------------------------------------------- rate limits


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Every wait between attempts, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(http, "sleep", recorded.append)
    return recorded


def test_429_waits_as_retry_after_asks_without_using_up_retries(
    http_server, payload, tmp_path, waits
):
    url = http_server.add("/a.bin", payload)
    # Zenodo's answer to a burst: 429 with Retry-After (here 1 s), three times in a row
    http_server.fault("/a.bin", status=429, headers={"Retry-After": "1"}, times=3)
    download(url, tmp_path / "a.bin", checksum=sha256(payload), retries=1, budget_s=120, **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert [r.status for r in http_server.requests_for("/a.bin")] == [429, 429, 429, 200]
    assert len(waits) == 3 and min(waits) >= 1  # the header's seconds, not the 0.01 s backoff


def test_503_retry_after_as_an_http_date(http_server, payload, waits):
    url = http_server.add("/a.bin", payload)
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    http_server.fault("/a.bin", status=503, headers={"Retry-After": when})
    info = probe(url, backoff_s=0.01, timeout_s=10)
    assert info.accepts_ranges and info.size == SIZE
    (wait,) = waits
    assert 25 <= wait <= 30


def test_retry_after_beyond_the_budget_fails_at_once_naming_url_and_wait(
    http_server, payload, tmp_path, waits
):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", status=429, headers={"Retry-After": "3600"}, times=None)
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "a.bin", budget_s=120, **FAST)
    msg = str(err.value)
    assert url in msg and "429" in msg and "3600 s (Retry-After)" in msg and "120 s" in msg
    assert waits == [] and len(http_server.requests_for("/a.bin")) == 1


def test_rate_limit_waits_add_up_to_the_budget(http_server, payload, waits):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", status=429, headers={"Retry-After": "40"}, times=None)

    def get():
        with http.open_url(url, timeout_s=10) as r:
            return r.read()

    with pytest.raises(DownloadError, match="more than is left of the 100 s retry budget"):
        with_retries(get, url=url, retries=5, backoff_s=0.01, budget_s=100)
    assert waits == [40, 40]  # a third 40 s wait would pass 100 s


def test_501_is_not_retried(http_server, payload, tmp_path, waits):
    url = http_server.add("/a.bin", payload)
    http_server.fault("/a.bin", status=501, times=None)
    with pytest.raises(HTTPStatusError) as err:
        download(url, tmp_path / "a.bin", **FAST)
    assert err.value.status == 501 and waits == []
    assert len(http_server.requests_for("/a.bin")) == 1


def test_probe_of_a_host_refusing_ranges(http_server, payload):
    url = http_server.add("/a.bin", payload)
    http_server.range_status = 501
    info = probe(url, backoff_s=0.01, timeout_s=10)
    assert not info.accepts_ranges and info.size == SIZE  # the size from a HEAD
    assert [r.method for r in http_server.requests_for("/a.bin")] == ["GET", "HEAD"]
