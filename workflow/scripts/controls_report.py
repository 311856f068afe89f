"""Table 1 without and with each codec control, side by side."""

from synthdetect.evaluation.reports import write_controls_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_controls_report(dict(snakemake.input.items()), snakemake.params.controls, out.csv, out.md)
