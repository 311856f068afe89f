"""Operating points: thresholds chosen for a false-positive rate, and what they achieve.

"How often will it call a human musician's work AI?" is the false-positive rate (FPR)
at the threshold in use. Besides the balanced-accuracy threshold
(:func:`choose_threshold`) a detector can be run at a threshold
fitted for a small FPR on the validation split's human clips; the test split, or a
collection of human music no model was trained on, then tells what that threshold
really does.

Conventions, as in :mod:`synthdetect.evaluation.calibration` (labels 1 = AI, 0 = human):

* A clip is called AI when ``score >= threshold``. Any score that is monotone in P(AI)
  works (calibrated or raw P(AI), logits); the thresholds are in the units of the
  scores they were fitted on, so validation and test scores must be of one kind. Keep
  thresholds in float64: one may lie one float64 step above a score.
* A rate is **estimable** from ``n`` human clips when ``n >= ceil(3 / fpr)``: with no
  false positive among ``n`` clips the 95% upper bound of the rate is about ``3 / n``
  (the rule of three), so fewer clips cannot show that the rate is below ``fpr``.
* Intervals are percentile bootstrap intervals, seeded: FPR resamples human items and
  TPR resamples AI items, each class separately (stratified), so every resample holds
  both; all thresholds share the same resamples. With ``groups`` the resampled units
  are groups (recordings), and a rate is pooled over the windows they hold.
* Every output is plain JSON: floats, ints, strings, ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "OperatingPoint",
    "choose_threshold",
    "evaluate_operating_points",
    "fpr_with_ci",
    "min_human_clips",
    "operating_points",
    "point_name",
    "threshold_at_fpr",
]

#: Rows per bootstrap chunk (resamples x units), to bound memory on large collections.
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold and what it achieved on the validation split.

    ``threshold`` is ``None`` only when no human validation clip exists to fit it on.
    ``val_tpr`` and ``n_ai_val`` are ``None`` when no AI validation scores were given.
    ``estimable`` is False with a ``reason`` when the validation split is too small to
    support the rule (see the module notes); the threshold is then still usable.
    """

    name: str
    rule: str
    threshold: float | None
    target_fpr: float | None
    val_fpr: float | None
    val_tpr: float | None
    n_human_val: int
    n_ai_val: int | None
    estimable: bool
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    pos, neg = y == 1, y == 0
    recalls = [float(np.mean(pred[m] == c)) for m, c in ((pos, 1), (neg, 0)) if m.any()]
    return float(np.mean(recalls)) if recalls else 0.0


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold on ``p`` maximising balanced accuracy of ``p >= t`` on ``y``.

    Candidates are 0.5 and the midpoints between consecutive distinct values of ``p``
    (any threshold between two scores classifies alike, and the midpoint is the most
    robust of them); among equally good candidates the one closest to 0.5 wins, so an
    uninformative split keeps the default. Returns ``(threshold, balanced_accuracy)``.
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    if len(p) == 0:
        return 0.5, float("nan")
    u = np.unique(p)
    candidates = np.unique(np.concatenate([[0.5], (u[:-1] + u[1:]) / 2]))
    scores = np.array([_balanced_accuracy(y, (p >= t).astype(np.int64)) for t in candidates])
    best = scores.max()
    tied = candidates[np.isclose(scores, best, rtol=0, atol=1e-12)]
    t = float(tied[np.argmin(np.abs(tied - 0.5))])
    return t, float(best)


def point_name(fpr: float) -> str:
    """``fpr_0.01``, ``fpr_0.001``: the key of the point fitted for ``fpr``."""
    return f"fpr_{fpr:g}"


def min_human_clips(fpr: float) -> int:
    """``ceil(3 / fpr)``: the human clips needed before a rate of ``fpr`` is estimable."""
    return math.ceil(3.0 / fpr - 1e-9)


def _scores(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-d, not of shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} must be finite (no NaN or inf)")
    return a


def _check_fpr(fpr: Any) -> float:
    if isinstance(fpr, bool) or not isinstance(fpr, int | float | np.floating):
        raise ValueError(f"fpr must be a number in (0, 1), not {fpr!r}")
    if not 0.0 < float(fpr) < 1.0:
        raise ValueError(f"fpr must lie in (0, 1), not {fpr!r}")
    return float(fpr)


def _rate(scores: np.ndarray, threshold: float) -> float | None:
    return float(np.mean(scores >= threshold)) if len(scores) else None


# --------------------------------------------------------------------------- fitting


def threshold_at_fpr(scores_human_val: np.ndarray, fpr: float) -> OperatingPoint:
    """The smallest threshold whose FPR on the human validation scores is ``<= fpr``.

    With ``k = floor(fpr * n)`` false positives allowed among ``n`` clips, that is the
    next float64 above the ``(k + 1)``-th highest human score: every lower threshold
    flags ``k + 1`` clips or more. When the rate is not estimable (``n < ceil(3 /
    fpr)``) the threshold is the next float above the highest human score instead (no
    validation false positive: the most it can promise), and ``estimable`` is False.
    """
    fpr = _check_fpr(fpr)
    s = np.sort(_scores(scores_human_val, "human validation scores"))[::-1]
    n, needed = len(s), min_human_clips(fpr)
    name, rule = point_name(fpr), f"FPR <= {fpr:g} on the human validation clips"
    if n == 0:
        reason = "no human validation clips"
        return OperatingPoint(name, rule, None, fpr, None, None, 0, None, False, reason)
    estimable = n >= needed
    reason = None
    if not estimable:
        reason = (
            f"only {n} human validation clips; a false-positive rate of {fpr:g} needs at "
            f"least {needed} (the threshold lies above every human validation score)"
        )
    k = math.floor(fpr * n + 1e-9) if estimable else 0
    threshold = float(np.nextafter(s[k], np.inf))
    return OperatingPoint(
        name, rule, threshold, fpr, _rate(s, threshold), None, n, None, estimable, reason
    )


def operating_points(
    val_scores: np.ndarray,
    val_labels: np.ndarray,
    *,
    fprs: Sequence[float] = (0.01, 0.001),
    balanced_threshold: float | None = None,
) -> dict[str, dict[str, Any]]:
    """The named operating points fitted on the validation split.

    Keys: ``"balanced"`` (``balanced_threshold`` when given, else
    :func:`choose_threshold` on these scores, which breaks
    ties towards 0.5 and so expects probabilities: pass the threshold for logits) and
    :func:`point_name` of each ``fprs`` entry. Values are :meth:`OperatingPoint.to_dict`
    dicts: ``name, rule, threshold, target_fpr, val_fpr, val_tpr, n_human_val,
    n_ai_val, estimable, reason``. Only validation data goes in, so no test score can
    move a threshold.
    """
    scores = _scores(val_scores, "validation scores")
    labels = np.asarray(val_labels)
    if labels.shape != scores.shape or not np.isin(labels, (0, 1)).all():
        raise ValueError("validation labels must be 0 (human) / 1 (AI), one per score")
    human, ai = scores[labels == 0], scores[labels == 1]
    names = [point_name(_check_fpr(f)) for f in fprs]
    if len(set(names)) != len(names) or "balanced" in names:
        raise ValueError(f"fprs give duplicate point names: {names}")

    if balanced_threshold is None:
        balanced_threshold, _ = choose_threshold(scores, labels)
    reason = None
    if not len(human) or not len(ai):
        reason = f"the validation split has no {'human' if not len(human) else 'AI'} clips"
    points = {
        "balanced": OperatingPoint(
            "balanced",
            "maximise balanced accuracy on the validation split",
            float(balanced_threshold),
            None,
            _rate(human, balanced_threshold),
            _rate(ai, balanced_threshold),
            len(human),
            len(ai),
            reason is None,
            reason,
        ).to_dict()
    }
    for fpr, name in zip(fprs, names, strict=True):
        point = threshold_at_fpr(human, fpr).to_dict()
        point["n_ai_val"] = len(ai)
        if point["threshold"] is not None:
            point["val_tpr"] = _rate(ai, point["threshold"])
        points[name] = point
    return points


# --------------------------------------------------------------------------- bootstrap


def _group_codes(groups: Any, n: int) -> np.ndarray:
    if groups is None:
        return np.arange(n)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must hold one entry per score ({n}), not shape {g.shape}")
    return np.unique(g, return_inverse=True)[1].reshape(-1)


def _check_bootstrap(resamples: Any, level: Any) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer):
        raise ValueError(f"resamples must be a positive integer, not {resamples!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be a positive integer, not {resamples!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), not {level!r}")


def _rates_with_ci(
    flags: np.ndarray,
    codes: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
    level: float,
) -> list[dict[str, Any]]:
    """Percentile intervals of the flagged share per column of ``flags`` (n, P).

    Units (``codes``, 0..G-1) are drawn ``G`` at a time with replacement; a resample's
    rate is its flagged items over its items, pooled across the units drawn.
    """
    n, n_points = flags.shape
    n_units = int(codes.max()) + 1
    per_unit = np.zeros((n_units, n_points))
    np.add.at(per_unit, codes, flags.astype(np.float64))
    size = np.bincount(codes, minlength=n_units).astype(np.float64)
    draws = []
    chunk = max(1, _CHUNK_CELLS // n_units)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n_units, size=(b, n_units))
        idx += np.arange(b)[:, None] * n_units
        w = np.bincount(idx.ravel(), minlength=b * n_units).reshape(b, n_units)
        draws.append((w @ per_unit) / (w @ size)[:, None])
    values = np.concatenate(draws)
    alpha = (1.0 - level) / 2
    low, high = np.quantile(values, [alpha, 1.0 - alpha], axis=0)
    counts = flags.sum(axis=0)
    out = []
    for j in range(n_points):
        count = int(counts[j])
        bound = None
        # the percentile interval collapses onto 0 (or 1) when nothing (everything) is
        # flagged; the exact one-sided binomial bound over the units says how far off
        if count == 0:
            bound = {"side": "upper", "value": float(1.0 - (1.0 - level) ** (1.0 / n_units))}
        elif count == n:
            bound = {"side": "lower", "value": float((1.0 - level) ** (1.0 / n_units))}
        out.append(
            {
                "estimate": count / n,
                "low": float(low[j]),
                "high": float(high[j]),
                "count": count,
                "total": int(n),
                "n_units": n_units,
                "bound": bound,
            }
        )
    return out


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent streams for human and AI resamples: one class's interval does not
    depend on whether the other class is present."""
    human, ai = np.random.default_rng(seed).spawn(2)
    return human, ai


def _thresholds(points: Mapping[str, Any]) -> dict[str, tuple[float | None, Any]]:
    out = {}
    for name, point in points.items():
        if isinstance(point, OperatingPoint):
            point = point.to_dict()
        out[name] = (point.get("threshold"), point)
    return out


def evaluate_operating_points(
    points: Mapping[str, Any],
    test_scores: np.ndarray,
    test_labels: np.ndarray,
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
    groups: Any = None,
) -> dict[str, Any]:
    """Test TPR and FPR at each point's threshold, with bootstrap intervals.

    ``points`` maps names to :func:`operating_points` dicts (or :class:`OperatingPoint`
    objects); only their thresholds are used. ``groups`` (one per test score, e.g.
    recording ids) makes the bootstrap resample groups instead of tracks. Returns
    ``{"split", "n_human", "n_ai", "level", "resamples", "seed", "method", "points"}``;
    ``points[name]`` holds ``threshold``, ``val_estimable``, ``val_reason``, ``tpr``,
    ``fpr`` (each ``None`` or a rate: ``estimate, low, high, count, total, n_units,
    bound``) and ``tpr_reason``, ``fpr_reason`` (why a rate is ``None``, else ``None``).
    ``bound`` is ``None`` unless nothing (or everything) was flagged: then the percentile
    interval collapses, and ``bound`` gives the exact one-sided binomial bound at
    ``level`` over ``n_units`` (``{"side": "upper" | "lower", "value"}``).
    """
    _check_bootstrap(resamples, level)
    scores = _scores(test_scores, "test scores")
    labels = np.asarray(test_labels)
    if labels.shape != scores.shape or not np.isin(labels, (0, 1)).all():
        raise ValueError("test labels must be 0 (human) / 1 (AI), one per score")
    codes = _group_codes(groups, len(scores))
    named = _thresholds(points)
    usable = [name for name, (t, _) in named.items() if t is not None]
    t_row = np.array([named[name][0] for name in usable], dtype=np.float64)
    rngs = dict(zip((0, 1), _rngs(seed), strict=True))
    rates: dict[int, dict[str, dict[str, Any]]] = {0: {}, 1: {}}
    for cls in (0, 1):
        mask = labels == cls
        if mask.any() and usable:
            flags = scores[mask][:, None] >= t_row[None, :]
            cls_codes = np.unique(codes[mask], return_inverse=True)[1].reshape(-1)
            found = _rates_with_ci(flags, cls_codes, rngs[cls], resamples, level)
            rates[cls] = dict(zip(usable, found, strict=True))

    n_human, n_ai = int((labels == 0).sum()), int((labels == 1).sum())
    out_points = {}
    for name, (threshold, point) in named.items():
        entry: dict[str, Any] = {
            "threshold": None if threshold is None else float(threshold),
            "val_estimable": point.get("estimable"),
            "val_reason": point.get("reason"),
        }
        for key, cls, n, kind in (("tpr", 1, n_ai, "AI"), ("fpr", 0, n_human, "human")):
            entry[key] = rates[cls].get(name)
            entry[f"{key}_reason"] = None
            if threshold is None:
                entry[f"{key}_reason"] = f"no threshold: {point.get('reason')}"
            elif n == 0:
                entry[f"{key}_reason"] = f"no {kind} tracks in the test split"
        out_points[name] = entry
    return {
        "split": "test",
        "n_human": n_human,
        "n_ai": n_ai,
        "level": float(level),
        "resamples": int(resamples),
        "seed": int(seed),
        "method": _method(groups, "tracks"),
        "points": out_points,
    }


def _method(groups: Any, items: str) -> str:
    units = "groups" if groups is not None else items
    return (
        f"percentile bootstrap over {units}, human and AI resampled separately (stratified), "
        "the same resamples for every threshold"
    )


def fpr_with_ci(
    scores_human: np.ndarray,
    threshold: float,
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
    groups: Any = None,
) -> dict[str, Any]:
    """The false-positive rate of ``threshold`` on a human-only collection, with its CI.

    For the false-positive benchmark: every window of music no model trained on. The
    windows of one recording are correlated, so pass ``groups`` (a recording id per
    window) to resample recordings; the rate is then pooled over the windows drawn.
    Returns the rate (``estimate, low, high, count, total, n_units, bound`` as in
    :func:`evaluate_operating_points`, of which it gives the same FPR interval for the
    same human scores and seed) plus ``threshold, level, resamples, seed, method``.
    """
    _check_bootstrap(resamples, level)
    scores = _scores(scores_human, "human scores")
    if len(scores) == 0:
        raise ValueError("no human scores to measure a false-positive rate on")
    if threshold is None or not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be a finite number, not {threshold!r}")
    codes = _group_codes(groups, len(scores))
    flags = (scores >= float(threshold))[:, None]
    rate = _rates_with_ci(flags, codes, _rngs(seed)[0], resamples, level)[0]
    return {
        **rate,
        "threshold": float(threshold),
        "level": float(level),
        "resamples": int(resamples),
        "seed": int(seed),
        "method": f"percentile bootstrap over {'groups' if groups is not None else 'windows'}",
    }
