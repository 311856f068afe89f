"""One Table 1 model scored on the original and every manipulated test split."""

import json
import logging
from pathlib import Path

from synthdetect.evaluation.robustness import score_manipulations
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
name = snakemake.wildcards.model
scores = score_manipulations(
    name,
    snakemake.input.model,
    snakemake.input.manifest,
    {m: snakemake.input[m] for m in p.manipulations},
    hp=p.hp,
    device=p.device,
    threads=snakemake.threads,
    calibration=json.loads(Path(snakemake.input.calibration).read_text()),
    sources=p.sources,
    covers=p.covers,
)
scores.to_parquet(snakemake.output[0], index=False)
logging.info("%s\n%s", name, scores.round(3).to_string(index=False))
