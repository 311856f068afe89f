"""Candidate table of one source, from its kind's recipe (synthdetect.data.sourcekind)."""

import logging

from synthdetect.data.candidates import build
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
name = snakemake.wildcards.source
table = build(name, snakemake.params.recipe, dict(snakemake.input))
logging.info("source %s: %d candidate tracks", name, len(table))
table.to_parquet(snakemake.output[0], index=False)
