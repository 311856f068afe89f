"""The model card of a bundle: its rows of the reports that score it."""

from synthdetect.logs import setup_logging
from synthdetect.serving.bundle import write_card

setup_logging(snakemake.log[0])
inp = snakemake.input
write_card(
    snakemake.output[0],
    snakemake.wildcards.model,
    bundle=inp.bundle,
    reports={k: v for k, v in inp.items() if k != "bundle"},
)
