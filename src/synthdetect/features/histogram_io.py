"""Per-track histogram files and the fan-in feature tables built from them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from synthdetect.features.histograms import normalise


def write_track_histograms(
    path: str | os.PathLike, source: str, track: str, hists: dict[str, np.ndarray]
) -> None:
    """One row: the track and its raw histogram counts, one list column per kind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "source": [source],
            "track": [track],
            **{
                kind: pa.array([h.tolist()], type=pa.list_(pa.int64())) for kind, h in hists.items()
            },
        }
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_track_histograms(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Stack per-track histogram files into one table (list columns kept)."""
    return pa.concat_tables([pq.read_table(p) for p in paths]).to_pandas()


def feature_table(
    raw: pd.DataFrame, kind: str, names: Sequence[str], groups: int = 1
) -> pd.DataFrame:
    """Normalised features of one kind: ``source, track`` and one column per bin.

    ``groups`` splits the vector into separate histograms normalised one by one (the
    color vector holds one histogram per channel).
    """
    counts = np.stack(raw[kind].to_numpy()).astype(np.float64)
    n, width = counts.shape
    values = normalise(counts.reshape(n, groups, width // groups)).reshape(n, width)
    table = pd.DataFrame(values.astype(np.float32), columns=list(names))
    table.insert(0, "track", raw.track.to_numpy())
    table.insert(0, "source", raw.source.to_numpy())
    return table
