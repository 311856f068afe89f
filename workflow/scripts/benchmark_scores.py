"""Score every window of the false-positive benchmark's collections with one bundle."""

from synthdetect.logs import setup_logging
from synthdetect.serving.benchmark import score_collections

setup_logging(snakemake.log[0])
scores = score_collections(
    snakemake.input.bundle, snakemake.params.collections, threads=snakemake.threads
)
scores.to_parquet(snakemake.output[0], index=False)
