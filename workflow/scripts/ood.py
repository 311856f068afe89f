"""A model's out-of-distribution distance: fitted on train, cut-off on validation."""

from synthdetect.evaluation.calibration import write_json
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
write_json(summary, snakemake.output.summary)
distances.to_parquet(snakemake.output.distances, index=False)
