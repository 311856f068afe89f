"""Three-layer MLP on a histogram feature set."""

from synthdetect.logs import setup_logging
from synthdetect.models.run import feature_splits, fit_network, select_sources

setup_logging(snakemake.log[0])
p = snakemake.params
fit_network(
    f"mlp_{snakemake.wildcards.feat}",
    select_sources(feature_splits(snakemake.input.manifest, snakemake.input.features), **p.sources),
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.curve,
    seed=p.seed,
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
)
