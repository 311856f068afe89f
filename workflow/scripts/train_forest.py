"""Random Forest on a histogram feature set."""

from synthdetect.logs import setup_logging
from synthdetect.models.run import feature_splits, fit_forest, select_sources

setup_logging(snakemake.log[0])
sources = snakemake.params.sources
data = select_sources(feature_splits(snakemake.input.manifest, snakemake.input.features), **sources)
fit_forest(
    data,
    snakemake.output.model,
    seed=snakemake.params.seed,
    hp=snakemake.params.hp,
    threads=snakemake.threads,
)
