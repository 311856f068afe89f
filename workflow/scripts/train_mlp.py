"""Three-layer MLP on a histogram feature set."""

from synthdetect.experiment import feature_splits, fit_network
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
fit_network(
    f"mlp_{snakemake.wildcards.feat}",
    feature_splits(snakemake.input.manifest, snakemake.input.features),
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.curve,
    seed=p.seed,
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
)
