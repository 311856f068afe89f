"""Train one derived source's autoencoder on its parent's train split."""

import logging

from synthdetect.logs import setup_logging
from synthdetect.pipeline.generators import train_source_autoencoder

setup_logging(snakemake.log[0])
p = snakemake.params
history = train_source_autoencoder(
    snakemake.input.manifest,
    snakemake.wildcards.source,
    p.parent,
    p.settings,
    seed=p.seed,
    seconds=p.seconds,
    sample_rate=p.sample_rate,
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    threads=snakemake.threads,
)
logging.info(
    "%s: %d steps on %d windows of %s in %.1f s (stopped by %s), final loss %.4f",
    snakemake.wildcards.source,
    history["steps"],
    history["windows"],
    p.parent,
    history["wall_seconds"],
    history["stopped_by"],
    history["loss"][-1],
)
