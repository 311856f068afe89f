"""Test-set metrics (positive class = AI) and the report's figures.

Figures are drawn on matplotlib ``Figure`` objects with the Agg canvas (no pyplot, no
display, no global figure state), saved as PNG.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

__all__ = ["CLASS_NAMES", "binary_metrics", "plot_confusion_matrix", "plot_loss_curves"]

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


def _new_figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})


def plot_confusion_matrix(
    cm: Sequence[Sequence[int]] | np.ndarray, path: str | os.PathLike, title: str
) -> None:
    """Confusion matrix ``[[tn, fp], [fn, tp]]`` as an annotated heat map (PNG).

    Cells show the count and the share of the true class (row).
    """
    m = np.asarray(cm, dtype=np.int64)
    if m.shape != (2, 2):
        raise ValueError(f"expected a 2x2 confusion matrix, got shape {m.shape}")
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, dtype=np.float64), where=rows > 0)
    fig = _new_figure((4.2, 3.8))
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                f"{m[i, j]}\n{share[i, j]:.1%}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks([0, 1], labels=list(CLASS_NAMES))
    ax.set_yticks([0, 1], labels=list(CLASS_NAMES))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_loss_curves(history: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """Train and validation loss per epoch (PNG), the best (lowest val loss) epoch marked.

    ``history`` is :attr:`synthdetect.training.TrainResult.history` (columns ``epoch``,
    ``train_loss``, ``val_loss``; ``val_accuracy`` goes in the legend of the best epoch
    when present).
    """
    missing = {"epoch", "train_loss", "val_loss"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}")
    if history.empty:
        raise ValueError("empty history")
    h = history.sort_values("epoch")
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    ax.plot(h["epoch"], h["train_loss"], marker="o", label="train")
    ax.plot(h["epoch"], h["val_loss"], marker="o", label="validation")
    val = h["val_loss"].to_numpy(dtype=np.float64)
    if np.isfinite(val).any():
        best = int(np.nanargmin(np.where(np.isfinite(val), val, np.nan)))
        label = f"best epoch {int(h['epoch'].iloc[best])}"
        if "val_accuracy" in h.columns and not math.isnan(float(h["val_accuracy"].iloc[best])):
            label += f" (val acc {float(h['val_accuracy'].iloc[best]):.3f})"
        ax.axvline(h["epoch"].iloc[best], color="grey", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE loss")
    ax.set_title(title)
    if len(h) <= 30:
        ax.set_xticks(h["epoch"].tolist())
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
