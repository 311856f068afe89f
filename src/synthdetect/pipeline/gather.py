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
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pandas as pd

from synthdetect.features.fakeprint import fakeprint_table
from synthdetect.features.histogram_io import feature_table, read_track_histograms
from synthdetect.features.histograms import feature_names
from synthdetect.features.images import write_image_cache
from synthdetect.logs import log_bucket
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.stages import FAKEPRINT_SUFFIX, HISTOGRAM_SUFFIX, PNG_SUFFIX, PathLike

__all__ = ["Covered", "fakeprint_features", "feature_tables", "image_cache"]


@dataclass(frozen=True)
class Covered:
    """The tracks of the manifest a variant covers, and where their per-track files are:
    ``root/<bucket>/<source>/<track><suffix>``. ``split``: one split only (a robustness
    manipulation covers the test split); ``sources``: some sources only (a control leaves
    the derived sources out); None: all. ``derived``: the sources with buckets of their
    own (:func:`synthdetect.pipeline.buckets.bucket_of`)."""

    manifest: PathLike
    root: PathLike
    buckets: int
    derived: Collection[str]
    split: str | None = None
    sources: Collection[str] | None = None

    def order(self) -> pd.DataFrame:
        """``source, track`` of the covered tracks, in manifest order."""
        order = pd.read_parquet(self.manifest, columns=["source", "track", "split"])
        if self.split:
            order = order[order.split == self.split]
        if self.sources is not None:
            order = order[order.source.isin(list(self.sources))]
        return order[["source", "track"]].reset_index(drop=True)

    def files(self, order: pd.DataFrame, suffix: str) -> list[Path]:
        """Each row's per-track file."""
        return [
            track_file(self.root, s, t, self.buckets, suffix, s in self.derived)
            for s, t in zip(order.source, order.track, strict=True)
        ]


def feature_tables(
    covered: Covered, out: Mapping[str, PathLike], *, features: Mapping, log: PathLike | None = None
) -> int:
    """The covered tracks' histograms stacked into ``out["raw"]`` (list columns) and
    normalised into the color and derivative feature tables (``out["color"]``,
    ``out["deriv"]``). Returns the number of tracks."""
    order = covered.order()
    with _job_log(log, "features", covered.root, len(order)) as job:
        raw = read_track_histograms(covered.files(order, HISTOGRAM_SUFFIX))
        raw = order.merge(raw, on=["source", "track"], how="left", validate="one_to_one")
        raw.to_parquet(out["raw"], index=False)
        for kind, groups in (("color", len(features["color"]["channels"])), ("deriv", 1)):
            names = feature_names(kind, color=features["color"], deriv=features["deriv"])
            feature_table(raw, kind, names, groups=groups).to_parquet(out[kind], index=False)
            job.write(f"{kind} features: {len(order)} tracks x {len(names)} bins\n")
    return len(order)


def fakeprint_features(covered: Covered, out: PathLike, *, log: PathLike | None = None) -> int:
    """The covered tracks' fakeprints stacked into one feature table."""
    order = covered.order()
    with _job_log(log, "fakeprint features", covered.root, len(order)) as job:
        table = fakeprint_table(covered.files(order, FAKEPRINT_SUFFIX))
        table.to_parquet(out, index=False)
        job.write(f"fakeprints: {len(table)} tracks x {table.shape[1] - 2} bins\n")
    return len(table)


def image_cache(
    covered: Covered, out: PathLike, *, size: Sequence[int], log: PathLike | None = None
) -> int:
    """The covered tracks' spectrogram PNGs (one split's) decoded once into the uint8
    array the trainers memory-map (:func:`synthdetect.features.images.write_image_cache`)."""
    order = covered.order()
    with _job_log(log, f"image cache {covered.split}", covered.root, len(order)):
        write_image_cache(covered.files(order, PNG_SUFFIX), out, tuple(size))
    return len(order)


def _job_log(log, stage, root, n):
    return nullcontext(StringIO()) if log is None else log_bucket(log, stage, str(root), n)
