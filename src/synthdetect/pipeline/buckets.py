"""Buckets of tracks: a stable hash bucket per track, one folder of per-track files per bucket.

Snakemake pays about a millisecond per job to build the DAG and, on a cluster, a
process (or a whole SLURM job) to run one. Per-track work is tens of milliseconds, so
the per-track stages run one job per bucket of tracks instead of one per track. The
bucket of a track depends only on (source, track) and the number of buckets, never on
which other tracks exist: adding or changing a track reruns its bucket and no other.
Inside a bucket's folder every track keeps its own file (``<source>/<track>.<ext>``).

A derived source (its tracks re-generated from another source's) has buckets of its own,
``<source>-b007``: its generator's settings are params of its clip jobs only, so changing
them reruns that source's chain and no human clip.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

__all__ = ["bucket_names", "bucket_of", "track_file"]


def bucket_of(source: str, track: str, n_buckets: int, own: bool = False) -> str:
    """The bucket of a track: CRC-32 of ``source/track`` modulo ``n_buckets``, as ``b007``;
    with ``own`` (a derived source's track), prefixed by the source: ``<source>-b007``."""
    if n_buckets < 1:
        raise ValueError(f"the number of buckets must be >= 1, got {n_buckets}")
    width = len(str(n_buckets - 1))
    name = f"b{zlib.crc32(f'{source}/{track}'.encode()) % n_buckets:0{width}d}"
    return f"{source}-{name}" if own else name


def bucket_names(n_buckets: int) -> list[str]:
    """Every bucket name, in order (some may hold no track)."""
    width = len(str(n_buckets - 1))
    return [f"b{i:0{width}d}" for i in range(n_buckets)]


def track_file(
    root: str | os.PathLike,
    source: str,
    track: str,
    n_buckets: int,
    suffix: str,
    own: bool = False,
) -> Path:
    """A track's file inside its bucket's folder under ``root`` (``own``: a derived
    source's track, see :func:`bucket_of`)."""
    return Path(root) / bucket_of(source, track, n_buckets, own) / source / f"{track}{suffix}"
