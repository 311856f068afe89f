"""Abstain rates per model: test clips, unusual inputs, benchmark collections."""

from synthdetect.evaluation.reports import write_abstain_report
from synthdetect.logs import setup_logging
from synthdetect.serving.unusual import UNUSUAL

setup_logging(snakemake.log[0])
inp, p, out = snakemake.input, snakemake.params, snakemake.output
write_abstain_report(
    p.models,
    inp.scores,
    inp.summaries,
    inp.calibration,
    out.csv,
    out.md,
    band=p.band,
    benchmark_paths=inp.benchmark,
    descriptions={"test": "test clips"} | {k: f"{k}: {v}" for k, v in UNUSUAL.items()},
)
