"""Stack per-track fakeprints into the fakeprint feature table, in manifest order."""

import logging

import pandas as pd

from synthdetect.features.fakeprint import fakeprint_table
from synthdetect.logs import setup_logging
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.stages import FAKEPRINT_SUFFIX

setup_logging(snakemake.log[0])
p = snakemake.params
order = pd.read_parquet(snakemake.input.manifest, columns=["source", "track", "split"])
if p.split:  # a robustness manipulation covers the test split only
    order = order[order.split == p.split]
if p.sources is not None:  # a control leaves the derived sources out
    order = order[order.source.isin(p.sources)]
paths = [
    track_file(p.root, s, t, p.buckets, FAKEPRINT_SUFFIX, s in p.derived)
    for s, t in zip(order.source, order.track, strict=True)
]
table = fakeprint_table(paths)
table.to_parquet(snakemake.output[0], index=False)
logging.info("fakeprints: %d tracks x %d bins", len(table), table.shape[1] - 2)
