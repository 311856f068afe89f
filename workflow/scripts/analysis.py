"""Class-average and focused histograms (the paper's Fig. 1 and 2)."""

import json
import logging

import pandas as pd

from synthdetect.evaluation import analysis
from synthdetect.features.histograms import feature_names
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
cfg = snakemake.params.features
raw = pd.read_parquet(snakemake.input.raw)
labels = pd.read_parquet(snakemake.input.manifest, columns=["label"]).label
summary = {}
channels = cfg["color"]["channels"]
for kind, groups in (("color", len(channels)), ("deriv", 1)):
    averages = analysis.class_averages(raw, labels, kind, groups)
    focused, peaks = analysis.focus(averages)
    names = feature_names(kind, color=cfg["color"], deriv=cfg["deriv"])
    summary[kind] = {
        "background_peak_bins": [
            names[g * (len(names) // groups) + int(p)] for g, p in enumerate(peaks)
        ],
        "largest_difference": analysis.largest_difference(focused, names),
        "class_average_pct": {c: (100 * averages[c]).round(3).tolist() for c in averages},
    }
    if kind == "color":
        analysis.plot_color(averages, focused, channels, snakemake.output.color)
    else:
        analysis.plot_derivative(averages, focused, snakemake.output.deriv)
    logging.info("%s: largest focused difference %s", kind, summary[kind]["largest_difference"])
with open(snakemake.output.summary, "w") as f:
    json.dump(summary, f, indent=2)
