"""Write Table 1 (CSV and Markdown) from every model's test-split metrics."""

import logging

from synthdetect.evaluation.tables import load_metrics, table1, to_markdown
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
models = snakemake.params.models
metrics = load_metrics(dict(zip(models, snakemake.input.metrics, strict=True)))
table = table1(metrics, models)
table.to_csv(snakemake.output.csv, float_format="%.4f")
n_test = {m: metrics[m]["n_test"] for m in models}
caption = f"Test-split metrics (positive class = AI); test tracks per model: {n_test}"
with open(snakemake.output.md, "w") as f:
    f.write(to_markdown(table, caption=caption))
logging.info("Table 1\n%s", table.round(3).to_string())
