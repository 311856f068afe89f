"""Probe, sample, crop and split every source into the manifest."""

import logging

import pandas as pd

from synthdetect.logs import setup_logging
from synthdetect.pipeline.manifest import build_manifest

setup_logging(snakemake.log[0])
params = snakemake.params
sources = []
for name, path in zip(params.names, snakemake.input, strict=True):
    table = pd.read_parquet(path)
    sources.append(({"name": name, **params.sources[name]}, table))
manifest, excluded = build_manifest(
    sources,
    derived=params.derived,
    seed=params.seed,
    clip_s=params.clip["seconds"],
    split=params.split,
    silence_dbfs=params.clip["silence_dbfs"],
    threads=snakemake.threads,
    balance=params.balance,
)
manifest.to_parquet(snakemake.output.manifest, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
counts = manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
logging.info("manifest: %d tracks, %d excluded\n%s", len(manifest), len(excluded), counts)
