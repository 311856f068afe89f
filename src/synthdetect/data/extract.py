"""Safe zip extraction.

``safe_extract`` checks every selected member's name before writing anything: names with a
``..`` component, absolute paths, drive letters, NUL bytes and symlink entries are refused
with an error naming the member. Each file is written to a temporary name in its target
directory and renamed into place, so a killed run never leaves a half-written file under its
final name; files that already exist with the member's size and CRC-32 are skipped.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "ExtractStats",
    "UnsafeMemberError",
    "check_member_name",
    "file_crc32",
    "is_symlink_attr",
    "member_target",
    "safe_extract",
]

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeMemberError(ValueError):
    """An archive member would be written outside the destination (or is a symlink)."""

    def __init__(self, member: str, reason: str, archive: str | os.PathLike[str] | None = None):
        where = f" in {archive}" if archive else ""
        super().__init__(f"refusing archive member {member!r}{where}: {reason}")
        self.member = member
        self.reason = reason


@dataclass
class ExtractStats:
    """What :func:`safe_extract` did."""

    extracted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_written: int = 0


def check_member_name(name: str) -> PurePosixPath:
    """Return the member's relative path, or raise :class:`UnsafeMemberError`.

    Backslashes count as separators (archives made on Windows), so ``..\\x`` is caught too.
    """
    if not name or "\x00" in name:
        raise UnsafeMemberError(name, "empty name or NUL byte")
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        raise UnsafeMemberError(name, "absolute path")
    if _DRIVE.match(norm):
        raise UnsafeMemberError(name, "drive letter")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeMemberError(name, "'..' path component")
    if not parts:
        raise UnsafeMemberError(name, "names the destination itself")
    return PurePosixPath(*parts)


def is_symlink_attr(external_attr: int) -> bool:
    """True when a zip entry's external attributes carry a Unix symlink mode."""
    return stat.S_ISLNK((external_attr >> 16) & 0xFFFF)


def member_target(dest: str | os.PathLike[str], name: str, external_attr: int = 0) -> Path:
    """Checked path under ``dest`` where member ``name`` goes."""
    rel = check_member_name(name)
    if is_symlink_attr(external_attr):
        raise UnsafeMemberError(name, "symbolic link entry")
    return Path(dest).joinpath(*rel.parts)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def file_crc32(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> int:
    """CRC-32 of a file, as zip stores it."""
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            crc = zlib.crc32(block, crc)
    return crc & 0xFFFFFFFF


def same_file(path: Path, size: int, crc: int) -> bool:
    """True when ``path`` is a regular file with this size and CRC-32."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    return file_crc32(path) == crc


def prepare_parent(target: Path, dest: Path, member: str) -> None:
    """Create ``target``'s directory and check it did not escape ``dest`` via a symlink."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(target.parent, dest):
        raise UnsafeMemberError(member, f"its directory resolves outside {dest}")
    if target.is_symlink():
        raise UnsafeMemberError(member, f"{target} exists as a symbolic link")


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_writer(target: Path) -> tuple[int, Path]:
    """Open a temporary file next to ``target`` (caller writes, then ``os.replace``).

    The file gets the usual ``0o666 & ~umask`` mode rather than ``mkstemp``'s 0600.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.fchmod(fd, _file_mode())
    return fd, Path(tmp)


def safe_extract(
    zip_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    members: Iterable[str] | None = None,
    *,
    chunk_size: int = 1 << 20,
) -> ExtractStats:
    """Extract ``members`` (default: all) of ``zip_path`` under ``dest``, safely.

    All selected names are validated first; any unsafe one raises
    :class:`UnsafeMemberError` before a single byte is written. A requested member that is
    not in the archive raises ``KeyError`` naming it. CRC-32 is checked by ``zipfile`` while
    reading; a bad member raises ``zipfile.BadZipFile`` and leaves no file behind.
    """
    dest = Path(dest)
    stats = ExtractStats()
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        if members is not None:
            by_name = {i.filename: i for i in infos}
            wanted = list(dict.fromkeys(members))
            missing = [m for m in wanted if m not in by_name]
            if missing:
                more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
                raise KeyError(f"not in {zip_path}: {', '.join(missing[:5])}{more}")
            infos = [by_name[m] for m in wanted]
        plan = [(i, member_target(dest, i.filename, i.external_attr)) for i in infos]
        for info, _ in plan:
            if info.flag_bits & 0x1:
                raise UnsafeMemberError(info.filename, "encrypted member", zip_path)
        dest.mkdir(parents=True, exist_ok=True)
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                if not _inside(target, dest):
                    raise UnsafeMemberError(info.filename, f"resolves outside {dest}", zip_path)
                continue
            prepare_parent(target, dest, info.filename)
            if same_file(target, info.file_size, info.CRC):
                stats.skipped.append(info.filename)
                continue
            fd, tmp = atomic_writer(target)
            try:
                with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                    for block in iter(lambda src=src: src.read(chunk_size), b""):
                        out.write(block)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            stats.extracted.append(info.filename)
            stats.bytes_written += info.file_size
    return stats
