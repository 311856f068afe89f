"""Export a trained model with its preprocessing and calibration for `synthdetect predict`."""

import json

import pandas as pd

from synthdetect.logs import setup_logging
from synthdetect.serving.bundle import write_bundle

setup_logging(snakemake.log[0])
inp = snakemake.input
p = snakemake.params


def load(path):
    with open(path) as f:
        return json.load(f)


calibration = load(inp.calibration)
manifest = pd.read_parquet(inp.manifest, columns=["source", "split"])
write_bundle(
    snakemake.output[0],
    model=snakemake.wildcards.model,
    weights=inp.weights,
    hp=p.hp,
    preprocessing=p.preprocessing,
    calibration=calibration,
    metrics=load(inp.metrics),
    ci=load(inp.ci)["metrics"],
    ood=inp.ood,
    abstain=load(inp.ood_summary) | {"band": p.band},
    training={
        "seed": p.seed,
        "n": calibration.get("n"),
        # what the model learned from: each source's kind, label and tracks per split
        "corpus": {
            name: {
                **spec,
                "tracks": {
                    split: int(count)
                    for split, count in manifest[manifest.source == name]
                    .split.value_counts()
                    .items()
                },
            }
            for name, spec in p.sources.items()
        },
    },
)
