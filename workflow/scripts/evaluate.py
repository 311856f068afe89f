"""Score a trained model on every split; metrics on the test split only."""

from synthdetect.evaluation.evaluate import evaluate
from synthdetect.logs import setup_logging
from synthdetect.models.run import load_splits, select_sources

setup_logging(snakemake.log[0])
name = snakemake.wildcards.model
data = load_splits(
    name,
    snakemake.input.manifest,
    dict(snakemake.input.items()),
    sources=snakemake.params.covers,
)
evaluate(
    name,
    snakemake.input.model,
    select_sources(data, **snakemake.params.sources),
    snakemake.output.predictions,
    snakemake.output.metrics,
    snakemake.output.confusion,
    hp=snakemake.params.hp,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
