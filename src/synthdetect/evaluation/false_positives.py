"""How often a detector calls human music AI: false-positive rates on collections of
human music that no model trained on, at each operating point, with bootstrap intervals
that resample recordings (the windows of one recording are not independent)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from synthdetect.evaluation.operating_points import fpr_with_ci

__all__ = ["false_positive_table", "worst_recordings"]


def false_positive_table(
    scores: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, Mapping[str, float | None]],
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rows (model, collection, point): windows, recordings and the FPR with its CI.

    ``scores`` maps a model to its window scores (:mod:`synthdetect.serving.benchmark`),
    ``thresholds`` a model to its operating points' thresholds (None: not fitted)."""
    rows = []
    for model, table in scores.items():
        ok = table[table.status == "ok"]
        for collection, part in ok.groupby("collection", sort=True):
            for point, threshold in thresholds[model].items():
                row = {
                    "model": model,
                    "collection": collection,
                    "point": point,
                    "threshold": threshold,
                    "windows": len(part),
                    "recordings": part.recording.nunique(),
                    "skipped_files": int(
                        (table[table.collection == collection].status != "ok").sum()
                    ),
                }
                if threshold is not None:
                    rate = fpr_with_ci(
                        part.p_ai.to_numpy(),
                        threshold,
                        seed=seed,
                        resamples=resamples,
                        level=level,
                        groups=part.recording.to_numpy(),
                    )
                    row |= {k: rate[k] for k in ("estimate", "low", "high", "count")}
                rows.append(row)
    return pd.DataFrame(rows)


def worst_recordings(scores: Mapping[str, pd.DataFrame], k: int = 5) -> pd.DataFrame:
    """Per model, the ``k`` recordings whose most AI-like window scores highest."""
    rows = []
    for model, table in scores.items():
        ok = table[table.status == "ok"]
        top = (
            ok.groupby("recording")
            .p_ai.agg(["max", "mean", "size"])
            .sort_values(["max", "mean"], ascending=False)
            .head(k)
        )
        for recording, r in top.iterrows():
            rows.append(
                {
                    "model": model,
                    "recording": recording,
                    "max_p_ai": r["max"],
                    "mean_p_ai": r["mean"],
                    "windows": int(r["size"]),
                }
            )
    return pd.DataFrame(rows)
