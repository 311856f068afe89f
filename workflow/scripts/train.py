"""Train a model of the registry on the train split (best epoch on val)."""

from synthdetect.logs import setup_logging
from synthdetect.models.run import fit, load_splits, select_sources

setup_logging(snakemake.log[0])
p = snakemake.params
name = snakemake.wildcards.model
data = load_splits(
    name,
    snakemake.input.manifest,
    dict(snakemake.input.items()),
    sources=snakemake.params.covers,
)
out = dict(snakemake.output.items())
fit(
    name,
    select_sources(data, **p.sources),
    out["model"],
    out.get("history"),
    out.get("curve"),
    seed=p.seed,
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
)
