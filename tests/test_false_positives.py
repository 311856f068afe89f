"""False-positive rates on a human-only collection, from window scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthdetect.evaluation.false_positives import false_positive_table, worst_recordings


def _scores(n_rec: int = 40, windows: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_rec):
        for _ in range(windows):
            rows.append(
                {"collection": "c", "recording": f"c/r{r}", "p_ai": rng.uniform(), "status": "ok"}
            )
    rows.append({"collection": "c", "recording": "c/bad", "p_ai": np.nan, "status": "error"})
    return pd.DataFrame(rows)


def test_rate_counts_windows_at_or_above_the_threshold():
    scores = _scores()
    table = false_positive_table(
        {"m": scores}, {"m": {"balanced": 0.5, "fpr_0.01": 0.9, "none": None}}, seed=0
    )
    ok = scores[scores.status == "ok"]
    balanced = table[table.point == "balanced"].iloc[0]
    assert balanced.windows == 200 and balanced.recordings == 40 and balanced.skipped_files == 1
    assert balanced.estimate == (ok.p_ai >= 0.5).mean()
    assert balanced.low <= balanced.estimate <= balanced.high
    strict = table[table.point == "fpr_0.01"].iloc[0]
    assert strict.estimate == (ok.p_ai >= 0.9).mean() < balanced.estimate
    assert pd.isna(table[table.point == "none"].iloc[0].estimate)


def test_worst_recordings_are_sorted_by_their_highest_window():
    scores = _scores()
    worst = worst_recordings({"m": scores}, k=3)
    assert len(worst) == 3 and worst.max_p_ai.is_monotonic_decreasing
    assert worst.max_p_ai.iloc[0] == scores.p_ai.max()
