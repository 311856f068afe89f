"""Write Table 1 (CSV and Markdown) from every model's test-split metrics."""

from synthdetect.evaluation.reports import write_table1
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_table1(snakemake.params.models, snakemake.input.metrics, out.csv, out.md)
