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


def test_robustness_rows_count_human_false_positives_at_each_point():
    """The human side of a manipulated test split, at the thresholds fitted on the original
    validation clips (calibrated P(AI)); points the validation split could not fit are named."""
    import numpy as np

    from synthdetect.evaluation.robustness import human_fprs

    calibration = {
        "logit_clip_eps": 1e-6,
        "temperature": 2.0,
        "threshold": 0.5,
        "operating_points": {
            "points": {
                "balanced": {"threshold": 0.5, "estimable": True},
                "fpr_0.01": {"threshold": 0.8, "estimable": False},
            }
        },
    }
    # calibrated P(AI) = sigmoid(logit(p) / 2): raw 0.9 -> 0.75, 0.99 -> 0.909, 0.6 -> 0.55
    p_ai = np.array([0.9, 0.99, 0.6, 0.1, 0.99])
    y = np.array([0, 0, 0, 0, 1])
    out = human_fprs(p_ai, y, calibration)
    assert out["n_human"] == 4
    assert out["fpr_at_balanced"] == 0.75 and out["fpr_at_fpr_0.01"] == 0.25
    assert out["not_estimable"] == "fpr_0.01"


def test_report_marks_points_the_validation_split_could_not_fit(tmp_path):
    import json

    from synthdetect.evaluation.reports import write_false_positive_report

    _scores().to_parquet(tmp_path / "m.parquet")
    points = {
        "balanced": {"threshold": 0.5, "estimable": True},
        "fpr_0.01": {"threshold": 0.9, "estimable": False},
    }
    (tmp_path / "m.json").write_text(json.dumps({"operating_points": {"points": points}}))
    md = tmp_path / "fp.md"
    table = write_false_positive_report(
        ["m"], [tmp_path / "m.parquet"], [tmp_path / "m.json"], tmp_path / "fp.csv", md, seed=0
    )
    assert list(table.estimable) == [True, False]
    rows = [ln for ln in md.read_text().splitlines() if ln.startswith("| c | m |")]
    assert [r.split(" | ")[2] for r in rows] == ["balanced", "fpr_0.01 †"]
