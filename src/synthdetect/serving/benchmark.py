"""The human-only false-positive benchmark: every bundle scores every window of music no
model trained on, exactly as `synthdetect predict` would (:class:`Scorer`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from synthdetect.serving.cli import collect_files
from synthdetect.serving.scoring import Scorer

log = logging.getLogger(__name__)

__all__ = ["SCORE_COLUMNS", "collection_files", "score_collections"]

SCORE_COLUMNS = [
    "collection",
    "recording",
    "file",
    "start_s",
    "p_ai",
    "distance",
    "status",
    "message",
]


def collection_files(spec: Mapping) -> list[Path]:
    """The audio files of a collection (``path``, optional ``glob``), sorted."""
    root = Path(spec["path"])
    if not root.is_dir():
        raise ValueError(
            f"benchmark collection {root} is not a folder; fix its 'path' or install it"
        )
    pattern = spec.get("glob") or "**/*"
    found = {Path(f) for f in collect_files([str(root)])}
    return sorted(p for p in root.glob(pattern) if p in found)


def score_collections(
    bundle: str | os.PathLike,
    collections: Mapping[str, Mapping],
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per scored window (``SCORE_COLUMNS``, ``distance`` from the training split
    where the bundle has an OOD model); a file that cannot be scored is one
    row with status ``error`` and the reason, and a file shorter than one window one row
    with status ``short``: neither counts in a false-positive rate."""
    rows = []
    with Scorer(bundle, threads=threads) as scorer:
        for name, spec in collections.items():
            root = Path(spec["path"])
            files = collection_files(spec)
            for path in tqdm(files, desc=f"{name}", unit="file", leave=False):
                recording = f"{name}/{path.relative_to(root).as_posix()}"
                result = scorer.score_file(path)
                base = {"collection": name, "recording": recording, "file": str(path)}
                if result.status != "ok":
                    rows.append(base | {"status": "error", "message": result.message})
                elif result.padded:
                    rows.append(base | {"status": "short", "message": result.message})
                else:
                    rows += [
                        base
                        | {"start_s": w.start_s, "p_ai": w.p_ai, "distance": w.distance}
                        | {"status": "ok"}
                        for w in result.windows
                    ]
            log.info("%s: %d files of %s", name, len(files), root)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
