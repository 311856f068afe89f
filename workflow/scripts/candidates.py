"""Candidate table of one source (demo or composer corpus index, folder, FMA or AAM)."""

import logging

from synthdetect.data import candidates
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
name = snakemake.wildcards.source
spec = snakemake.params.spec
if spec["kind"] in ("demo", "composer"):
    table = candidates.index_candidates(name, snakemake.input.index, spec["label"])
elif spec["kind"] == "folder":
    table = candidates.folder_candidates(name, spec["path"], spec["label"], spec["glob"])
else:
    table = candidates.archive_candidates(name, spec, dict(snakemake.input))
logging.info("source %s: %d candidate tracks", name, len(table))
table.to_parquet(snakemake.output[0], index=False)
