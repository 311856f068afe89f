"""Test-set metrics (positive class = AI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = ["CLASS_NAMES", "binary_metrics"]

#: Label order of every confusion matrix: index 0 = human (y=0), 1 = AI (y=1).
CLASS_NAMES: tuple[str, str] = ("human", "ai")


def binary_metrics(
    y_true: Sequence[int] | np.ndarray, p_ai: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (positive = AI), ROC AUC and the confusion matrix.

    A sample is predicted AI when ``p_ai >= threshold``. Precision/recall/F1 use
    ``zero_division=0``. ``roc_auc`` is ``None`` (valid JSON, unlike NaN) when the test
    set holds one class only. ``confusion_matrix`` is ``[[tn, fp], [fn, tp]]``: rows =
    true class, columns = predicted, order [human, ai]. All values are plain Python
    numbers, ready for ``json.dump``.
    """
    y = np.asarray(y_true)
    p = np.asarray(p_ai, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise ValueError(f"y_true and p_ai must be 1-d of equal length: {y.shape} vs {p.shape}")
    if len(y) == 0:
        raise ValueError("no test samples")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold 0 (human) and 1 (AI) only")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_ai must be probabilities in [0, 1] (no NaN)")
    y = y.astype(np.int64)
    pred = (p >= threshold).astype(np.int64)
    cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    kw = {"pos_label": 1, "zero_division": 0}
    auc: float | None = None
    if len(np.unique(y)) == 2:
        auc = float(skm.roc_auc_score(y, p))
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, **kw)),
        "recall": float(skm.recall_score(y, pred, **kw)),
        "f1": float(skm.f1_score(y, pred, **kw)),
        "roc_auc": auc,
        "confusion_matrix": [[int(v) for v in row] for row in cm],
        "n_test": len(y),
        "threshold": float(threshold),
    }
