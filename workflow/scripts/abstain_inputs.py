"""The test clips and their unusual copies through the bundles' preprocessing, once."""

from pathlib import Path

from synthdetect.logs import setup_logging
from synthdetect.serving.abstain import UNUSUAL, prepare_groups, test_clips

setup_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
groups = {"test": test_clips(inp.manifest, p.clips, p.buckets, p.sources)}
for kind in UNUSUAL:
    groups[kind] = sorted(Path(inp.unusual, kind).glob("*.wav"))
prepare_groups(groups, p.preprocessing, snakemake.output[0], clips=p.fakeprints)
