"""The human-only false-positive benchmark: every bundle scores every window of music no
model trained on, exactly as `synthdetect predict` would (:class:`Scorer`).

Decoding a collection and making its spectrograms is the same work for every bundle of a
run, and most of the cost: :func:`collection_windows` does it once per collection with the
run's preprocessing, and :func:`score_windows` gives each bundle the stored inputs, after
checking that its preprocessing is the one they were made with."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from synthdetect.evaluation.calibration import sigmoid
from synthdetect.serving.cli import collect_files
from synthdetect.serving.scoring import (
    Preprocessor,
    Scorer,
    check_preprocessing,
    save_inputs,
)

log = logging.getLogger(__name__)

__all__ = [
    "SCORE_COLUMNS",
    "collection_files",
    "collection_windows",
    "read_windows",
    "score_windows",
]

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


WINDOW_COLUMNS = ["collection", "recording", "file", "start_s", "status", "message", "row"]


def collection_windows(
    name: str,
    spec: Mapping,
    preprocessing: Mapping,
    out: str | os.PathLike,
    *,
    clips: bool = False,
) -> pd.DataFrame:
    """Decode every file of a collection once and store each window's inputs in ``out``:
    ``images.npy`` (the spectrogram images, uint8 NHWC), with ``clips`` also
    ``fakeprints.npy``, and ``windows.parquet`` (``WINDOW_COLUMNS``: ``row`` indexes the
    arrays). A file that cannot be scored is one row with status ``error`` and the reason,
    a file shorter than one window one row with status ``short``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(spec["path"])
    files = collection_files(spec)
    rows, images, prints, n = [], [], [], 0
    with Preprocessor(preprocessing) as pre:
        for path in tqdm(files, desc=name, unit="file", leave=False):
            recording = f"{name}/{path.relative_to(root).as_posix()}"
            base = {"collection": name, "recording": recording, "file": str(path)}
            prep = pre.prepare(path, images=True, fakeprints=clips)
            if prep.status != "ok":
                rows.append(base | {"status": "error", "message": prep.message})
                continue
            if any(w.padded for w in prep.windows):
                rows.append(base | {"status": "short", "message": "shorter than one window"})
                continue
            images.append(prep.images)
            prints += [prep.fakeprints] if clips else []
            rows += [
                base | {"start_s": w.start_s, "status": "ok", "row": n + i}
                for i, w in enumerate(prep.windows)
            ]
            n += len(prep.windows)
    save_inputs(out, preprocessing, images, prints if clips else None)
    table = pd.DataFrame(rows, columns=WINDOW_COLUMNS).astype({"row": "Int64"})
    table.to_parquet(out / "windows.parquet", index=False)
    log.info("%s: %d files of %s, %d windows", name, len(files), root, n)
    return table


def read_windows(folder: str | os.PathLike, preprocessing: Mapping) -> dict:
    """A collection's stored windows, refused where they were made with other
    preprocessing than ``preprocessing`` (a bundle's)."""
    folder = Path(folder)
    check_preprocessing(folder, preprocessing, "benchmark_windows")
    prints = folder / "fakeprints.npy"
    return {
        "windows": pd.read_parquet(folder / "windows.parquet"),
        "images": np.load(folder / "images.npy", mmap_mode="r"),
        "fakeprints": np.load(prints) if prints.exists() else None,
    }


def score_windows(
    bundle: str | os.PathLike,
    folders: Mapping[str, str | os.PathLike],
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per scored window (``SCORE_COLUMNS``, ``distance`` from the training split
    where the bundle has an OOD model) of each collection's stored windows
    (:func:`collection_windows`); error and short rows carry over and count in no rate."""
    frames = []
    with Scorer(bundle, threads=threads) as scorer:
        for name, folder in folders.items():
            stored = read_windows(folder, scorer.bundle.preprocessing)
            table = stored["windows"]
            ok = table[table.status == "ok"]
            if scorer.input == "clip" and stored["fakeprints"] is None:
                raise ValueError(
                    f"{folder}: no fakeprints stored for collection {name!r}, which the "
                    f"{scorer.bundle.family} bundle scores; rerun benchmark_windows with clips"
                )
            p_ai, distance = [], []
            for _, file_rows in ok.groupby("file", sort=False):  # predict's batches
                rows = file_rows.row.to_numpy(np.int64)
                for a in range(0, len(rows), scorer.batch_windows):
                    idx = rows[a : a + scorer.batch_windows]
                    if scorer.input == "clip":
                        X = stored["fakeprints"][idx]
                    else:
                        X = scorer.model_inputs(list(stored["images"][idx]))
                    z, dist = scorer.predict(X)
                    p_ai += [float(v) for v in sigmoid(z)]
                    distance += [None] * len(idx) if dist is None else [float(d) for d in dist]
            scored = ok.assign(p_ai=p_ai, distance=distance)
            frames.append(pd.concat([table[table.status != "ok"], scored]).sort_index())
            log.info("%s: %d windows scored from %s", name, len(ok), folder)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out.reindex(columns=SCORE_COLUMNS)
