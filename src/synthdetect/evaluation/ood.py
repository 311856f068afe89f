"""Abstaining: when ``predict`` should answer ``uncertain`` instead of a class.

Two reasons to abstain, kept apart:

* **outside**: the input's feature vector lies far from every vector the model was
  trained on (:class:`OODModel`, a distance on the model's own features: histogram
  vectors, or an image model's embeddings; any fixed-length vector works);
* **undecided**: the score lies within a band around the decision threshold
  (:func:`abstain`).

The distance is the **Mahalanobis distance under a Ledoit-Wolf covariance** of the
standardised training vectors. With ~100-300 vectors of 30-512 dimensions the sample
covariance is noisy or singular (``d >= n``); Ledoit-Wolf shrinks it towards a scaled
identity by an amount computed in closed form from the data, so it is always invertible,
deterministic and needs no tuning. Standardising first puts every feature on one scale,
which that identity target assumes. The mean k-NN distance was rejected: with so few
points it rests on a handful of neighbours, distances concentrate in high dimensions, a
training vector's nearest neighbour is itself (in-sample scores need leave-one-out), it
needs a ``k`` and it would ship the training vectors in the bundle. The price is one
ellipsoid: a point between two clusters of the training set looks inside; an ambiguous
point between the classes is what the threshold band is for.

The cut-off is a quantile of the *validation* split's distances (:func:`fit_cutoff`):
training vectors sit closer to their own mean and covariance than fresh ones, so a
training quantile would call too many new inputs outside. With quantile ``q`` a fresh
input from the training distribution is outside with probability about ``1 - q``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "OOD_KIND",
    "OODModel",
    "abstain",
    "decide",
    "fit_cutoff",
    "fit_model_ood",
    "load_ood",
    "save_ood",
]

#: ``kind`` of a serialised model, checked on loading.
OOD_KIND = "mahalanobis_ledoit_wolf"
#: Serialisation format version.
OOD_VERSION = 1
#: Ridge added to the shrunk covariance, relative to its mean variance: keeps it
#: invertible when the shrinkage intensity comes out 0 and a feature is constant.
RIDGE = 1e-6


def _vectors(x: Any, what: str, dim: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty (n, d) array, not of shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{what} have {a.shape[1]} dimensions; the model was fitted on {dim}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} must be finite (no NaN or inf)")
    return a


@dataclass(frozen=True, eq=False)
class OODModel:
    """Distance of feature vectors from the training split: fit with :meth:`fit`.

    ``mean`` and ``scale`` standardise a vector (features constant in training keep
    scale 1); ``precision`` is the inverse shrunk covariance of standardised vectors;
    ``shrinkage`` is Ledoit-Wolf's intensity (0 = sample covariance, 1 = identity).
    """

    mean: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    shrinkage: float
    n_train: int

    @property
    def dim(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, vectors: np.ndarray) -> OODModel:
        """Fit on the training split's vectors ``(n, d)``, ``n >= 2``."""
        from sklearn.covariance import LedoitWolf

        x = _vectors(vectors, "training vectors")
        if len(x) < 2:
            raise ValueError("an OOD model needs at least 2 training vectors")
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
        z = (x - mean) / scale
        lw = LedoitWolf(assume_centered=True).fit(z)
        cov = lw.covariance_
        cov = cov + RIDGE * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
        precision = np.linalg.inv(cov)
        precision = (precision + precision.T) / 2  # exactly symmetric
        return cls(mean, scale, precision, float(lw.shrinkage_), len(x))

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each vector ``(n, d)`` from the training mean, ``(n,)``.

        In standard deviations: about ``sqrt(d)`` for a typical training-like input.
        """
        z = (_vectors(vectors, "vectors", self.dim) - self.mean) / self.scale
        d2 = np.einsum("ij,ij->i", z @ self.precision, z)
        return np.sqrt(np.maximum(d2, 0.0))

    def is_outside(self, vectors: np.ndarray, cutoff: float) -> np.ndarray:
        """``score(vectors) > cutoff``: a bool per vector."""
        return self.score(vectors) > float(cutoff)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, for JSON; ``np.savez(path, **model.to_dict())`` also
        works and loads back without pickle (``from_dict(np.load(path))``)."""
        return {
            "kind": OOD_KIND,
            "version": OOD_VERSION,
            "dim": self.dim,
            "n_train": int(self.n_train),
            "shrinkage": float(self.shrinkage),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "precision": self.precision.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OODModel:
        """The model :meth:`to_dict` wrote (from JSON, or an ``np.load``-ed npz)."""

        def scalar(key: str) -> Any:
            if key not in data:
                raise ValueError(f"OOD model: key {key!r} is missing")
            return np.asarray(data[key]).item()

        if scalar("kind") != OOD_KIND or scalar("version") != OOD_VERSION:
            raise ValueError(
                f"OOD model: expected kind {OOD_KIND!r} version {OOD_VERSION}, found "
                f"{scalar('kind')!r} version {scalar('version')!r}"
            )
        dim = int(scalar("dim"))
        arrays = {}
        for key, shape in (("mean", (dim,)), ("scale", (dim,)), ("precision", (dim, dim))):
            if key not in data:
                raise ValueError(f"OOD model: key {key!r} is missing")
            a = np.asarray(data[key], dtype=np.float64)
            if a.shape != shape or not np.isfinite(a).all():
                raise ValueError(f"OOD model: {key!r} must be finite of shape {shape}")
            arrays[key] = a
        if (arrays["scale"] <= 0).any():
            raise ValueError("OOD model: 'scale' must be positive")
        return cls(
            arrays["mean"],
            arrays["scale"],
            arrays["precision"],
            float(scalar("shrinkage")),
            int(scalar("n_train")),
        )


def fit_cutoff(ood_model: OODModel, val_vectors: np.ndarray, *, quantile: float = 0.99) -> float:
    """The ``quantile`` of the validation vectors' distances: the outside cut-off.

    ``np.quantile``'s linear interpolation; with fewer than ``1 / (1 - quantile)``
    validation vectors it lies near their largest distance.
    """
    if isinstance(quantile, bool) or not 0.0 < float(quantile) < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), not {quantile!r}")
    return float(np.quantile(ood_model.score(val_vectors), float(quantile)))


def abstain(p_ai: Any, threshold: float, band: float) -> Any:
    """True where ``|p_ai - threshold| < band``: too close to the threshold to call.

    ``p_ai``, ``threshold`` and ``band`` are in probability units (P(AI), the threshold
    it is compared with, e.g. the calibrated balanced threshold), so ``band = 0.1``
    around 0.5 abstains on ``0.4 < p_ai < 0.6``; ``band = 0`` never abstains. The band
    is symmetric in probability, not in logits. A scalar gives a bool, an array a bool
    array.
    """
    if isinstance(band, bool) or not math.isfinite(float(band)) or band < 0:
        raise ValueError(f"band must be a finite number >= 0, not {band!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], not {threshold!r}")
    p = np.asarray(p_ai, dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_ai must be probabilities in [0, 1]")
    out = np.abs(p - float(threshold)) < float(band)
    return bool(out) if out.ndim == 0 else out


def save_ood(model: OODModel, path: str | os.PathLike) -> None:
    """The model as an ``.npz`` (arrays, no pickle): compact for a 512-d embedding."""
    with open(path, "wb") as f:  # np.savez would append .npz to a str path without it
        np.savez(f, **model.to_dict())


def load_ood(path: str | os.PathLike) -> OODModel:
    """The model :func:`save_ood` wrote (loaded with ``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as data:
        return OODModel.from_dict({k: data[k] for k in data.files})


def fit_model_ood(
    train_vectors: np.ndarray, val_vectors: np.ndarray, *, quantile: float
) -> tuple[OODModel, dict[str, Any]]:
    """The distance fitted on the train split, its cut-off on the validation split.

    Returns the model and a JSON-ready summary (cut-off, quantile, sizes, the validation
    distances' median and maximum). Nothing else enters: test vectors never move it.
    """
    model = OODModel.fit(train_vectors)
    d_val = model.score(val_vectors)
    cutoff = fit_cutoff(model, val_vectors, quantile=quantile)
    return model, {
        "distance": OOD_KIND,
        "fitted_on": {"distance": "train", "cutoff": "val"},
        "quantile": float(quantile),
        "cutoff": cutoff,
        "dim": model.dim,
        "shrinkage": model.shrinkage,
        "n_train": model.n_train,
        "n_val": int(len(d_val)),
        "val_distance": {"median": float(np.median(d_val)), "max": float(d_val.max())},
    }


def decide(
    p_ai: float, distance: float | None, threshold: float, cutoff: float | None, band: float
) -> tuple[str, str]:
    """A file's label (``ai``, ``human`` or ``uncertain``) and the reason for it.

    ``uncertain`` when ``distance > cutoff`` (outside what the model was trained on) or
    when ``p_ai`` lies within ``band`` of ``threshold`` (undecided); the outside reason
    comes first when both hold. ``distance``/``cutoff`` None: no distance check.
    """
    reasons = []
    if distance is not None and cutoff is not None and distance > cutoff:
        reasons.append(
            f"outside: distance {distance:.1f} from the training data exceeds the cut-off "
            f"{cutoff:.1f}"
        )
    if band > 0 and abstain(p_ai, threshold, band):
        reasons.append(
            f"undecided: P(AI) {p_ai:.3f} within {band:g} of the threshold {threshold:.3f}"
        )
    if reasons:
        return "uncertain", "; ".join(reasons)
    return ("ai" if p_ai >= threshold else "human"), ""


def model_ood(
    name: str,
    model_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    inputs: Mapping[str, Any],
    *,
    hp: Mapping[str, Any],
    quantile: float,
    device: str = "cpu",
    threads: int = 1,
):
    """The workflow's step: a trained model's OOD distance, from its own vectors.

    The vectors (:func:`synthdetect.models.embeddings.model_vectors`) of the train split
    fit the distance, the validation split's give the cut-off; the test split's are only
    measured, for the report. Returns ``(model, summary, distances)``, ``distances`` a
    frame of ``source, track, split, y, distance`` for every track.
    """
    import pandas as pd

    from synthdetect.models import registry
    from synthdetect.models.embeddings import model_vectors
    from synthdetect.models.run import load_model, load_splits

    if registry.get(name).family.torch:
        from synthdetect.models.training import set_threads

        set_threads(threads)
    data = load_splits(name, manifest_path, dict(inputs))
    model = load_model(name, model_path, dict(hp), data)
    vectors = {s: model_vectors(name, model, X, device=device) for s, X in data.X.items()}
    ood, summary = fit_model_ood(vectors["train"], vectors["val"], quantile=quantile)
    frames = [
        data.rows[s].assign(distance=ood.score(vectors[s])) for s in data.X if len(vectors[s])
    ]
    return ood, summary, pd.concat(frames, ignore_index=True)


def abstain_rates(
    scores: Mapping[str, Any],
    *,
    cutoffs: Mapping[str, float],
    thresholds: Mapping[str, float],
    band: float,
):
    """Rows (model, group): how many inputs, their median distance, the share outside
    the cut-off and the share labelled uncertain (outside, or within ``band`` of the
    threshold).

    ``scores`` maps a model to a frame of scored inputs with ``group``, ``status``,
    ``p_ai`` and ``distance`` (files scored by ``predict``, or benchmark windows); only
    ``status == "ok"`` rows count.
    """
    import pandas as pd

    rows = []
    for model, table in scores.items():
        ok = table[table.status == "ok"]
        for group, part in ok.groupby("group", sort=False):
            d = part.distance.to_numpy(np.float64)
            p = part.p_ai.to_numpy(np.float64)
            outside = d > cutoffs[model]
            undecided = abstain(p, thresholds[model], band) if band > 0 else np.zeros_like(outside)
            rows.append(
                {
                    "model": model,
                    "group": group,
                    "n": int(len(part)),
                    "cutoff": float(cutoffs[model]),
                    "median_distance": float(np.median(d)),
                    "outside": float(np.mean(outside)),
                    "uncertain": float(np.mean(outside | undecided)),
                }
            )
    return pd.DataFrame(rows)
