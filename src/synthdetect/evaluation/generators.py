"""The generator study: how a detector trained on some generators fares on others.

Each cell is a cross-source setting's predictions (train on human + generator A, test on
human + generator B; or train on all generators but B). The thresholds are fitted on the
setting's own validation split (its train sources' validation tracks), never on the test
split: the held-out generator is unseen until the test.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from synthdetect.evaluation.operating_points import choose_threshold, threshold_at_fpr

__all__ = ["STUDY_METRICS", "setting_scores", "study_table"]

#: What each cell reports.
STUDY_METRICS = ("roc_auc", "accuracy", "tpr_at_fpr", "test_fpr")


def setting_scores(predictions: pd.DataFrame, fpr: float) -> dict[str, float | None]:
    """ROC-AUC on test; accuracy at the balanced-accuracy threshold fitted on val; the
    test TPR (and test FPR) at the threshold whose validation FPR is ``fpr``."""
    val = predictions[predictions.split == "val"]
    test = predictions[predictions.split == "test"]
    y, p = test.y.to_numpy(), test.p_ai.to_numpy(dtype=np.float64)
    threshold, _ = choose_threshold(val.p_ai.to_numpy(dtype=np.float64), val.y.to_numpy())
    point = threshold_at_fpr(val.p_ai[val.y == 0].to_numpy(dtype=np.float64), fpr)
    out: dict[str, float | None] = {
        "roc_auc": float(roc_auc_score(y, p)) if len(set(y)) == 2 else None,
        "accuracy": float(np.mean((p >= threshold) == (y == 1))),
        "threshold": float(threshold),
        "fpr_threshold": point.threshold,
        "fpr_estimable": point.estimable,
        "tpr_at_fpr": None,
        "test_fpr": None,
    }
    if point.threshold is not None:
        if (y == 1).any():
            out["tpr_at_fpr"] = float(np.mean(p[y == 1] >= point.threshold))
        if (y == 0).any():
            out["test_fpr"] = float(np.mean(p[y == 0] >= point.threshold))
    return out


def study_table(
    predictions: Mapping[tuple[str, str], pd.DataFrame],
    settings: Mapping[str, Mapping],
    fpr: float,
) -> pd.DataFrame:
    """One row per (setting, model): the study ("matrix" or "loo"), the train and test
    generators, and :func:`setting_scores`. ``predictions`` is keyed (setting, model)."""
    rows = []
    for (setting, model), table in predictions.items():
        meta = settings[setting]
        rows.append(
            {
                "study": meta["study"],
                "setting": setting,
                "model": model,
                "train": "+".join(meta["train_generators"]),
                "test": "+".join(meta["test_generators"]),
                **setting_scores(table, fpr),
            }
        )
    return pd.DataFrame(rows)
