"""Every random choice of the project derives from (seed, keys...), never from global state.

A track's crop, sampling rank, codec bitrate or manipulation noise come from a generator
owned by that track, so adding or removing other tracks moves nothing else.
"""

from __future__ import annotations

import hashlib

import numpy as np


def track_seed(seed: int, *keys: str) -> int:
    """A 64-bit seed owned by (seed, *keys), e.g. (seed, source, track, manipulation), for
    code that takes an integer seed rather than a generator."""
    digest = hashlib.sha256("\x1f".join([str(seed), *map(str, keys)]).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def track_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator owned by one track (or recording): stable under adding other tracks."""
    return np.random.default_rng(track_seed(seed, *keys))


def track_key(seed: int, *keys: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, keys): a sampling rank."""
    return float(track_rng(seed, "rank", *keys).random())
