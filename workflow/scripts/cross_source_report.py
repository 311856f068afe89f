"""The cross-source matrix: settings x models."""

from synthdetect.evaluation.reports import write_cross_source_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_cross_source_report(
    dict(snakemake.input.items()), snakemake.params.settings, out.csv, out.md, out.heatmap
)
