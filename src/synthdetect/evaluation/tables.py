"""Table 1: one row per metric, one column per model, as the paper prints it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import pandas as pd

from synthdetect.models import registry

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def load_metrics(paths: Mapping[str, str | os.PathLike]) -> dict[str, dict]:
    """Metrics JSON of each model, keyed by model name."""
    out = {}
    for model, path in paths.items():
        with open(path) as f:
            out[model] = json.load(f)
    return out


def table1(metrics: Mapping[str, Mapping], models: Sequence[str] | None = None) -> pd.DataFrame:
    """Metrics x models, models in the registry's (the paper's) order then any others."""
    names = list(models or metrics)
    names.sort(key=registry.paper_rank)
    table = pd.DataFrame(
        {m: [metrics[m][k] for k in METRICS] for m in names}, index=pd.Index(METRICS, name="metric")
    )
    return table


def to_markdown(table: pd.DataFrame, digits: int = 3, caption: str = "") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join([table.index.name or "", *table.columns]) + " |"
    rule = "| " + " | ".join(["---"] + ["---:"] * len(table.columns)) + " |"
    rows = [
        "| " + " | ".join([str(idx), *(_cell(v, digits) for v in row)]) + " |"
        for idx, row in zip(table.index, table.to_numpy(), strict=True)
    ]
    text = "\n".join([header, rule, *rows]) + "\n"
    return f"{caption}\n\n{text}" if caption else text


def _cell(value, digits: int) -> str:
    """A number to ``digits`` places; a missing one (a model a variant did not run) as –."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"
