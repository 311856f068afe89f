"""A bundle scores the test clips and their unusual copies, as `predict` does."""

from pathlib import Path

from synthdetect.logs import setup_logging
from synthdetect.serving.abstain import UNUSUAL, score_groups, test_clips

setup_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
groups = {"test": test_clips(inp.manifest, p.clips, p.buckets, p.sources)}
for kind in UNUSUAL:
    groups[kind] = sorted(Path(inp.unusual, kind).glob("*.wav"))
scores = score_groups(inp.bundle, groups, threads=snakemake.threads)
scores.to_parquet(snakemake.output[0], index=False)
