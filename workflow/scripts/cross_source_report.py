"""The cross-source matrix: settings x models."""

import json
import logging

import pandas as pd

from synthdetect.evaluation.robustness import (
    cross_source_table,
    flat_markdown,
    plot_heatmap,
    sources_line,
)
from synthdetect.evaluation.tables import METRICS
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
metrics = {}
for key, path in snakemake.input.items():
    setting, _, model = key.partition("::")
    with open(path) as f:
        metrics.setdefault(setting, {})[model] = json.load(f)
settings = snakemake.params.settings
tables = {metric: cross_source_table(metrics, metric) for metric in METRICS}
pd.concat(tables, names=["metric"]).to_csv(snakemake.output.csv, float_format="%.4f")
with open(snakemake.output.md, "w") as f:
    f.write("Settings: " + "; ".join(f"{s}: {sources_line(**v)}" for s, v in settings.items()))
    f.write("\n\n")
    for metric in ("accuracy", "f1", "roc_auc"):
        f.write(flat_markdown(tables[metric], caption=f"Cross-source test {metric}") + "\n")
plot_heatmap(tables["accuracy"], snakemake.output.heatmap, "Cross-source test accuracy")
logging.info("cross-source accuracy\n%s", tables["accuracy"].round(3).to_string())
