"""The robustness suite's scores and the report's comparison tables.

A detector that reads the music should survive what an upload goes through (re-encoding,
a pitch or tempo change, noise, a low-pass, an EQ); Afchar et al. showed that such
detectors often do not. Each Table 1 model is scored on the manipulated test clips as
trained, next to its score on the originals. The same module lays out Table 1 beside its
codec controls and the cross-source matrix, so a reader sees what a score rests on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from synthdetect.evaluation.tables import METRICS
from synthdetect.models import registry

#: The metrics the robustness table and heatmap report.
ROBUSTNESS_METRICS = ("accuracy", "f1", "roc_auc")
ORIGINAL = "original"

PathLike = str | os.PathLike


def test_inputs(
    manifest: pd.DataFrame,
    path: PathLike,
    covers: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A variant's test-split input (feature table or image cache) with its labels, in
    the manifest's order: of the test tracks of ``sources`` (None: all), from an input
    that holds those of ``covers`` (None: all; an image cache has a row per track)."""
    test = manifest[manifest.split == "test"]
    if covers is not None:
        test = test[test.source.isin(covers)]
    test = test.reset_index(drop=True)
    X, y = _covered_inputs(test, path)
    if sources is None:
        return X, y
    keep = test.source.isin(sources).to_numpy()
    return np.asarray(X[keep]), y[keep]


def _covered_inputs(test: pd.DataFrame, path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    if str(path).endswith(".npy"):
        from synthdetect.features.images import open_image_cache

        X = open_image_cache(path)
        if len(X) != len(test):
            raise ValueError(
                f"{path} holds {len(X)} images but the manifest's test split has "
                f"{len(test)} tracks; rebuild it (it is stale)"
            )
        return X, test.y.to_numpy(np.int64)
    table = pd.read_parquet(path)
    joined = test[["source", "track", "y"]].merge(
        table, on=["source", "track"], how="left", validate="one_to_one"
    )
    names = [c for c in table.columns if c not in ("source", "track")]
    missing = joined[names[0]].isna()
    if missing.any():
        first = joined[missing].iloc[0]
        raise ValueError(f"{path}: no features for test track {first.source}/{first.track}")
    return joined[names].to_numpy(np.float32), joined.y.to_numpy(np.int64)


def score_manipulations(
    name: str,
    model_path: PathLike,
    manifest_path: PathLike,
    inputs: Mapping[str, PathLike],
    *,
    hp: dict,
    device: str = "cpu",
    threads: int = 1,
    calibration: Mapping | None = None,
    sources: Sequence[str] | None = None,
    covers: Mapping[str, Sequence[str] | None] | None = None,
) -> pd.DataFrame:
    """One row per manipulation (``original`` first): the model's test-split metrics on
    it and their change from the original clips; with ``sources``, on those sources' test
    tracks only (Table 1's, when the config has derived sources); ``covers``: the sources
    each input holds (None: all).

    With ``calibration`` (the calibrate step's JSON) each row also has the human side's
    false-positive rate at every operating point (``fpr_at_<point>``, the threshold
    fitted on the original validation clips, applied to the calibrated P(AI)) and the
    number of human test clips it is a rate of (``n_human``)."""
    from synthdetect.evaluation.metrics import binary_metrics
    from synthdetect.models.run import SplitData, load_model, predict

    if registry.get(name).family.torch:
        from synthdetect.models.training import set_threads

        set_threads(threads)
    manifest = pd.read_parquet(manifest_path)
    model = None
    rows = []
    for manipulation, path in inputs.items():
        X, y = test_inputs(manifest, path, (covers or {}).get(manipulation), sources)
        if model is None:  # the network is sized from its input
            model = load_model(name, model_path, hp, SplitData({"test": X}, {}, {}))
        p_ai = predict(model, X, device)
        metrics = binary_metrics(y, p_ai)
        rows.append(
            {"model": name, "manipulation": manipulation, "n_test": metrics["n_test"]}
            | {k: metrics[k] for k in ROBUSTNESS_METRICS}
            | (human_fprs(p_ai, y, calibration) if calibration else {})
        )
    table = pd.DataFrame(rows)
    base = table[table.manipulation == ORIGINAL]
    if len(base):
        for k in ROBUSTNESS_METRICS:
            table[f"delta_{k}"] = table[k] - base[k].iloc[0]
    return table


def human_fprs(p_ai: np.ndarray, y: np.ndarray, calibration: Mapping) -> dict[str, float | int]:
    """The human clips' FPR at each operating point of ``calibration`` (and the balanced
    threshold): ``{"n_human": n, "fpr_at_<point>": rate, "not_estimable": "<points>"}``;
    NaN where a point has no threshold; ``not_estimable`` names the points whose rate the
    validation split was too small to fit (their threshold is a fallback)."""
    from synthdetect.evaluation.calibration import logits_from_proba, sigmoid

    z = logits_from_proba(np.asarray(p_ai), calibration["logit_clip_eps"])
    p = sigmoid(z / calibration["temperature"])  # the calibrated P(AI) thresholds apply to
    human = p[np.asarray(y) == 0]
    points = (calibration.get("operating_points") or {}).get("points") or {
        "balanced": {"threshold": calibration["threshold"]}
    }
    out: dict[str, float | int | str] = {"n_human": int(len(human))}
    for point, spec in points.items():
        thr = spec.get("threshold")
        out[f"fpr_at_{point}"] = (
            float(np.mean(human >= thr)) if thr is not None and len(human) else float("nan")
        )
    # points whose rate the validation split was too small to fit (operating_points)
    out["not_estimable"] = " ".join(p for p, spec in points.items() if not spec.get("estimable", 1))
    return out


def fpr_columns(scores: pd.DataFrame) -> list[str]:
    """The ``fpr_at_<point>`` columns of a robustness table, in their order."""
    return [c for c in scores.columns if c.startswith("fpr_at_")]


def robustness_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Manipulations x models for one metric (models in the paper's order)."""
    wide = scores.pivot(index="manipulation", columns="model", values=metric)
    models = sorted(wide.columns, key=_paper_order)
    order = list(dict.fromkeys(scores.manipulation))  # as configured, original first
    wide = wide.loc[order, models]
    wide.index.name = "manipulation"
    return wide


def plot_heatmap(
    table: pd.DataFrame, path: PathLike, title: str, *, vmin=0.0, vmax=1.0, cmap="RdYlGn"
) -> None:
    """A rows x columns heatmap with the values written in the cells."""
    from synthdetect.figures import new_figure, save_figure

    rows, cols = table.shape
    fig = new_figure((1.6 + 1.1 * cols, 1.2 + 0.38 * rows))
    ax = fig.add_subplot()
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(cols), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(rows), table.index)
    for i in range(rows):
        for j in range(cols):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04)
    save_figure(fig, path)


def controls_table(metrics: Mapping[str, Mapping[str, Mapping]]) -> pd.DataFrame:
    """Table 1 beside each control: rows (metric), columns (model, variant).

    ``metrics`` maps a variant ("table1", "codec_match", "lowpass") to each model's
    test metrics; models missing from a variant are left out of it.
    """
    columns, data = [], []
    models = sorted({m for per in metrics.values() for m in per}, key=_paper_order)
    for model in models:
        for variant, per in metrics.items():
            if model in per:
                columns.append((model, variant))
                data.append([per[model][k] for k in METRICS])
    table = pd.DataFrame(
        np.array(data, dtype=float).T,
        index=pd.Index(METRICS, name="metric"),
        columns=pd.MultiIndex.from_tuples(columns, names=["model", "variant"]),
    )
    return table


def cross_source_table(
    metrics: Mapping[str, Mapping[str, Mapping]], metric: str = "accuracy"
) -> pd.DataFrame:
    """Settings x models for one metric of the cross-source evaluation."""
    models = sorted({m for per in metrics.values() for m in per}, key=_paper_order)
    table = pd.DataFrame(
        {m: [metrics[s].get(m, {}).get(metric, np.nan) for s in metrics] for m in models},
        index=pd.Index(list(metrics), name="setting"),
    )
    return table.astype(float)


def flat_markdown(table: pd.DataFrame, digits: int = 3, caption: str = "") -> str:
    """Markdown for a table whose columns may be a MultiIndex (joined with ' / ')."""
    from synthdetect.evaluation.tables import to_markdown

    flat = table.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" / ".join(map(str, c)) for c in flat.columns]
    return to_markdown(flat, digits=digits, caption=caption)


def _paper_order(model: str) -> tuple[int, str]:
    return registry.paper_rank(model)


def sources_line(train: Sequence[str], test: Sequence[str]) -> str:
    return f"train {'+'.join(train)} -> test {'+'.join(test)}"
