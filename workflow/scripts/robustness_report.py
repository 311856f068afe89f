"""The robustness table (model x manipulation) and its accuracy heatmap."""

import logging

import pandas as pd

from synthdetect.evaluation.robustness import (
    ROBUSTNESS_METRICS,
    flat_markdown,
    plot_heatmap,
    robustness_table,
)
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
scores = pd.concat([pd.read_parquet(p) for p in snakemake.input], ignore_index=True)
scores.to_csv(snakemake.output.csv, index=False, float_format="%.4f")
n_test = int(scores.n_test.iloc[0])
with open(snakemake.output.md, "w") as f:
    for metric in ROBUSTNESS_METRICS:
        caption = f"Robustness: test-split {metric} ({n_test} tracks) per manipulation"
        f.write(flat_markdown(robustness_table(scores, metric), caption=caption) + "\n")
accuracy = robustness_table(scores, "accuracy")
plot_heatmap(
    accuracy,
    snakemake.output.heatmap,
    f"Test accuracy under manipulation (n={n_test}; chance = 0.5)",
    vmin=0.5,
)
logging.info("accuracy\n%s", accuracy.round(3).to_string())
