"""The fan-in stages: a variant's per-track files, stacked in manifest order into the
tables and image caches the models read.

Each is a few seconds of reading small files, so the workflow runs them as `run:` blocks
in Snakemake's own process (as the per-track stages): a Python process per job would
cost more than the work, and a demo has a hundred of these jobs (one per variant and
table). No logging reconfiguration, then: each writes its own job log
(:func:`synthdetect.logs.log_bucket`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import nullcontext
from io import StringIO

import pandas as pd

from synthdetect.features.fakeprint import fakeprint_table
from synthdetect.features.histogram_io import feature_table, read_track_histograms
from synthdetect.features.histograms import feature_names
from synthdetect.features.images import write_image_cache
from synthdetect.logs import log_bucket
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.stages import FAKEPRINT_SUFFIX, HISTOGRAM_SUFFIX, PNG_SUFFIX, PathLike

__all__ = ["feature_tables", "fakeprint_features", "image_cache", "track_order"]


def track_order(
    manifest: PathLike, *, split: str | None = None, sources: Collection[str] | None = None
) -> pd.DataFrame:
    """``source, track`` of the manifest's tracks a variant covers, in manifest order: one
    split only (a robustness manipulation covers the test split), some sources only (a
    control leaves the derived sources out); None: all."""
    order = pd.read_parquet(manifest, columns=["source", "track", "split"])
    if split:
        order = order[order.split == split]
    if sources is not None:
        order = order[order.source.isin(list(sources))]
    return order[["source", "track"]].reset_index(drop=True)


def _files(order: pd.DataFrame, root, suffix, buckets: int, derived: Collection[str]):
    return [
        track_file(root, s, t, buckets, suffix, s in derived)
        for s, t in zip(order.source, order.track, strict=True)
    ]


def feature_tables(
    manifest: PathLike,
    root: PathLike,
    out: Mapping[str, PathLike],
    *,
    features: Mapping,
    buckets: int,
    derived: Collection[str],
    split: str | None = None,
    sources: Collection[str] | None = None,
    log: PathLike | None = None,
) -> int:
    """The per-track histograms under ``root`` stacked into ``out["raw"]`` (list
    columns) and normalised into the color and derivative feature tables
    (``out["color"]``, ``out["deriv"]``). Returns the number of tracks."""
    order = track_order(manifest, split=split, sources=sources)
    with _job_log(log, "features", root, len(order)) as job:
        raw = read_track_histograms(_files(order, root, HISTOGRAM_SUFFIX, buckets, derived))
        raw = order.merge(raw, on=["source", "track"], how="left", validate="one_to_one")
        raw.to_parquet(out["raw"], index=False)
        for kind, groups in (("color", len(features["color"]["channels"])), ("deriv", 1)):
            names = feature_names(kind, color=features["color"], deriv=features["deriv"])
            feature_table(raw, kind, names, groups=groups).to_parquet(out[kind], index=False)
            job.write(f"{kind} features: {len(order)} tracks x {len(names)} bins\n")
    return len(order)


def fakeprint_features(
    manifest: PathLike,
    root: PathLike,
    out: PathLike,
    *,
    buckets: int,
    derived: Collection[str],
    split: str | None = None,
    sources: Collection[str] | None = None,
    log: PathLike | None = None,
) -> int:
    """The per-track fakeprints under ``root`` stacked into one feature table."""
    order = track_order(manifest, split=split, sources=sources)
    with _job_log(log, "fakeprint features", root, len(order)) as job:
        table = fakeprint_table(_files(order, root, FAKEPRINT_SUFFIX, buckets, derived))
        table.to_parquet(out, index=False)
        job.write(f"fakeprints: {len(table)} tracks x {table.shape[1] - 2} bins\n")
    return len(table)


def image_cache(
    manifest: PathLike,
    root: PathLike,
    out: PathLike,
    *,
    split: str,
    size: Sequence[int],
    buckets: int,
    derived: Collection[str],
    sources: Collection[str] | None = None,
    log: PathLike | None = None,
) -> int:
    """One split's spectrogram PNGs under ``root`` decoded once into the uint8 array the
    trainers memory-map (:func:`synthdetect.features.images.write_image_cache`)."""
    order = track_order(manifest, split=split, sources=sources)
    with _job_log(log, f"image cache {split}", root, len(order)):
        write_image_cache(_files(order, root, PNG_SUFFIX, buckets, derived), out, tuple(size))
    return len(order)


def _job_log(log, stage, root, n):
    return nullcontext(StringIO()) if log is None else log_bucket(log, stage, str(root), n)
