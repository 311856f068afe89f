"""A model's out-of-distribution distance: fitted on train, cut-off on validation."""

import json
from pathlib import Path

from synthdetect.evaluation.ood import model_ood, save_ood
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
ood, summary, distances = model_ood(
    snakemake.wildcards.model,
    inp.model,
    inp.manifest,
    {k: v for k, v in inp.items() if k not in ("model", "manifest")},
    hp=p.hp,
    quantile=p.quantile,
    device=p.device,
    threads=snakemake.threads,
)
save_ood(ood, snakemake.output.model)
Path(snakemake.output.summary).write_text(json.dumps(summary, indent=2) + "\n")
distances.to_parquet(snakemake.output.distances, index=False)
