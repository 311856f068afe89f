"""A bundle scores the stored test clips and their unusual copies, as `predict` does."""

from synthdetect.logs import setup_logging
from synthdetect.serving.abstain import score_groups

setup_logging(snakemake.log[0])
scores = score_groups(snakemake.input.bundle, snakemake.input.inputs, threads=snakemake.threads)
scores.to_parquet(snakemake.output[0], index=False)
