"""Table 1 without and with each codec control, side by side."""

import json
import logging

from synthdetect.evaluation.robustness import controls_table, flat_markdown
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
metrics = {}
for key, path in snakemake.input.items():
    variant, _, model = key.partition("::")
    with open(path) as f:
        metrics.setdefault(variant, {})[model] = json.load(f)
table = controls_table(metrics)
table.to_csv(snakemake.output.csv, float_format="%.4f")
described = {"table1": "no control", **{k: str(v) for k, v in snakemake.params.controls.items()}}
caption = "Test-split metrics without and with each control: " + "; ".join(
    f"{k} = {v}" for k, v in described.items()
)
with open(snakemake.output.md, "w") as f:
    f.write(caption + "\n\n")
    for metric in ("accuracy", "f1", "roc_auc"):
        per_model = table.loc[metric].unstack("variant")  # model x variant
        per_model = per_model.reindex(columns=list(metrics)).loc[
            list(dict.fromkeys(m for m, _ in table.columns))
        ]
        per_model.index.name = "model"
        f.write(flat_markdown(per_model, caption=f"Test {metric}") + "\n")
logging.info("controls\n%s", table.round(3).to_string())
