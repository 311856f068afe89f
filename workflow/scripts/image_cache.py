"""Decode one split's spectrogram PNGs once into a uint8 array the trainers memory-map."""

import logging

import pandas as pd

from synthdetect.features.images import write_image_cache
from synthdetect.logs import setup_logging
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.stages import PNG_SUFFIX

setup_logging(snakemake.log[0])
p = snakemake.params
split = snakemake.wildcards.split
rows = pd.read_parquet(snakemake.input.manifest, columns=["source", "track", "split"])
rows = rows[rows.split == split]
if p.sources is not None:  # a control leaves the derived sources out
    rows = rows[rows.source.isin(p.sources)]
pngs = [
    track_file(p.root, s, t, p.buckets, PNG_SUFFIX, s in p.derived)
    for s, t in zip(rows.source, rows.track, strict=True)
]
write_image_cache(pngs, snakemake.output[0], tuple(p.size))
logging.info("split %s: %d images", split, len(pngs))
