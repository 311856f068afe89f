"""Stack per-track histograms into the normalised color and derivative feature tables."""

import logging

import pandas as pd

from synthdetect.features.histogram_io import feature_table, read_track_histograms
from synthdetect.features.histograms import feature_names
from synthdetect.logs import setup_logging
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.stages import HISTOGRAM_SUFFIX

setup_logging(snakemake.log[0])
p = snakemake.params
cfg = p.features
order = pd.read_parquet(snakemake.input.manifest, columns=["source", "track", "split"])
if p.split:  # a robustness manipulation covers the test split only
    order = order[order.split == p.split]
if p.sources is not None:  # a control leaves the derived sources out
    order = order[order.source.isin(p.sources)]
order = order[["source", "track"]].reset_index(drop=True)
paths = [
    track_file(p.root, s, t, p.buckets, HISTOGRAM_SUFFIX, s in p.derived)
    for s, t in zip(order.source, order.track, strict=True)
]
raw = read_track_histograms(paths)
raw = order.merge(raw, on=["source", "track"], how="left", validate="one_to_one")
raw.to_parquet(snakemake.output.raw, index=False)
for kind, groups in (("color", len(cfg["color"]["channels"])), ("deriv", 1)):
    names = feature_names(kind, color=cfg["color"], deriv=cfg["deriv"])
    table = feature_table(raw, kind, names, groups=groups)
    table.to_parquet(snakemake.output[kind], index=False)
    logging.info("%s features: %d tracks x %d bins", kind, len(table), len(names))
