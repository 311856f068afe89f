"""Scoring a trained model: predictions for every split, Table 1's metrics on test only."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from synthdetect.evaluation.metrics import CLASS_NAMES, binary_metrics
from synthdetect.figures import new_figure, save_figure
from synthdetect.models import registry
from synthdetect.models.run import SplitData, job_data, load_model, predict

log = logging.getLogger(__name__)


def evaluate(
    name: str,
    model_path,
    data: SplitData,
    out_predictions,
    out_metrics,
    out_confusion,
    *,
    hp: dict,
    device: str,
    threads: int,
) -> dict:
    """Predictions for every split; metrics and the confusion matrix on test only."""
    if registry.get(name).family.torch:
        from synthdetect.models.training import set_threads

        set_threads(threads)
    model = load_model(name, model_path, hp, data)
    frames = []
    for split in data.X:
        frames.append(data.rows[split].assign(p_ai=predict(model, data.X[split], device)))
    predictions = pd.concat(frames, ignore_index=True)
    predictions.to_parquet(out_predictions, index=False)
    test = predictions[predictions.split == "test"]
    metrics = {"model": name, **binary_metrics(test.y.to_numpy(), test.p_ai.to_numpy())}
    with open(out_metrics, "w") as f:
        json.dump(metrics, f, indent=2)
    plot_confusion_matrix(
        metrics["confusion_matrix"], out_confusion, f"{name}: test split (n={metrics['n_test']})"
    )
    log.info("%s test: %s", name, {k: metrics[k] for k in ("accuracy", "f1", "roc_auc")})
    return metrics


def evaluate_job(
    name: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    params: Mapping,
    *,
    threads: int,
    log: str | os.PathLike,
) -> dict:
    """The `evaluate` rule (a `run:` block in Snakemake's process): :func:`evaluate` of
    :func:`~synthdetect.models.run.job_data` into the rule's three outputs, logging to
    the job's ``log`` only."""
    from synthdetect.logs import thread_log

    with thread_log(log):
        return evaluate(
            name,
            inputs["model"],
            job_data(name, inputs, params),
            outputs["predictions"],
            outputs["metrics"],
            outputs["confusion"],
            hp=params["hp"],
            device=params["device"],
            threads=threads,
        )


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
    fig = new_figure((4.2, 3.8))
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
    save_figure(fig, path)
