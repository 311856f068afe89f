"""Every model's operating points: thresholds and test TPR/FPR with their intervals."""

from synthdetect.evaluation.reports import write_operating_points_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_operating_points_report(snakemake.params.models, snakemake.input, out.csv, out.md)
