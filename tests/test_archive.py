"""synthdetect.data.extract: safe extraction."""

from __future__ import annotations

import os
import stat
import zipfile

import pytest
from fixtures_datasets import datasets_fixture as datasets_fixture  # noqa: F401

from synthdetect.data.extract import (
    UnsafeMemberError,
    check_member_name,
    safe_extract,
)


def make_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """entries: (name, data) or (ZipInfo, data)."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def all_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


@pytest.mark.parametrize(
    "evil",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "/abs/evil.txt",
        "C:/evil.txt",
        "c:evil.txt",
        "..\\evil.txt",
        "a\\..\\..\\evil.txt",
        "\\\\server\\share\\evil.txt",
    ],
)
def test_zip_slip_is_refused_before_anything_is_written(tmp_path, evil):
    z = make_zip(tmp_path / "evil.zip", [("good.txt", b"fine"), (zipfile.ZipInfo(evil), b"x")])
    dest = tmp_path / "out" / "deep"
    with pytest.raises(UnsafeMemberError) as err:
        safe_extract(z, dest)
    assert repr(evil) in str(err.value) and err.value.member == evil
    assert not dest.exists() or all_files(dest) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("data/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = make_zip(tmp_path / "link.zip", [("data/a.txt", b"a"), (link, b"/etc/passwd")])
    with pytest.raises(UnsafeMemberError, match=r"'data/link'.*symbolic link"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out" / "data" / "a.txt").exists()
    # choosing only the safe member is fine
    safe_extract(z, tmp_path / "out", members=["data/a.txt"])
    assert (tmp_path / "out" / "data" / "a.txt").read_bytes() == b"a"


def test_symlinked_directory_inside_dest_cannot_redirect_writes(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    z = make_zip(tmp_path / "a.zip", [("sub/x.txt", b"x")])
    with pytest.raises(UnsafeMemberError, match="sub/x.txt"):
        safe_extract(z, dest)
    assert list(outside.iterdir()) == []


def test_check_member_name_normalises_harmless_names():
    assert str(check_member_name("./a//b/./c.mp3")) == "a/b/c.mp3"
    for bad in ["", "a/\x00b", ".", "./"]:
        with pytest.raises(UnsafeMemberError):
            check_member_name(bad)


def test_extracts_fma_layout_then_skips_identical_files(datasets, tmp_path):
    dest = tmp_path / "fma"
    stats = safe_extract(datasets.fma_small_zip, dest)
    mp3s = sorted(datasets.fma_audio)
    assert set(mp3s) <= set(stats.extracted)
    for m in mp3s:
        assert (dest / m).read_bytes() == datasets.fma_audio[m]
    assert (dest / "fma_small" / "checksums").exists()
    assert not [p for p in all_files(dest) if p.endswith(".part")]

    again = safe_extract(datasets.fma_small_zip, dest)
    assert again.extracted == [] and set(mp3s) <= set(again.skipped)

    changed = dest / mp3s[0]
    changed.write_bytes(b"damaged")
    third = safe_extract(datasets.fma_small_zip, dest, members=[mp3s[0], mp3s[1]])
    assert third.extracted == [mp3s[0]] and third.skipped == [mp3s[1]]
    assert changed.read_bytes() == datasets.fma_audio[mp3s[0]]


def test_selected_members_only_and_missing_member_named(datasets, tmp_path):
    wanted = sorted(datasets.fma_audio)[:2]
    stats = safe_extract(datasets.fma_small_zip, tmp_path, members=wanted)
    assert stats.extracted == wanted
    assert all_files(tmp_path) == wanted
    with pytest.raises(KeyError, match="fma_small/999/999999.mp3"):
        safe_extract(datasets.fma_small_zip, tmp_path, members=["fma_small/999/999999.mp3"])


def test_bad_crc_leaves_no_file(tmp_path):
    z = make_zip(tmp_path / "a.zip", [("a.bin", b"A" * 1000)], compression=zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    at = raw.index(b"A" * 1000)
    raw[at + 500] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        safe_extract(z, tmp_path / "out")
    assert all_files(tmp_path / "out") == []


def test_extracted_files_get_normal_permissions(tmp_path):
    z = make_zip(tmp_path / "a.zip", [("a.txt", b"a")])
    safe_extract(z, tmp_path / "out")
    mode = (tmp_path / "out" / "a.txt").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
