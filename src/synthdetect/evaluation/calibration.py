"""Knowing when to trust a score: temperature scaling, the decision threshold, expected
calibration error, reliability diagrams and bootstrap confidence intervals.

Conventions (labels 1 = AI, 0 = human):

* Every model is reduced to one **logit** per sample. Torch models emit it; for a
  scikit-learn model it is ``logit(p)`` with ``p`` clipped to ``[eps, 1 - eps]``
  (:func:`logit_clip_eps`: half a tree's vote for a random forest). The scorer applies
  the same clip to live logits, so calibration and serving see the same numbers.
* **Temperature scaling** (Guo et al., 2017): ``p = sigmoid(z / T)`` with the single
  ``T > 0`` that minimises the negative log-likelihood of the validation split. ``T``
  does not change the ranking (ROC AUC); ``T > 1`` softens over-confident scores.
* The **threshold** is chosen on the validation split's calibrated probabilities: the one
  maximising balanced accuracy (mean of the two classes' recalls, i.e. Youden's J), ties
  broken towards 0.5, candidates being midpoints between consecutive distinct scores.
  Balanced accuracy does not depend on the class ratio of the validation split.
* **ECE** is the binary, positive-class version: equal-width bins over ``P(AI)``, the
  sample-weighted mean of ``|mean P(AI) - fraction AI|`` per bin (15 bins by default).
* **Bootstrap CIs**: percentile intervals over test-split resamples (rows drawn with
  replacement, seeded), for every Table 1 metric at the Table 1 threshold (0.5 on the
  uncalibrated probabilities), so the interval brackets the number in Table 1.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthdetect.evaluation.operating_points import (
    choose_threshold,
    evaluate_operating_points,
    operating_points,
)

log = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP_METRICS",
    "bootstrap_ci",
    "calibrate_job",
    "calibrate_predictions",
    "expected_calibration_error",
    "fit_temperature",
    "log_loss",
    "logit_clip_eps",
    "logits_from_proba",
    "plot_reliability",
    "reliability_curve",
    "sigmoid",
]

#: The metrics of Table 1, in its row order.
BOOTSTRAP_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Search range of the temperature (a fit at a bound is flagged in the output).
T_BOUNDS = (0.05, 20.0)
#: Logit clip of torch models' probabilities: only keeps logit(p) finite.
TORCH_EPS = 1e-6


# --------------------------------------------------------------------------- logits


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """``1 / (1 + exp(-z))`` in float64, without overflow warnings."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def logit_clip_eps(model: str, hp: Mapping[str, Any] | None = None) -> float:
    """The probability clip used to turn a model's P(AI) into a finite logit.

    A random forest's probabilities are vote shares, often exactly 0 or 1: they are
    clipped at half a tree's vote (``0.5 / n_estimators``), the resolution of the forest.
    Torch models' probabilities come from logits, clipped only to stay finite.
    """
    from synthdetect.models import registry

    if registry.get(model).family.name == "rf":
        n = int((hp or {}).get("n_estimators") or 100)
        return 0.5 / max(n, 1)
    return TORCH_EPS


def logits_from_proba(p: np.ndarray, eps: float) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]``."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


def clip_logits(z: np.ndarray, eps: float) -> np.ndarray:
    """Logits limited to the range :func:`logits_from_proba` can produce for ``eps``."""
    bound = math.log((1.0 - eps) / eps)
    return np.clip(np.asarray(z, dtype=np.float64), -bound, bound)


# --------------------------------------------------------------------------- temperature


def _nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    s = z / temperature
    # -[y log sigmoid(s) + (1-y) log(1 - sigmoid(s))] = softplus(s) - y s, stably
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(
    z: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = T_BOUNDS
) -> tuple[float, str]:
    """The temperature minimising the NLL of ``sigmoid(z / T)`` against ``y``.

    Returns ``(T, note)``. ``note`` is ``""`` for an ordinary fit; ``"separated"`` when
    every logit already has the right sign: the NLL then falls towards ``T -> 0`` with no
    finite optimum (typical of a small validation split), so nothing can be learnt and
    ``T`` stays 1; ``"at_bound"`` when the optimum lies on an end of ``bounds`` (e.g.
    a validation split the model mostly gets wrong pushes ``T`` up, scores towards 0.5).
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if z.shape != y.shape or z.ndim != 1 or len(z) == 0:
        raise ValueError(f"logits and labels must be 1-d of equal, non-zero length: {z.shape}")
    if not np.any(z):
        return 1.0, ""  # every logit 0: T changes nothing
    if np.all(z * (2 * y - 1) > 0):
        return 1.0, "separated"
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    res = minimize_scalar(
        lambda u: _nll(z, y, math.exp(u)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    u = float(res.x)
    return math.exp(u), ("at_bound" if min(u - lo, hi - u) < 1e-3 else "")


def log_loss(p: np.ndarray, y: np.ndarray, eps: float = TORCH_EPS) -> float:
    """Mean negative log-likelihood of ``y`` under ``p`` (clipped to ``[eps, 1 - eps]``)."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q)))


# --------------------------------------------------------------------------- threshold


# --------------------------------------------------------------------------- ECE


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 15) -> pd.DataFrame:
    """Per equal-width bin of ``p``: count, mean ``p`` and fraction positive (NaN if empty)."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=bins) / count
        frac = np.bincount(idx, weights=y, minlength=bins) / count
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pd.DataFrame(
        {"lo": edges[:-1], "hi": edges[1:], "count": count, "mean_p": mean_p, "frac_pos": frac}
    )


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Binary ECE over ``P(AI)``: sum over bins of ``n_b / N * |mean p_b - frac AI_b|``."""
    if len(p) == 0:
        return float("nan")
    curve = reliability_curve(p, y, bins)
    full = curve[curve["count"] > 0]
    gap = (full.mean_p - full.frac_pos).abs()
    return float((full["count"] * gap).sum() / full["count"].sum())


def plot_reliability(
    p_before: np.ndarray,
    p_after: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    title: str,
    bins: int = 15,
) -> None:
    """Reliability diagram (PNG): fraction AI against mean P(AI) per bin, before and after
    temperature scaling, with the diagonal and a histogram of the scores below."""
    from synthdetect.figures import new_figure, save_figure

    fig = new_figure((5.2, 5.6))
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for p, name, marker in ((p_before, "uncalibrated", "o"), (p_after, "temperature", "s")):
        curve = reliability_curve(p, y, bins)
        full = curve[curve["count"] > 0]
        ece = expected_calibration_error(p, y, bins)
        ax.plot(full.mean_p, full.frac_pos, marker=marker, label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction AI")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    edges = np.linspace(0, 1, bins + 1)
    hist.hist([p_before, p_after], bins=edges, label=["uncalibrated", "temperature"])
    hist.set_xlabel("predicted P(AI)")
    hist.set_ylabel("tracks")
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------- bootstrap


def _weighted_metrics(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Table 1's metrics for each row of sample weights ``w`` (B, N) (bootstrap counts)."""
    w = np.asarray(w, dtype=np.float64)
    pos, pred = y == 1, p >= threshold
    tp = w[:, pos & pred].sum(axis=1)
    fn = w[:, pos & ~pred].sum(axis=1)
    fp = w[:, ~pos & pred].sum(axis=1)
    tn = w[:, ~pos & ~pred].sum(axis=1)
    total = tp + fn + fp + tn

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    # ROC AUC as the Mann-Whitney statistic over distinct score levels (ties count 1/2)
    levels, inverse = np.unique(p, return_inverse=True)
    onehot = np.zeros((len(p), len(levels)))
    onehot[np.arange(len(p)), inverse] = 1.0
    pos_w = (w * pos) @ onehot  # (B, K) positive weight per score level
    neg_w = (w * ~pos) @ onehot
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    n_pos, n_neg = pos_w.sum(axis=1), neg_w.sum(axis=1)
    pairs = n_pos * n_neg
    auc = np.where(
        pairs > 0,
        ((pos_w * (neg_below + 0.5 * neg_w)).sum(axis=1)) / np.where(pairs > 0, pairs, 1.0),
        np.nan,
    )
    return {
        "accuracy": ratio(tp + tn, total),
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": auc,
    }


def bootstrap_ci(
    y: np.ndarray,
    p: np.ndarray,
    *,
    threshold: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    chunk: int = 250,
) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap intervals of Table 1's metrics on one split's predictions.

    Each resample draws ``len(y)`` rows with replacement from a generator seeded with
    ``seed``. A resample holding one class only has no ROC AUC and is left out of that
    metric's interval (``n`` says how many resamples each interval rests on). Returns
    ``{metric: {"estimate", "low", "high", "n"}}``; ``estimate`` is the metric on the
    split itself (as :func:`synthdetect.evaluation.metrics.binary_metrics` computes it).
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0 or y.shape != p.shape:
        raise ValueError(f"y and p must be non-empty and of equal shape: {y.shape}, {p.shape}")
    rng = np.random.default_rng(seed)
    n = len(y)
    draws: dict[str, list[np.ndarray]] = {m: [] for m in BOOTSTRAP_METRICS}
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        w = np.zeros((b, n))
        np.add.at(w, (np.repeat(np.arange(b), n), idx.ravel()), 1.0)
        for metric, values in _weighted_metrics(y, p, w, threshold).items():
            draws[metric].append(values)
    point = _weighted_metrics(y, p, np.ones((1, n)), threshold)
    alpha = (1.0 - level) / 2
    out: dict[str, dict[str, Any]] = {}
    for metric in BOOTSTRAP_METRICS:
        values = np.concatenate(draws[metric])
        values = values[np.isfinite(values)]
        est = float(point[metric][0])
        out[metric] = {
            "estimate": None if math.isnan(est) else est,
            "low": float(np.quantile(values, alpha)) if len(values) else None,
            "high": float(np.quantile(values, 1 - alpha)) if len(values) else None,
            "n": int(len(values)),
        }
    return out


# --------------------------------------------------------------------------- workflow step


def calibrate_predictions(
    predictions: pd.DataFrame,
    model: str,
    *,
    hp: Mapping[str, Any] | None = None,
    bins: int = 15,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    fprs: Sequence[float] = (),
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """Calibrate one model from its predictions table (``split``, ``y``, ``p_ai``, and
    ``recording`` where the bootstrap should resample recordings, not tracks).

    Fits the temperature and the threshold on ``val``; measures ECE on val and test
    before and after; bootstraps test-split CIs of Table 1's metrics. ``fprs`` adds an
    operating point per false-positive rate, fitted on val's human tracks (calibrated
    P(AI)) and evaluated on test with bootstrap CIs
    (:mod:`synthdetect.evaluation.operating_points`). Returns
    ``(calibration, ci, test_arrays)``: two JSON-ready dicts and, for the reliability
    diagram, the test split's ``y``, ``p_before`` and ``p_after``.
    """
    from synthdetect.evaluation.metrics import binary_metrics

    missing = {"split", "y", "p_ai"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack columns {sorted(missing)}")
    eps = logit_clip_eps(model, hp)
    splits = {s: predictions[predictions.split == s] for s in ("train", "val", "test")}
    for s in ("val", "test"):
        if splits[s].empty:
            raise ValueError(f"{model}: no {s} predictions to calibrate with")
    val = splits["val"]
    z_val = logits_from_proba(val.p_ai.to_numpy(), eps)
    y_val = val.y.to_numpy().astype(np.int64)
    temperature, note = fit_temperature(z_val, y_val)
    if note == "separated":
        log.warning(
            "%s: the validation split (%d tracks) is perfectly separated, so temperature "
            "scaling has no finite optimum; the temperature stays 1 (uncalibrated)",
            model,
            len(val),
        )
    elif note:
        log.warning(
            "%s: the temperature %.3g lies at the end of its range %s; treat the "
            "calibration with caution",
            model,
            temperature,
            T_BOUNDS,
        )
    threshold, val_bacc = choose_threshold(sigmoid(z_val / temperature), y_val)

    ece: dict[str, dict[str, float]] = {}
    scores: dict[str, dict[str, float]] = {}
    split_metrics: dict[str, dict[str, Any]] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, part in splits.items():
        if part.empty:
            continue
        y = part.y.to_numpy().astype(np.int64)
        p_before = part.p_ai.to_numpy(dtype=np.float64)
        p_after = sigmoid(logits_from_proba(p_before, eps) / temperature)
        if name != "train":
            ece[name] = {
                "before": expected_calibration_error(p_before, y, bins),
                "after": expected_calibration_error(p_after, y, bins),
            }
            scores[name] = {
                "nll_before": log_loss(p_before, y, eps),
                "nll_after": log_loss(p_after, y, eps),
                "brier_before": float(np.mean((p_before - y) ** 2)),
                "brier_after": float(np.mean((p_after - y) ** 2)),
            }
        split_metrics[name] = {
            "table1": binary_metrics(y, p_before),
            "calibrated": binary_metrics(y, p_after, threshold=threshold),
        }
        if name == "test":
            arrays = {"y": y, "p_before": p_before, "p_after": p_after}

    operating = None
    if fprs:
        p_val = sigmoid(z_val / temperature)
        points = operating_points(p_val, y_val, fprs=fprs, balanced_threshold=threshold)
        test = splits["test"]
        p_test = sigmoid(logits_from_proba(test.p_ai.to_numpy(), eps) / temperature)
        groups = test.recording.to_numpy() if "recording" in test else None
        operating = {
            "fitted_on": "val",
            "score": "calibrated P(AI); a clip is called AI when P(AI) >= threshold",
            "points": points,
            "test": evaluate_operating_points(
                points,
                p_test,
                test.y.to_numpy().astype(np.int64),
                seed=seed,
                resamples=resamples,
                level=level,
                groups=groups,
            ),
        }

    calibration = {
        "model": model,
        "method": "temperature",
        "temperature": temperature,
        "temperature_note": note or None,
        "temperature_bounds": list(T_BOUNDS),
        "fitted_on": "val",
        "n": {name: len(part) for name, part in splits.items()},
        "logit_clip_eps": eps,
        "threshold": threshold,
        "threshold_rule": "maximise balanced accuracy on val (calibrated P(AI)); ties towards 0.5",
        "val_balanced_accuracy": val_bacc,
        "ece_bins": bins,
        "ece": ece,
        # proper scoring rules: ECE alone flatters scores that all sit near 0.5
        "scores": scores,
        "metrics": split_metrics,
        "operating_points": operating,
    }
    test = splits["test"]
    ci = {
        "model": model,
        "split": "test",
        "n": len(test),
        "threshold": 0.5,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "method": "percentile bootstrap over test tracks",
        "metrics": bootstrap_ci(
            test.y.to_numpy(),
            test.p_ai.to_numpy(),
            threshold=0.5,
            resamples=resamples,
            seed=seed,
            level=level,
        ),
    }
    return calibration, ci, arrays


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """JSON with NaN written as null, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_nan_to_none(obj), indent=2) + "\n")
    os.replace(tmp, path)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _nan_to_none(obj.item())
    return obj


def calibrate_job(
    model: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    params: Mapping[str, Any],
    *,
    log: str | os.PathLike,
) -> dict[str, Any]:
    """The `calibrate` rule (a `run:` block in Snakemake's process, as `evaluate`): the
    model's predictions joined to their recordings, :func:`calibrate_predictions`, then
    the calibration and interval JSONs and the test split's reliability diagram. Logs
    to the job's ``log`` only."""
    from synthdetect.logs import thread_log

    with thread_log(log):
        recordings = pd.read_parquet(inputs["manifest"], columns=["source", "track", "recording"])
        predictions = pd.read_parquet(inputs["predictions"]).merge(
            recordings, on=["source", "track"], how="left", validate="one_to_one"
        )
        calibration, ci, test = calibrate_predictions(
            predictions,
            model,
            hp=params["hp"],
            bins=params["bins"],
            resamples=params["resamples"],
            seed=params["seed"],
            level=params["level"],
            fprs=params["fprs"],
        )
        write_json(calibration, outputs["calibration"])
        write_json(ci, outputs["ci"])
        title = f"{model}: test split (n={len(test['y'])}), T = {calibration['temperature']:.2f}"
        plot_reliability(
            test["p_before"],
            test["p_after"],
            test["y"],
            outputs["reliability"],
            title,
            bins=params["bins"],
        )
        scores = calibration["scores"]["test"]
        logging.getLogger(__name__).info(
            "%s: T=%.3f threshold=%.3f; test ECE %.4f -> %.4f, NLL %.4f -> %.4f",
            model,
            calibration["temperature"],
            calibration["threshold"],
            calibration["ece"]["test"]["before"],
            calibration["ece"]["test"]["after"],
            scores["nll_before"],
            scores["nll_after"],
        )
        return calibration
