"""False-positive rates on human-only collections, per model and operating point."""

from synthdetect.evaluation.reports import write_false_positive_report
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
p, out = snakemake.params, snakemake.output
write_false_positive_report(
    p.models,
    snakemake.input.scores,
    snakemake.input.calibration,
    out.csv,
    out.md,
    seed=p.seed,
    resamples=p.resamples,
    level=p.level,
)
