"""Metrics against hand-computed values; figures are written as PNG."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synthdetect.evaluation.evaluate import plot_confusion_matrix
from synthdetect.evaluation.metrics import binary_metrics
from synthdetect.models.run import plot_loss_curves

# 10 test tracks; 1 = AI. Predicted AI where p >= 0.5:
#   y    = 1    1    1    1    0    0    0    0    0    1
#   p    = .9   .8   .6   .4   .3   .2   .7   .1   .5   .05
#   pred = 1    1    1    0    0    0    1    0    1    0
# tp = 3, fn = 2, fp = 2, tn = 3
Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
P = [0.9, 0.8, 0.6, 0.4, 0.3, 0.2, 0.7, 0.1, 0.5, 0.05]


def test_binary_metrics_hand_computed():
    m = binary_metrics(Y, P)
    assert m["confusion_matrix"] == [[3, 2], [2, 3]]  # [[tn, fp], [fn, tp]]
    assert m["accuracy"] == pytest.approx(6 / 10)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(3 / 5)
    # AUC = share of (AI, human) pairs ranked correctly. AI scores .9 .8 .6 .4 .05 vs
    # human .3 .2 .7 .1 .5: beats 5, 5, 4, 3, 0 of the 5 humans -> 17 / 25
    assert m["roc_auc"] == pytest.approx(17 / 25)
    assert m["n_test"] == 10 and m["threshold"] == 0.5


def test_threshold_moves_the_decision():
    m = binary_metrics(Y, P, threshold=0.75)  # only .9 and .8 are AI now
    assert m["confusion_matrix"] == [[5, 0], [3, 2]]
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(2 / 5)
    assert m["f1"] == pytest.approx(2 * 1.0 * 0.4 / 1.4)
    assert m["roc_auc"] == pytest.approx(17 / 25)  # threshold-free


def test_positive_class_is_ai():
    # all predicted AI: recall 1, precision = share of AI
    m = binary_metrics([1, 0, 0, 0], [0.9, 0.9, 0.9, 0.9])
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(0.25)


def test_one_class_only_is_safe_and_json_ready():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning either
        m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert m["roc_auc"] is None
    assert m["accuracy"] == 1.0 and m["precision"] == 0.0 and m["recall"] == 0.0
    assert m["f1"] == 0.0
    assert m["confusion_matrix"] == [[3, 0], [0, 0]]
    json.loads(json.dumps(m, allow_nan=False))
    json.loads(json.dumps(binary_metrics(np.array(Y), np.array(P)), allow_nan=False))


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 1], [0.5]),
        ([0, 2], [0.1, 0.2]),
        ([0, 1], [0.1, np.nan]),
        ([0, 1], [0.1, 1.5]),
        ([], []),
    ],
)
def test_bad_inputs_raise(y, p):
    with pytest.raises(ValueError):
        binary_metrics(y, p)


def _is_png(path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_plot_confusion_matrix_writes_png(tmp_path):
    out = tmp_path / "figs" / "cm.png"
    plot_confusion_matrix([[3, 2], [2, 3]], out, "RF on color histograms")
    w, h = _is_png(out)
    assert w > 200 and h > 200
    plot_confusion_matrix(np.array([[0, 0], [0, 4]]), tmp_path / "cm0.png", "empty row")
    _is_png(tmp_path / "cm0.png")
    with pytest.raises(ValueError):
        plot_confusion_matrix([[1, 2, 3]], tmp_path / "bad.png", "bad")


def test_plot_loss_curves_writes_png(tmp_path):
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.7, 0.4, 0.2],
            "val_loss": [0.6, 0.35, 0.5],
            "val_accuracy": [0.6, 0.8, 0.75],
            "seconds": [1.0, 1.0, 1.0],
        }
    )
    plot_loss_curves(history, tmp_path / "loss.png", "PaperCNN")
    w, h = _is_png(tmp_path / "loss.png")
    assert w > 300 and h > 200
    history.loc[:, "val_loss"] = np.nan  # a diverged run still gets its figure
    plot_loss_curves(history, tmp_path / "nan.png", "diverged")
    _is_png(tmp_path / "nan.png")
    with pytest.raises(ValueError, match="lacks columns"):
        plot_loss_curves(history.drop(columns="val_loss"), tmp_path / "x.png", "x")
