"""The robustness table (model x manipulation) and its accuracy heatmap."""

from synthdetect.evaluation.reports import write_robustness_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_robustness_report(list(snakemake.input), out.csv, out.md, out.heatmap)
