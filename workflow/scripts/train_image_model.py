"""The paper's CNN or frozen ResNet18 on the spectrogram images."""

from synthdetect.logs import setup_logging
from synthdetect.models.run import fit_network, image_splits, select_sources

setup_logging(snakemake.log[0])
p = snakemake.params
inp = snakemake.input
fit_network(
    snakemake.wildcards.net,
    select_sources(image_splits(inp.manifest, {"train": inp.train, "val": inp.val}), **p.sources),
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.curve,
    seed=p.seed,
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
)
