"""Does abstaining work? Each bundle scores the test clips and unusual copies of them.

``predict`` answers ``uncertain`` when an input lies outside what the model was trained
on. To show that the distance behind it sees what a user would hand it, the workflow
makes unusual but decodable files from the test clips (:mod:`synthdetect.serving.unusual`:
8 kHz, 6 channels, 3 s). Each bundle then scores the test clips and these files exactly
as ``predict`` does (:class:`~synthdetect.serving.scoring.Scorer`): one row per file with
its P(AI), distance, label and reason.

Decoding the files and making their spectrograms is the same work for every bundle of a
run and most of the cost, so :func:`prepare_groups` does it once
(:meth:`~synthdetect.serving.scoring.Preprocessor.prepare`) and :func:`score_groups`
gives each bundle the stored inputs, after checking that its preprocessing made them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synthdetect.serving.scoring import (
    Prepared,
    Preprocessor,
    Scorer,
    Window,
    check_preprocessing,
    save_inputs,
)
from synthdetect.serving.unusual import UNUSUAL, test_clips

log = logging.getLogger(__name__)

__all__ = [
    "ABSTAIN_COLUMNS",
    "UNUSUAL",
    "prepare_groups",
    "read_prepared",
    "score_groups",
    "test_clips",
]

ABSTAIN_COLUMNS = ["group", "file", "status", "p_ai", "label", "distance", "reason", "warning"]
#: One row per file of the stored inputs: its windows are rows ``first`` onwards of the
#: arrays, one per ``start_s``.
FILE_COLUMNS = ["group", "file", "status", "message", "duration_s", "warnings", "first"]
WINDOW_LISTS = ["start_s", "end_s", "padded"]


def prepare_groups(
    groups: Mapping[str, Sequence[str | os.PathLike]],
    preprocessing: Mapping,
    out: str | os.PathLike,
    *,
    clips: bool = False,
) -> pd.DataFrame:
    """Every file of each group through ``preprocessing`` once, stored in ``out``:
    ``images.npy`` (every window's spectrogram image, uint8 NHWC), with ``clips`` also
    ``fakeprints.npy`` (the fakeprint model reads the clip), and ``files.parquet``
    (``FILE_COLUMNS`` and the window lists). Returns the file table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, images, prints, n = [], [], [], 0
    with Preprocessor(preprocessing) as pre:
        for group, files in groups.items():
            for path in files:
                prep = pre.prepare(path, images=True, fakeprints=clips)
                rows.append(
                    {
                        "group": group,
                        "file": prep.path,
                        "status": prep.status,
                        "message": prep.message,
                        "duration_s": prep.duration_s,
                        "warnings": prep.warnings,
                        "first": n,
                        "start_s": [w.start_s for w in prep.windows],
                        "end_s": [w.end_s for w in prep.windows],
                        "padded": [w.padded for w in prep.windows],
                    }
                )
                if prep.status == "ok":
                    images.append(prep.images)
                    prints += [prep.fakeprints] if clips else []
                    n += len(prep.windows)
            log.info("%s: %d files prepared", group, len(files))
    save_inputs(out, preprocessing, images, prints if clips else None)
    table = pd.DataFrame(rows, columns=FILE_COLUMNS + WINDOW_LISTS)
    table.to_parquet(out / "files.parquet", index=False)
    return table


def read_prepared(folder: str | os.PathLike, preprocessing: Mapping) -> dict[str, list[Prepared]]:
    """The stored inputs of :func:`prepare_groups`, per group in their order; refused
    where they were made with other preprocessing than ``preprocessing`` (a bundle's)."""
    folder = Path(folder)
    check_preprocessing(folder, preprocessing, "abstain_inputs")
    images = np.load(folder / "images.npy", mmap_mode="r")
    path = folder / "fakeprints.npy"
    prints = np.load(path) if path.exists() else None
    groups: dict[str, list[Prepared]] = {}
    for r in pd.read_parquet(folder / "files.parquet").itertuples(index=False):
        windows = [
            Window(float(a), float(b), bool(p))
            for a, b, p in zip(r.start_s, r.end_s, r.padded, strict=True)
        ]
        rows = slice(int(r.first), int(r.first) + len(windows))
        ok = r.status == "ok"
        groups.setdefault(r.group, []).append(
            Prepared(
                path=r.file,
                status=r.status,
                message=r.message,
                duration_s=None if pd.isna(r.duration_s) else float(r.duration_s),
                windows=windows,
                images=images[rows] if ok else None,
                fakeprints=prints[rows] if ok and prints is not None else None,
                warnings=list(r.warnings),
            )
        )
    return groups


def score_groups(
    bundle: str | os.PathLike, folder: str | os.PathLike, *, threads: int | None = None
) -> pd.DataFrame:
    """One row per stored file of each group (``ABSTAIN_COLUMNS``), scored as
    ``predict`` scores the file (:meth:`~synthdetect.serving.scoring.Scorer.score_prepared`)."""
    rows = []
    with Scorer(bundle, threads=threads) as scorer:
        for group, files in read_prepared(folder, scorer.bundle.preprocessing).items():
            for prep in files:
                r = scorer.score_prepared(prep)
                rows.append(
                    {
                        "group": group,
                        "file": r.path,
                        "status": r.status,
                        "p_ai": r.p_ai,
                        "label": r.label,
                        "distance": r.distance,
                        "reason": r.reason or r.message,
                        "warning": r.warning,
                    }
                )
            log.info("%s: %d files", group, len(files))
    return pd.DataFrame(rows, columns=ABSTAIN_COLUMNS)
