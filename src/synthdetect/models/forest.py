"""The scikit-learn models (the Random Forest baselines, the fakeprint's logistic regression)
and their safe persistence (skops, never pickle).

Kept apart from :mod:`synthdetect.models.training` so the forest jobs do not import torch.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier


def train_random_forest(
    X: np.ndarray | pd.DataFrame,
    y: np.ndarray,
    *,
    seed: int,
    n_estimators: int = 300,
    max_depth: int | None = None,
    n_jobs: int = 1,
) -> RandomForestClassifier:
    """A RandomForestClassifier fitted with ``random_state=seed`` (same seed, same forest,
    whatever ``n_jobs``). ``predict_proba(X)[:, 1]`` is P(AI) when y uses 1 = AI."""
    rf = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, n_jobs=n_jobs, random_state=seed
    )
    return rf.fit(X, np.asarray(y).astype(np.int64))


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".tmp")


#: Types a saved random forest needs beyond skops' defaults; trusted by load_sklearn.
DEFAULT_TRUSTED_SKLEARN_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)


class UntrustedModelError(RuntimeError):
    """A skops file holds types outside the trusted list; it was not loaded."""


def _skops_io():
    try:
        import skops.io as sio
    except ImportError as err:  # pragma: no cover - skops is a declared dependency
        raise ImportError(
            "saving/loading scikit-learn models needs skops (pip install skops); "
            "pickle is not used because loading a pickle runs arbitrary code"
        ) from err
    return sio


_OBJECT_ID = re.compile(r'"file": "(\d+)\.|"__id__": (\d+)')


def canonical_skops(data: bytes) -> bytes:
    """The same skops file with the same bytes for the same model.

    skops names a model's arrays after ``id()`` of the objects in memory and stamps the
    zip with the time of writing; both differ between runs. The ids are renumbered in
    the order they first appear in ``schema.json`` (references to one object stay one
    number), and every member gets a fixed timestamp.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = src.read("schema.json").decode()
        order: dict[str, str] = {}
        for match in _OBJECT_ID.finditer(schema):
            old = match.group(1) or match.group(2)
            order.setdefault(old, str(len(order) + 1))

        def renumber(match: re.Match) -> str:
            text = match.group(0)
            old = match.group(1) or match.group(2)
            return text.replace(old, order[old])

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                body = src.read(info.filename)
                name = info.filename
                if name == "schema.json":
                    body = _OBJECT_ID.sub(renumber, schema).encode()
                else:
                    stem, dot, ext = name.partition(".")
                    name = order.get(stem, stem) + dot + ext
                fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                fixed.compress_type = info.compress_type
                fixed.external_attr = info.external_attr
                dst.writestr(fixed, body)
    return out.getvalue()


def save_sklearn(model: Any, path: str | os.PathLike) -> None:
    """Save a scikit-learn model in skops' safe format (``.skops``), atomically, with the
    same bytes for the same model (:func:`canonical_skops`)."""
    sio = _skops_io()
    path = Path(path)
    tmp = _atomic_path(path)
    tmp.write_bytes(canonical_skops(sio.dumps(model)))
    os.replace(tmp, path)


def load_sklearn(path: str | os.PathLike, trusted: Sequence[str] | None = None) -> Any:
    """Load a ``.skops`` model, trusting only skops' defaults plus ``trusted``
    (default :data:`DEFAULT_TRUSTED_SKLEARN_TYPES`). Any other type in the file raises
    :class:`UntrustedModelError` naming it, and nothing is loaded."""
    sio = _skops_io()
    allowed = set(DEFAULT_TRUSTED_SKLEARN_TYPES if trusted is None else trusted)
    untrusted = sio.get_untrusted_types(file=Path(path))
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise UntrustedModelError(
            f"{path} contains types that are not trusted: {refused}; inspect the file and "
            "pass them in `trusted` if they are expected"
        )
    return sio.load(Path(path), trusted=list(untrusted))


def train_logistic_regression(X: np.ndarray, y: np.ndarray, *, seed: int, C: float = 1.0):
    """A class-balanced logistic regression (an sklearn ``Pipeline``), the fakeprint
    detector's classifier.

    Each bin is standardised first, so the L2 penalty (strength ``1 / C``) weighs all
    bins alike; ``class_weight="balanced"`` makes the fit independent of the class
    ratio, as the balanced-accuracy threshold is. The lbfgs solver is deterministic;
    ``seed`` is passed on as ``random_state`` all the same. ``predict_proba[:, 1]`` is
    P(AI) (labels 1 = AI, 0 = human).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"X must be (n, d) and y (n,): {X.shape}, {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features must be finite")
    if not np.isin(y, (0, 1)).all() or len(np.unique(y)) != 2:
        raise ValueError("y must hold both 0 (human) and 1 (AI), and nothing else")
    if isinstance(C, bool) or not isinstance(C, int | float) or not C > 0:
        raise ValueError(f"C must be a positive number, not {C!r}")
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "logreg",
                LogisticRegression(
                    C=float(C), class_weight="balanced", max_iter=5000, random_state=seed
                ),
            ),
        ]
    )
    return model.fit(X, y.astype(np.int64))
