"""Temperature scaling, threshold choice, ECE, reliability diagrams, bootstrap CIs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from synthdetect.evaluation.calibration import (
    _weighted_metrics,
    bootstrap_ci,
    calibrate_predictions,
    clip_logits,
    expected_calibration_error,
    fit_temperature,
    log_loss,
    logit_clip_eps,
    logits_from_proba,
    plot_reliability,
    reliability_curve,
    sigmoid,
    write_json,
)
from synthdetect.evaluation.metrics import binary_metrics
from synthdetect.evaluation.operating_points import choose_threshold


def calibrated_sample(n: int, seed: int, scale: float = 2.0):
    """Logits and labels drawn so that sigmoid(z) is the true P(y=1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, scale, n)
    y = (rng.random(n) < sigmoid(z)).astype(np.int64)
    return z, y


def test_temperature_recovers_a_known_overconfidence():
    z, y = calibrated_sample(20000, 0)
    t, note = fit_temperature(3.0 * z, y)  # a model 3x too confident
    assert note == "" and t == pytest.approx(3.0, rel=0.05)
    t1, _ = fit_temperature(z, y)
    assert t1 == pytest.approx(1.0, rel=0.05)


def test_temperature_of_a_perfectly_separated_split_stays_one():
    t, note = fit_temperature(np.array([-2.0, -0.1, 0.3, 4.0]), np.array([0, 0, 1, 1]))
    assert (t, note) == (1.0, "separated")


def test_temperature_of_a_wrong_model_hits_the_upper_bound():
    t, note = fit_temperature(np.array([3.0, 2.0, -1.0, -2.0]), np.array([0, 0, 1, 1]))
    assert note == "at_bound" and t > 19


def test_temperature_rejects_bad_shapes():
    with pytest.raises(ValueError, match="1-d"):
        fit_temperature(np.zeros(3), np.zeros(2))


def test_logit_clip_matches_between_probabilities_and_logits():
    eps = logit_clip_eps("rf_color", {"n_estimators": 20})
    assert eps == pytest.approx(0.025)
    assert logit_clip_eps("cnn", {}) == pytest.approx(1e-6)
    z = logits_from_proba(np.array([0.0, 0.5, 1.0]), eps)
    assert np.all(np.isfinite(z)) and z[1] == 0 and z[0] == pytest.approx(-z[2])
    assert clip_logits(np.array([-100.0, 100.0]), eps) == pytest.approx([z[0], z[2]])
    assert sigmoid(z[2]) == pytest.approx(1 - eps)


def test_ece_of_a_hand_example_and_of_calibrated_scores():
    # ten scores of 0.9, half positive: one bin, |0.9 - 0.5| = 0.4
    assert expected_calibration_error(np.full(10, 0.9), np.r_[np.ones(5), np.zeros(5)]) == (
        pytest.approx(0.4)
    )
    z, y = calibrated_sample(50000, 1)
    assert expected_calibration_error(sigmoid(z), y) < 0.02
    assert expected_calibration_error(sigmoid(4 * z), y) > 0.1


def test_log_loss_is_the_mean_negative_log_likelihood():
    assert log_loss(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(np.log(2))
    assert log_loss(np.array([0.0, 1.0]), np.array([1, 0]), eps=1e-3) == pytest.approx(
        -np.log(1e-3)
    )


def test_reliability_curve_bins_every_score_once():
    p = np.array([0.0, 0.01, 0.5, 0.99, 1.0])
    curve = reliability_curve(p, np.array([0, 0, 1, 1, 1]), bins=10)
    assert curve["count"].sum() == 5 and curve["count"].iloc[-1] == 2  # p = 1 in the last bin
    assert curve["frac_pos"].iloc[0] == 0 and np.isnan(curve["mean_p"].iloc[3])


def test_threshold_maximises_balanced_accuracy_and_prefers_half():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.95])
    t, bacc = choose_threshold(p, np.array([0, 0, 0, 1, 1, 1]))
    assert bacc == 1 and t == 0.5  # every threshold in (0.3, 0.7] works; 0.5 is one
    t, bacc = choose_threshold(np.array([0.6, 0.7, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert t == pytest.approx(0.75) and bacc == 1
    t, _ = choose_threshold(np.full(4, 0.3), np.array([0, 1, 0, 1]))  # uninformative
    assert t == 0.5


def test_weighted_metrics_equal_binary_metrics_on_an_explicit_resample():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 40)
    p = np.round(rng.random(40), 1)  # ties, as a random forest gives
    idx = rng.integers(0, 40, 40)
    w = np.bincount(idx, minlength=40)[None, :]
    got = _weighted_metrics(y, p, w, 0.5)
    want = binary_metrics(y[idx], p[idx])
    for k in ("accuracy", "precision", "recall", "f1"):
        assert got[k][0] == pytest.approx(want[k])
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y[idx], p[idx]))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    z, y = calibrated_sample(300, 3)
    p = sigmoid(z)
    a = bootstrap_ci(y, p, resamples=400, seed=7)
    b = bootstrap_ci(y, p, resamples=400, seed=7)
    assert a == b
    table1 = binary_metrics(y, p)
    for metric, ci in a.items():
        assert ci["estimate"] == pytest.approx(table1[metric])
        assert ci["low"] <= ci["estimate"] <= ci["high"] and ci["n"] == 400
    assert 0.02 < a["accuracy"]["high"] - a["accuracy"]["low"] < 0.25
    assert bootstrap_ci(y, p, resamples=400, seed=8) != a


def test_bootstrap_leaves_out_one_class_resamples_for_auc():
    ci = bootstrap_ci(np.array([0, 1]), np.array([0.2, 0.8]), resamples=200, seed=0)
    assert ci["roc_auc"]["n"] < 200 and ci["accuracy"]["n"] == 200


def fake_predictions(seed: int = 0, n: int = 400, overconfidence: float = 3.0) -> pd.DataFrame:
    z, y = calibrated_sample(n, seed)
    split = np.array(["train", "val", "test", "test"] * (n // 4))
    return pd.DataFrame(
        {
            "source": "s",
            "track": [f"t{i}" for i in range(n)],
            "split": split,
            "y": y,
            "p_ai": sigmoid(overconfidence * z),
        }
    )


def test_calibrate_predictions_fixes_an_overconfident_model(tmp_path):
    cal, ci, test = calibrate_predictions(fake_predictions(), "cnn", resamples=200, seed=0)
    assert cal["temperature"] == pytest.approx(3.0, rel=0.35) and cal["temperature_note"] is None
    assert cal["ece"]["test"]["after"] < cal["ece"]["test"]["before"]
    for split in ("val", "test"):  # the proper scoring rules improve as well
        scores = cal["scores"][split]
        assert scores["nll_after"] < scores["nll_before"]
        assert scores["brier_after"] < scores["brier_before"]
    assert cal["n"] == {"train": 100, "val": 100, "test": 200}
    assert 0 < cal["threshold"] < 1 and cal["ece_bins"] == 15
    assert set(cal["metrics"]) == {"train", "val", "test"}
    assert set(ci["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert ci["n"] == 200 and len(test["y"]) == 200
    # the workflow writes these as JSON (no NaN) and draws the diagram
    write_json(cal, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["temperature"] == cal["temperature"]
    plot_reliability(test["p_before"], test["p_after"], test["y"], tmp_path / "r.png", "t")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_calibrate_predictions_needs_val_and_test():
    frame = fake_predictions()
    with pytest.raises(ValueError, match="no val predictions"):
        calibrate_predictions(frame[frame.split != "val"], "cnn")


def _predictions(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "val", "test"):
        y = np.repeat([0, 1], n // 2)
        p = 1 / (1 + np.exp(-(2.5 * (2 * y - 1) + rng.standard_normal(n))))
        rows.append(pd.DataFrame({"split": split, "y": y, "p_ai": p}))
    return pd.concat(rows, ignore_index=True)


def test_operating_points_are_fitted_on_val_and_measured_on_test():
    preds = _predictions(0)
    cal, _, _ = calibrate_predictions(preds, "cnn", fprs=(0.01, 0.1), seed=0, resamples=200)
    ops = cal["operating_points"]
    assert ops["fitted_on"] == "val" and set(ops["points"]) == {"balanced", "fpr_0.01", "fpr_0.1"}
    point = ops["points"]["fpr_0.1"]
    assert point["estimable"] and point["val_fpr"] <= 0.1
    assert ops["points"]["balanced"]["threshold"] == cal["threshold"]
    test = ops["test"]["points"]["fpr_0.1"]["fpr"]
    assert test["low"] <= test["estimate"] <= test["high"]
    assert not ops["points"]["fpr_0.01"]["estimable"]  # 200 human val tracks < 300
    # test scores never move a threshold
    other = preds.copy()
    other.loc[other.split == "test", "p_ai"] = 0.5
    again, _, _ = calibrate_predictions(other, "cnn", fprs=(0.01, 0.1), seed=0, resamples=200)
    for name in ("balanced", "fpr_0.1"):
        assert again["operating_points"]["points"][name] == ops["points"][name]
