"""Export a trained model with its preprocessing and calibration for `synthdetect predict`."""

import json

from synthdetect.logs import setup_logging
from synthdetect.serving.bundle import write_bundle

setup_logging(snakemake.log[0])
inp = snakemake.input
p = snakemake.params


def load(path):
    with open(path) as f:
        return json.load(f)


calibration = load(inp.calibration)
write_bundle(
    snakemake.output[0],
    model=snakemake.wildcards.model,
    weights=inp.weights,
    hp=p.hp,
    preprocessing=p.preprocessing,
    calibration=calibration,
    metrics=load(inp.metrics),
    ci=load(inp.ci)["metrics"],
    training={"seed": p.seed, "n": calibration.get("n")},
)
