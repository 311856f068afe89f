"""Score every stored window of the false-positive benchmark's collections with one bundle."""

from synthdetect.logs import setup_logging
from synthdetect.serving.benchmark import score_windows

setup_logging(snakemake.log[0])
scores = score_windows(
    snakemake.input.bundle,
    dict(zip(snakemake.params.collections, snakemake.input.windows, strict=True)),
    threads=snakemake.threads,
)
scores.to_parquet(snakemake.output[0], index=False)
