"""synthdetect.data.zipfetch (central directory over Range, selective fetch) and the
local -> ranges -> whole-archive ladder of synthdetect.data.archives on top of it."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile

import numpy as np
import pytest
from fixtures_datasets import datasets_fixture as datasets_fixture  # noqa: F401
from fixtures_datasets import serve_datasets
from http_server import LoopbackServer
from http_server import http_server_fixture as http_server_fixture  # noqa: F401

from synthdetect.data import http
from synthdetect.data.archives import (
    FetchOptions,
    archive_ref,
    fetch_from,
    match_members,
    open_archive,
)
from synthdetect.data.extract import UnsafeMemberError
from synthdetect.data.fma import fma_member, parse_sha1sums, read_fma_tracks, select_fma
from synthdetect.data.http import DownloadError, RangeNotSupportedError
from synthdetect.data.zenodo import fetch_zenodo_checksums
from synthdetect.data.zipfetch import (
    CorruptMemberError,
    fetch_members,
    list_members,
    read_index,
)

FAST = {"backoff_s": 0.01, "timeout_s": 10, "progress": False}


def fetch_via_ladder(url, members, dest, *, tmp, archive_path=None, checksum=None, **opts):
    """The archives ladder (local copy, ranges, whole download) for one archive."""
    spec = {"url": url, "checksum": checksum}
    if archive_path is not None:
        spec["path"] = str(archive_path)
    options = FetchOptions(
        backoff_s=0.01, timeout_s=10, progress=False, download_dir=tmp / "archives", **opts
    )
    archive = open_archive(archive_ref(spec, "test"), options)
    return fetch_from(archive, members, dest, options=options)


def blob_zip(n=10, size=100_000, compression=zipfile.ZIP_STORED, seed=0):
    """n members of incompressible bytes; returns (zip bytes, {name: data})."""
    rng = np.random.default_rng(seed)
    members = {
        f"blobs/{i:02d}.bin": rng.integers(0, 256, size, np.uint8).tobytes() for i in range(n)
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue(), members


def zip64ify(data: bytes) -> bytes:
    """Rewrite a small zip's central directory the way >4 GiB archives look: every size and
    offset in a ZIP64 extra field, ZIP64 end record + locator, 0xFFFF.. in the old EOCD."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    eocd = data.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, eocd + 16)[0]
    cd = b""
    for i in zf.infolist():
        name = i.filename.encode()
        y, mo, d, h, mi, s = i.date_time
        extra = struct.pack("<HHQQQ", 1, 24, i.file_size, i.compress_size, i.header_offset)
        cd += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | 45,
                45,
                i.flag_bits,
                i.compress_type,
                (h << 11) | (mi << 5) | (s // 2),
                ((y - 1980) << 9) | (mo << 5) | d,
                i.CRC,
                0xFFFFFFFF,
                0xFFFFFFFF,
                len(name),
                len(extra),
                0,
                0,
                0,
                i.external_attr,
                0xFFFFFFFF,
            )
            + name
            + extra
        )
    n = len(zf.infolist())
    z64_at = cd_offset + len(cd)
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_offset)
    loc = struct.pack("<IIQI", 0x07064B50, 0, z64_at, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:cd_offset] + cd + z64 + loc + end


def read_all(root, names):
    return {n: (root / n).read_bytes() for n in names}


def test_index_over_http_matches_zipfile_and_local(http_server, datasets):
    url = http_server.add("/fma_small.zip", datasets.fma_small_zip)
    index = read_index(url)
    with zipfile.ZipFile(datasets.fma_small_zip) as zf:
        infos = zf.infolist()
    assert index.names() == [i.filename for i in infos]
    for i in infos:
        m = index[i.filename]
        assert (m.header_offset, m.compressed_size, m.file_size, m.crc32, m.method) == (
            i.header_offset,
            i.compress_size,
            i.file_size,
            i.CRC,
            i.compress_type,
        )
    assert index[sorted(datasets.fma_audio)[0]].method == zipfile.ZIP_BZIP2
    assert len(http_server.requests_for("/fma_small.zip")) == 1  # one tail request
    assert list_members(datasets.fma_small_zip) == index.names()  # local path, no server
    assert index.size == datasets.fma_small_zip.stat().st_size and not index.zip64


def test_selective_fetch_downloads_only_the_needed_members(http_server, tmp_path):
    data, members = blob_zip(10, 100_000)
    url = http_server.add("/blobs.zip", data)
    wanted = ["blobs/02.bin", "blobs/07.bin"]
    stats = fetch_members(url, wanted, tmp_path, **FAST)
    assert read_all(tmp_path, wanted) == {w: members[w] for w in wanted}
    served = http_server.bytes_served("/blobs.zip")
    assert served < 0.4 * len(data), (served, len(data))
    assert stats.bytes_fetched == served and stats.written == wanted
    reqs = http_server.requests_for("/blobs.zip")
    assert len(reqs) == 3 and stats.requests == 3  # tail + one per non-adjacent member
    assert all(r.status == 206 for r in reqs)
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["02.bin", "07.bin"]


def test_adjacent_members_share_one_request(http_server, tmp_path):
    data, members = blob_zip(10, 50_000, compression=zipfile.ZIP_DEFLATED)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    http_server.reset_counts()
    wanted = ["blobs/05.bin", "blobs/03.bin", "blobs/04.bin"]
    fetch_members(url, wanted, tmp_path, index=index, **FAST)
    assert read_all(tmp_path, wanted) == {w: members[w] for w in wanted}
    (req,) = http_server.requests_for("/blobs.zip")
    first, last = index["blobs/03.bin"].span[0], index["blobs/05.bin"].span[1] - 1
    assert req.range == f"bytes={first}-{last}"


def test_existing_members_are_skipped(http_server, tmp_path):
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    fetch_members(url, ["blobs/01.bin"], tmp_path, **FAST)
    http_server.reset_counts()
    stats = fetch_members(url, ["blobs/01.bin", "blobs/02.bin"], tmp_path, **FAST)
    assert stats.skipped == ["blobs/01.bin"] and stats.written == ["blobs/02.bin"]
    assert len(http_server.requests_for("/blobs.zip")) == 2  # tail + blobs/02 only


def test_crc_is_verified_and_a_bad_transfer_retried(http_server, tmp_path):
    data, members = blob_zip(3, 30_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    m = index["blobs/01.bin"]
    inside = m.header_offset + 30 + len(m.name) + 100  # a byte of the member's data
    http_server.fault("/blobs.zip", corrupt=True, corrupt_offsets=(inside,), times=1)
    fetch_members(url, ["blobs/01.bin"], tmp_path, index=index, **FAST)
    assert (tmp_path / "blobs/01.bin").read_bytes() == members["blobs/01.bin"]
    assert len(http_server.requests_for("/blobs.zip")) == 3  # tail, bad, good


def test_persistent_corruption_raises_and_leaves_no_file(http_server, tmp_path):
    data, _ = blob_zip(3, 30_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    m = index["blobs/01.bin"]
    inside = m.header_offset + 30 + len(m.name) + 100
    http_server.fault("/blobs.zip", corrupt=True, corrupt_offsets=(inside,), times=None)
    with pytest.raises(CorruptMemberError, match=r"blobs/01.bin.*CRC-32 mismatch: expected"):
        fetch_members(url, ["blobs/01.bin"], tmp_path, index=index, retries=2, **FAST)
    assert list(tmp_path.rglob("*.bin*")) == []


def test_dropped_connection_resumes_after_the_last_good_member(http_server, tmp_path):
    data, members = blob_zip(6, 40_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    http_server.reset_counts()
    a, b = index["blobs/02.bin"], index["blobs/03.bin"]
    http_server.fault("/blobs.zip", drop_at=b.span[0] - a.span[0] + 1000)  # inside blobs/03
    wanted = ["blobs/02.bin", "blobs/03.bin", "blobs/04.bin"]
    stats = fetch_members(url, wanted, tmp_path, index=index, **FAST)
    assert read_all(tmp_path, wanted) == {w: members[w] for w in wanted}
    r1, r2 = http_server.requests_for("/blobs.zip")
    assert r1.range.startswith(f"bytes={a.span[0]}-")
    assert r2.range.startswith(f"bytes={b.span[0]}-")
    assert stats.written == wanted
    assert not list(tmp_path.rglob("*.part"))


def test_server_without_ranges_falls_back_to_full_download(tmp_path):
    data, members = blob_zip(5, 20_000)
    sha1 = "sha1:" + hashlib.sha1(data).hexdigest()
    with LoopbackServer({"/blobs.zip": data}, ranges=False) as srv:
        url = srv.url("/blobs.zip")
        with pytest.raises(RangeNotSupportedError):
            fetch_members(url, ["blobs/01.bin"], tmp_path / "x", **FAST)
        archive = tmp_path / "dl" / "blobs.zip"
        stats = fetch_via_ladder(
            url,
            ["blobs/01.bin", "blobs/03.bin"],
            tmp_path / "out",
            tmp=tmp_path,
            archive_path=archive,
            checksum=sha1,
        )
        assert stats.mode == "full" and archive.read_bytes() == data
        assert stats.bytes_fetched == len(data)
        assert sorted(stats.written) == ["blobs/01.bin", "blobs/03.bin"]
        assert (tmp_path / "out/blobs/03.bin").read_bytes() == members["blobs/03.bin"]


def test_existing_local_archive_is_used_without_network(http_server, tmp_path):
    data, members = blob_zip(3, 10_000)
    archive = tmp_path / "blobs.zip"
    archive.write_bytes(data)
    url = http_server.url("/never-requested.zip")
    stats = fetch_via_ladder(
        url,
        ["blobs/02.bin"],
        tmp_path / "out",
        tmp=tmp_path,
        archive_path=archive,
        checksum="md5:" + hashlib.md5(data).hexdigest(),
    )
    assert stats.mode == "local" and stats.written == ["blobs/02.bin"]
    assert http_server.requests_for() == []


def test_ladder_uses_ranges_when_offered(http_server, tmp_path):
    data, members = blob_zip(10, 30_000)
    url = http_server.add("/blobs.zip", data)
    stats = fetch_via_ladder(
        url, ["blobs/09.bin"], tmp_path, tmp=tmp_path, archive_path=tmp_path / "a.zip"
    )
    assert stats.mode == "ranges" and not (tmp_path / "a.zip").exists()
    assert (tmp_path / "blobs/09.bin").read_bytes() == members["blobs/09.bin"]


def test_zip64_archive(http_server, tmp_path):
    data, members = blob_zip(4, 10_000, compression=zipfile.ZIP_DEFLATED)
    z64 = zip64ify(data)
    assert zipfile.ZipFile(io.BytesIO(z64)).testzip() is None  # valid for zipfile too
    url = http_server.add("/z64.zip", z64)
    index = read_index(url)
    assert index.zip64 and index.names() == list(members)
    fetch_members(url, ["blobs/03.bin"], tmp_path, index=index, **FAST)
    assert (tmp_path / "blobs/03.bin").read_bytes() == members["blobs/03.bin"]


def test_archive_with_prepended_data(http_server, tmp_path):
    data, members = blob_zip(3, 10_000)
    url = http_server.add("/sfx.zip", b"MZ" + b"\0" * 4094 + data)  # like a self-extractor
    fetch_members(url, ["blobs/02.bin"], tmp_path, **FAST)
    assert (tmp_path / "blobs/02.bin").read_bytes() == members["blobs/02.bin"]


def test_large_central_directory_takes_a_second_request(http_server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3000):
            zf.writestr(f"fma_small/{i // 1000:03d}/{i:06d}.mp3", b"")
    url = http_server.add("/many.zip", buf.getvalue())
    assert len(list_members(url)) == 3000
    assert len(http_server.requests_for("/many.zip")) == 2


def test_unsafe_member_refused_before_fetching_it(http_server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", b"ok")
        zf.writestr(zipfile.ZipInfo("../evil.txt"), b"evil")
    url = http_server.add("/evil.zip", buf.getvalue())
    with pytest.raises(UnsafeMemberError, match=r"'\.\./evil\.txt'"):
        fetch_members(url, ["ok.txt", "../evil.txt"], tmp_path / "out", **FAST)
    assert len(http_server.requests_for("/evil.zip")) == 1  # only the directory
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_missing_member_is_named(http_server, tmp_path):
    data, _ = blob_zip(2, 1000)
    url = http_server.add("/blobs.zip", data)
    with pytest.raises(KeyError, match="blobs/99.bin"):
        fetch_members(url, ["blobs/99.bin"], tmp_path, **FAST)


def test_fma_selection_end_to_end(http_server, datasets, tmp_path):
    urls = serve_datasets(http_server, datasets)
    fetch_via_ladder(urls["fma_metadata.zip"], ["fma_metadata/tracks.csv"], tmp_path, tmp=tmp_path)
    tracks = read_fma_tracks(tmp_path / "fma_metadata/tracks.csv")
    chosen = select_fma(tracks, n=8, seed=3)
    assert chosen["genre_top"].value_counts().max() == 1  # one per genre
    wanted = [fma_member(t) for t in chosen["track_id"]] + ["fma_small/checksums"]
    stats = fetch_via_ladder(urls["fma_small.zip"], wanted, tmp_path, tmp=tmp_path)
    assert stats.mode == "ranges"
    sums = parse_sha1sums((tmp_path / "fma_small/checksums").read_text(), prefix="fma_small/")
    for m in wanted[:-1]:
        assert (tmp_path / m).read_bytes() == datasets.fma_audio[m]
        assert "sha1:" + hashlib.sha1((tmp_path / m).read_bytes()).hexdigest() == sums[m]
    # the sha1 list can also be checked while fetching
    again = fetch_members(urls["fma_small.zip"], wanted[:2], tmp_path / "b", checksums=sums, **FAST)
    assert again.written == wanted[:2]
    assert stats.bytes_fetched < 0.7 * datasets.fma_small_zip.stat().st_size


def test_aam_mixes_via_zenodo_record(http_server, datasets, tmp_path):
    urls = serve_datasets(http_server, datasets)
    api = urls["record"].replace("5794629", "{record_id}")
    sums = fetch_zenodo_checksums(5794629, api_url=api)
    key = datasets.aam_zip.name
    assert sums[key] == "md5:" + hashlib.md5(datasets.aam_zip.read_bytes()).hexdigest()
    index = read_index(urls[key])
    names = match_members(index.names(), ["0002_mix.flac", "0003_mix.flac"])
    fetch_members(urls[key], names.values(), tmp_path, index=index, **FAST)
    for name in names.values():
        assert (tmp_path / name).read_bytes() == datasets.aam_audio[name]
    # the whole archive, when selective fetch is off, is verified against Zenodo's md5
    stats = fetch_via_ladder(
        urls[key],
        names.values(),
        tmp_path / "full",
        tmp=tmp_path,
        selective=False,
        archive_path=tmp_path / key,
        checksum=sums[key],
    )
    assert stats.mode == "full" and (tmp_path / key).exists()


def test_parallel_runs_fetch_everything_and_stop_on_a_bad_member(http_server, tmp_path):
    data, members = blob_zip(12, 20_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    wanted = [f"blobs/{i:02d}.bin" for i in range(0, 12, 2)]  # six separate runs
    stats = fetch_members(url, wanted, tmp_path / "ok", index=index, workers=3, max_gap=0, **FAST)
    assert stats.written == wanted and stats.requests == 6
    assert read_all(tmp_path / "ok", wanted) == {w: members[w] for w in wanted}

    m = index["blobs/06.bin"]
    inside = m.header_offset + 30 + len(m.name) + 10
    http_server.fault("/blobs.zip", corrupt=True, corrupt_offsets=(inside,), times=None)
    with pytest.raises(CorruptMemberError, match="blobs/06.bin"):
        fetch_members(
            url, wanted, tmp_path / "bad", index=index, workers=3, max_gap=0, retries=1, **FAST
        )
    assert not (tmp_path / "bad/blobs/06.bin").exists()
    assert not list((tmp_path / "bad").rglob("*.part"))


def test_persistent_drops_give_up_with_a_download_error(http_server, tmp_path):
    data, _ = blob_zip(3, 30_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    http_server.fault("/blobs.zip", drop_at=10, times=None)
    with pytest.raises(DownloadError, match=r"giving up after 2 retries"):
        fetch_members(url, ["blobs/01.bin"], tmp_path, index=index, retries=2, **FAST)
    assert len(http_server.requests_for("/blobs.zip")) == 1 + 3


# --------------------------------------------------------------------------- hosts' quirks


@pytest.mark.parametrize("status", [416, 501])
def test_host_refusing_suffix_ranges_is_read_by_offset(http_server, tmp_path, status):
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    http_server.suffix_status = status
    index = read_index(url, backoff_s=0.01, timeout_s=10)
    assert index.names() == list(members)
    reqs = http_server.requests_for("/blobs.zip")
    assert [r.status for r in reqs] == [status, 206, 206]
    assert reqs[0].range.startswith("bytes=-") and reqs[1].range == "bytes=0-0"
    assert reqs[2].range == f"bytes={max(0, len(data) - 128 * 1024)}-{len(data) - 1}"
    # and through the ladder: still selective (the probe's size makes the tail by offset)
    stats = fetch_via_ladder(url, ["blobs/02.bin"], tmp_path / "out", tmp=tmp_path)
    assert stats.mode == "ranges"
    assert (tmp_path / "out/blobs/02.bin").read_bytes() == members["blobs/02.bin"]


@pytest.mark.parametrize("status", [416, 501])
def test_host_refusing_every_range_gets_a_whole_download(http_server, tmp_path, status):
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    http_server.range_status = status
    with pytest.raises(RangeNotSupportedError):
        read_index(url, backoff_s=0.01, timeout_s=10)
    stats = fetch_via_ladder(url, ["blobs/01.bin"], tmp_path / "out", tmp=tmp_path)
    assert stats.mode == "full" and (tmp_path / "archives/blobs.zip").read_bytes() == data
    assert (tmp_path / "out/blobs/01.bin").read_bytes() == members["blobs/01.bin"]


def test_member_fetch_waits_as_retry_after_asks(http_server, tmp_path, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    index = read_index(url)
    http_server.fault("/blobs.zip", status=429, headers={"Retry-After": "2"}, times=2)
    fetch_members(url, ["blobs/03.bin"], tmp_path, index=index, retries=1, **FAST)
    assert (tmp_path / "blobs/03.bin").read_bytes() == members["blobs/03.bin"]
    assert waits == [2, 2]


def test_short_whole_download_without_checksum_is_deleted_and_fetched_again(
    http_server, tmp_path, caplog
):
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    # cut short by the host, with headers that agree: only opening it can tell
    http_server.fault("/blobs.zip", serve=data[: len(data) // 2])
    stats = fetch_via_ladder(url, ["blobs/01.bin"], tmp_path / "out", tmp=tmp_path, selective=False)
    archive = tmp_path / "archives/blobs.zip"
    assert stats.mode == "full" and archive.read_bytes() == data
    assert (tmp_path / "out/blobs/01.bin").read_bytes() == members["blobs/01.bin"]
    assert "is not a readable zip" in caplog.text and url in caplog.text
    assert [r.body_bytes for r in http_server.requests_for("/blobs.zip")] == [
        len(data) // 2,
        len(data),
    ]


def test_broken_archive_of_an_earlier_run_is_not_reused(http_server, tmp_path, caplog):
    data, members = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    stale = tmp_path / "archives/blobs.zip"
    stale.parent.mkdir()
    stale.write_bytes(data[:5000])  # what an earlier run kept, without a checksum to check
    stats = fetch_via_ladder(url, ["blobs/02.bin"], tmp_path / "out", tmp=tmp_path, selective=False)
    assert stats.mode == "full" and stale.read_bytes() == data
    assert f"{stale} (downloaded from {url} by an earlier run) is not a readable zip" in caplog.text


def test_host_serving_a_broken_archive_twice_names_what_was_deleted(http_server, tmp_path):
    data, _ = blob_zip(4, 20_000)
    url = http_server.add("/blobs.zip", data)
    http_server.fault("/blobs.zip", serve=data[:-100], times=None)
    archive = tmp_path / "archives/blobs.zip"
    with pytest.raises(DownloadError) as err:
        fetch_via_ladder(url, ["blobs/02.bin"], tmp_path / "out", tmp=tmp_path, selective=False)
    msg = str(err.value)
    assert f"deleted {archive}" in msg and url in msg and "second time" in msg
    assert not archive.exists() and len(http_server.requests_for("/blobs.zip")) == 2


def test_users_broken_local_copy_is_reported_not_deleted(tmp_path):
    broken = tmp_path / "mine.zip"
    broken.write_bytes(b"PK not really")
    with pytest.raises(zipfile.BadZipFile) as err:
        open_archive(archive_ref({"path": str(broken)}, "sources.x.archives[0]"))
    assert "sources.x.archives[0].path" in "".join(err.value.__notes__)
    assert broken.exists()
