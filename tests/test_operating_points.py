"""Operating points at a false-positive rate, fitted on validation, measured on test."""

import copy
import json

import numpy as np
import pytest

from synthdetect.evaluation.operating_points import (
    OperatingPoint,
    choose_threshold,
    evaluate_operating_points,
    fpr_with_ci,
    min_human_clips,
    operating_points,
    threshold_at_fpr,
)


def shuffled_linspace(n, seed=0):
    return np.random.default_rng(seed).permutation(np.linspace(0.0, 1.0, n))


def test_threshold_gives_the_rate_exactly():
    human = shuffled_linspace(1000)
    point = threshold_at_fpr(human, 0.01)
    assert isinstance(point, OperatingPoint) and point.name == "fpr_0.01"
    tenth = np.sort(human)[-11]  # 10 false positives allowed: just above the 11th highest
    assert point.threshold == np.nextafter(tenth, np.inf)
    assert point.val_fpr == 0.01 and (human >= point.threshold).sum() == 10
    assert (human >= tenth).mean() > 0.01  # one float lower is too low: it is the smallest
    assert point.estimable and point.reason is None and point.n_human_val == 1000

    point = threshold_at_fpr(shuffled_linspace(3000), 0.001)
    assert point.estimable and point.val_fpr == 0.001


def test_ties_never_exceed_the_rate():
    human = np.repeat(np.arange(100.0), 10)  # 1000 scores in blocks of 10 ties
    point = threshold_at_fpr(human, 0.015)  # 15 allowed: the top block of 10 only
    assert point.val_fpr == 0.01 and point.threshold == np.nextafter(98.0, np.inf)


def test_small_validation_is_not_estimable_but_has_a_threshold():
    human = shuffled_linspace(20)
    point = threshold_at_fpr(human, 0.01)
    assert not point.estimable
    assert point.reason.startswith(
        "only 20 human validation clips; a false-positive rate of 0.01 needs at least 300"
    )
    assert point.threshold > human.max() and point.val_fpr == 0.0
    assert min_human_clips(0.01) == 300 and min_human_clips(0.003) == 1000
    # 299 clips would allow 2 false positives, but the rate is not estimable: none
    assert threshold_at_fpr(shuffled_linspace(299), 0.01).val_fpr == 0.0
    empty = threshold_at_fpr(np.array([]), 0.01)
    assert empty.threshold is None and empty.reason == "no human validation clips"
    for bad in (0, 1.0, -0.1, "0.01"):
        with pytest.raises(ValueError, match="fpr"):
            threshold_at_fpr(human, bad)


def val_split(n_human=1000, n_ai=500, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.beta(2, 5, n_human), rng.beta(5, 2, n_ai)])
    labels = np.repeat([0, 1], [n_human, n_ai])
    return scores, labels


def test_operating_points_are_named_and_json_ready():
    scores, labels = val_split()
    points = operating_points(scores, labels)
    assert list(points) == ["balanced", "fpr_0.01", "fpr_0.001"]
    assert points["balanced"]["threshold"] == choose_threshold(scores, labels)[0]
    for name, point in points.items():
        t = point["threshold"]
        assert point["val_fpr"] == (scores[labels == 0] >= t).mean()
        assert point["val_tpr"] == (scores[labels == 1] >= t).mean()
        assert point["n_human_val"] == 1000 and point["n_ai_val"] == 500
        assert point["name"] == name
    assert points["fpr_0.01"]["val_fpr"] == 0.01 and points["fpr_0.01"]["estimable"]
    assert not points["fpr_0.001"]["estimable"]  # 1000 < 3000
    assert json.loads(json.dumps(points, allow_nan=False)) == points
    given = operating_points(scores, labels, fprs=(0.05,), balanced_threshold=0.7)
    assert list(given) == ["balanced", "fpr_0.05"] and given["balanced"]["threshold"] == 0.7
    with pytest.raises(ValueError, match="duplicate"):
        operating_points(scores, labels, fprs=(0.01, 0.01))


def test_any_monotone_score_gives_the_same_decisions():
    scores, labels = val_split()
    logits = np.log(scores) - np.log1p(-scores)
    p_points = operating_points(scores, labels, balanced_threshold=0.5)
    z_points = operating_points(logits, labels, balanced_threshold=0.0)
    test, test_y = val_split(400, 400, seed=1)
    z_test = np.log(test) - np.log1p(-test)
    p_eval = evaluate_operating_points(p_points, test, test_y, seed=3, resamples=200)
    z_eval = evaluate_operating_points(z_points, z_test, test_y, seed=3, resamples=200)
    for name in p_points:
        assert p_points[name]["val_fpr"] == z_points[name]["val_fpr"]
        assert p_points[name]["val_tpr"] == z_points[name]["val_tpr"]
        for key in ("tpr", "fpr"):
            assert p_eval["points"][name][key] == z_eval["points"][name][key]


def test_cis_contain_the_true_rate_and_shrink_with_n():
    rng = np.random.default_rng(7)
    points = {"p": {"threshold": 0.9}}  # uniform humans: FPR 0.1; AI ~ U(0.5, 1): TPR 0.2
    widths = {}
    for n in (200, 5000):
        scores = np.concatenate([rng.uniform(0, 1, n), rng.uniform(0.5, 1, n)])
        labels = np.repeat([0, 1], n)
        out = evaluate_operating_points(points, scores, labels, seed=0, resamples=500)
        fpr, tpr = out["points"]["p"]["fpr"], out["points"]["p"]["tpr"]
        assert fpr["low"] <= 0.1 <= fpr["high"] and tpr["low"] <= 0.2 <= tpr["high"]
        assert fpr["total"] == tpr["total"] == n and fpr["bound"] is None
        widths[n] = fpr["high"] - fpr["low"]
    assert widths[5000] < 0.4 * widths[200]


def test_seeds_make_intervals_reproducible():
    scores, labels = val_split(300, 300, seed=2)
    points = operating_points(*val_split())
    a = evaluate_operating_points(points, scores, labels, seed=11, resamples=300)
    b = evaluate_operating_points(points, scores, labels, seed=11, resamples=300)
    c = evaluate_operating_points(points, scores, labels, seed=12, resamples=300)
    assert a == b and a != c
    assert json.loads(json.dumps(a, allow_nan=False)) == a
    human = scores[labels == 0]
    t = points["fpr_0.01"]["threshold"]
    alone = fpr_with_ci(human, t, seed=11, resamples=300)
    assert {k: alone[k] for k in a["points"]["fpr_0.01"]["fpr"]} == a["points"]["fpr_0.01"]["fpr"]


def test_thresholds_come_from_validation_only():
    points = operating_points(*val_split())
    frozen = copy.deepcopy(points)
    outs = [
        evaluate_operating_points(points, *val_split(200, 100, seed=s), seed=0, resamples=50)
        for s in (5, 6)
    ]
    assert points == frozen
    for name, point in points.items():
        assert outs[0]["points"][name]["threshold"] == outs[1]["points"][name]["threshold"]
        assert outs[0]["points"][name]["threshold"] == point["threshold"]


def test_missing_classes_give_none_with_a_reason():
    points = operating_points(*val_split())
    points["broken"] = threshold_at_fpr(np.array([]), 0.05)
    human_only = evaluate_operating_points(points, np.array([0.1, 0.2]), [0, 0], seed=0)
    p = human_only["points"]["balanced"]
    assert p["tpr"] is None and p["tpr_reason"] == "no AI tracks in the test split"
    assert p["fpr"]["estimate"] == 0.0 and p["fpr_reason"] is None
    ai_only = evaluate_operating_points(points, np.array([0.9]), [1], seed=0)
    assert ai_only["points"]["balanced"]["fpr_reason"] == "no human tracks in the test split"
    broken = ai_only["points"]["broken"]
    assert broken["tpr"] is None and broken["tpr_reason"].startswith("no threshold")


def test_zero_false_positives_report_an_exact_bound():
    out = fpr_with_ci(np.linspace(0, 0.5, 600), 0.9, seed=0, resamples=100)
    assert out["estimate"] == out["low"] == out["high"] == 0.0
    assert out["bound"]["side"] == "upper"
    assert out["bound"]["value"] == pytest.approx(3 / 600, rel=0.01)  # the rule of three


def test_grouped_windows_resample_recordings():
    rng = np.random.default_rng(4)
    n_rec, per = 200, 10
    flagged = rng.random(n_rec) < 0.1  # a recording's windows are all flagged or none
    scores = np.repeat(np.where(flagged, 0.95, 0.05), per) + rng.normal(0, 0.01, n_rec * per)
    groups = np.repeat([f"rec{i}" for i in range(n_rec)], per)
    grouped = fpr_with_ci(scores, 0.5, seed=0, resamples=500, groups=groups)
    windows = fpr_with_ci(scores, 0.5, seed=0, resamples=500)
    assert grouped["estimate"] == windows["estimate"] == flagged.mean()
    assert grouped["n_units"] == n_rec and windows["n_units"] == n_rec * per
    width = {k: v["high"] - v["low"] for k, v in (("g", grouped), ("w", windows))}
    assert width["g"] > 2 * width["w"]  # ten correlated windows are not ten recordings
    assert "groups" in grouped["method"]
    with pytest.raises(ValueError, match="groups"):
        fpr_with_ci(scores, 0.5, seed=0, groups=groups[:-1])
