"""Stack per-track histograms into the normalised colour and derivative feature tables."""

import logging

import pandas as pd

from synthdetect.features import feature_names
from synthdetect.histogram_io import feature_table, read_track_histograms
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
cfg = snakemake.params.features
raw = read_track_histograms(snakemake.input.histograms)
order = pd.read_parquet(snakemake.input.manifest, columns=["source", "track"])
raw = order.merge(raw, on=["source", "track"], how="left", validate="one_to_one")
raw.to_parquet(snakemake.output.raw, index=False)
for kind, groups in (("color", len(cfg["color"]["channels"])), ("deriv", 1)):
    names = feature_names(kind, colour=cfg["color"], deriv=cfg["deriv"])
    table = feature_table(raw, kind, names, groups=groups)
    table.to_parquet(snakemake.output[kind], index=False)
    logging.info("%s features: %d tracks x %d bins", kind, len(table), len(names))
