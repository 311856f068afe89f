"""The generator matrix and leave-one-generator-out tables, and the matrix heatmap."""

from synthdetect.evaluation.reports import write_generator_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_generator_report(
    dict(snakemake.input.items()),
    snakemake.params.settings,
    snakemake.params.fpr,
    out.csv,
    out.md,
    out.heatmap,
)
