"""Train a model of the registry on the train split (best epoch on val)."""

from synthdetect.logs import setup_logging
from synthdetect.models.run import fit, job_data

setup_logging(snakemake.log[0])
p = snakemake.params
name = snakemake.wildcards.model
out = dict(snakemake.output.items())
fit(
    name,
    job_data(name, dict(snakemake.input.items()), {"covers": p.covers, "sources": p.sources}),
    out["model"],
    out.get("history"),
    out.get("curve"),
    seed=p.seed,
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
)
