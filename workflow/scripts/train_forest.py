"""Random Forest on a histogram feature set."""

from synthdetect.experiment import feature_splits, fit_forest
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
data = feature_splits(snakemake.input.manifest, snakemake.input.features)
fit_forest(
    data,
    snakemake.output.model,
    seed=snakemake.params.seed,
    hp=snakemake.params.hp,
    threads=snakemake.threads,
)
