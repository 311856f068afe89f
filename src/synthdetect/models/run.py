"""Table 1's experiments: each model trained on the manifest's train split (best epoch
on val) and scored on its test split. The workflow's train/evaluate rules call these.

Every model sees the same split: rows of the feature tables and of the image caches are
aligned to the manifest here, never re-split.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthdetect.figures import new_figure, save_figure
from synthdetect.models import registry

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class SplitData:
    """Inputs and labels of the three splits, with the manifest rows they came from."""

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    rows: dict[str, pd.DataFrame]


def feature_splits(
    manifest_path: str | os.PathLike,
    features_path: str | os.PathLike,
    sources: Collection[str] | None = None,
) -> SplitData:
    """A feature table cut into the manifest's splits (features joined by track); with
    ``sources``, the manifest's tracks of those sources only (what the table holds)."""
    manifest = pd.read_parquet(manifest_path)
    if sources is not None:
        manifest = manifest[manifest.source.isin(sources)]
    table = pd.read_parquet(features_path)
    joined = manifest.merge(table, on=["source", "track"], how="left", validate="one_to_one")
    names = [c for c in table.columns if c not in ("source", "track")]
    missing = joined[names[0]].isna()
    if missing.any():
        first = joined[missing].iloc[0]
        raise ValueError(f"{features_path}: no features for track {first.source}/{first.track}")
    X, y, rows = {}, {}, {}
    for split in SPLITS:
        part = joined[joined.split == split]
        X[split] = part[names].to_numpy(np.float32)
        y[split] = part.y.to_numpy(np.int64)
        rows[split] = part[["source", "track", "split", "y"]].reset_index(drop=True)
    return SplitData(X, y, rows)


def image_splits(
    manifest_path: str | os.PathLike,
    caches: dict[str, str | os.PathLike],
    sources: Collection[str] | None = None,
) -> SplitData:
    """Memory-mapped image caches of the splits, checked against the manifest's rows (of
    ``sources`` only, when given)."""
    from synthdetect.features.images import open_image_cache

    manifest = pd.read_parquet(manifest_path)
    if sources is not None:
        manifest = manifest[manifest.source.isin(sources)]
    X, y, rows = {}, {}, {}
    for split, path in caches.items():
        part = manifest[manifest.split == split]
        X[split] = open_image_cache(path)
        if len(X[split]) != len(part):
            raise ValueError(
                f"{path} holds {len(X[split])} images but the manifest's {split} split has "
                f"{len(part)} tracks; rebuild it (it is stale)"
            )
        y[split] = part.y.to_numpy(np.int64)
        rows[split] = part[["source", "track", "split", "y"]].reset_index(drop=True)
    return SplitData(X, y, rows)


def select_sources(
    data: SplitData, train: list[str] | None = None, test: list[str] | None = None
) -> SplitData:
    """Cross-source evaluation: train and validate on ``train`` sources only, test on
    ``test`` sources only (None keeps every source). The split itself never changes, so
    no track moves between train and test."""
    X, y, rows = dict(data.X), dict(data.y), dict(data.rows)
    for split in X:
        keep = test if split == "test" else train
        if keep is None:
            continue
        mask = rows[split].source.isin(keep).to_numpy()
        if not mask.any():
            raise ValueError(
                f"cross-source: no {split} track comes from the sources {sorted(keep)}"
            )
        X[split] = np.asarray(X[split][mask])
        y[split] = y[split][mask]
        rows[split] = rows[split][mask].reset_index(drop=True)
    return SplitData(X, y, rows)


def load_splits(
    name: str, manifest_path, inputs: dict, sources: Collection[str] | None = None
) -> SplitData:
    """A model's input cut into the manifest's splits: its feature table
    (``inputs["features"]``) or its image caches (``inputs[split]``), by the registry.
    ``sources``: the sources the inputs hold (a control's leave derived sources out)."""
    if registry.get(name).images:
        caches = {s: inputs[s] for s in SPLITS if s in inputs}
        return image_splits(manifest_path, caches, sources)
    return feature_splits(manifest_path, inputs["features"], sources)


def fit(
    name: str,
    data: SplitData,
    out_model,
    out_history=None,
    out_curve=None,
    *,
    seed: int,
    hp: dict,
    device: str,
    threads: int,
) -> None:
    """Train model ``name`` the way its family trains (the registry's ``trainer``)."""
    if registry.get(name).family.torch:
        fit_network(
            name,
            data,
            out_model,
            out_history,
            out_curve,
            seed=seed,
            hp=hp,
            device=device,
            threads=threads,
        )
    else:
        fit_sklearn(name, data, out_model, seed=seed, hp=hp, threads=threads)


def build_network(
    name: str,
    hp: dict,
    *,
    n_features: int | None = None,
    image_size: int = 224,
    weights: str | None = None,
):
    """The torch module of a Table 1 model from its hyper-parameters."""
    from synthdetect.models.networks import HistogramMLP, PaperCNN

    family = registry.get(name).family.name
    if family == "mlp":
        return HistogramMLP(n_features, hidden=tuple(hp["hidden"]))
    if family == "cnn":
        return PaperCNN(
            in_size=image_size,
            channels=tuple(hp["channels"]),
            dropout=hp["dropout"],
            hidden=hp["hidden"],
        )
    if family == "resnet18":
        from synthdetect.models.resnet18 import build_resnet18

        return build_resnet18(weights or hp["weights"])
    raise ValueError(f"no network for model {name!r}")


def network_for(name: str, hp: dict, X: np.ndarray, weights: str | None = None):
    """The network of a model, sized from its input (feature count or image side)."""
    images = X.ndim == 4
    return build_network(
        name,
        hp,
        n_features=None if images else X.shape[1],
        image_size=X.shape[1] if images else 224,
        weights=weights,
    )


def job_data(name: str, inputs: Mapping[str, str], params: Mapping) -> SplitData:
    """A training or evaluation rule's data: the model's inputs cut into the manifest's
    splits (``params["covers"]``: the sources they hold), then the setting's train and
    test sources kept (``params["sources"]``)."""
    data = load_splits(name, inputs["manifest"], dict(inputs.items()), sources=params["covers"])
    return select_sources(data, **params["sources"])


def train_job(
    name: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    params: Mapping,
    *,
    threads: int,
    log: str | os.PathLike,
) -> None:
    """The `train_sklearn` rule (a `run:` block in Snakemake's process, as `evaluate`):
    :func:`fit` on :func:`job_data`, logging to the job's ``log`` only. A scikit-learn
    fit is a second or two behind the seconds its imports take in a fresh process."""
    from synthdetect.logs import thread_log

    with thread_log(log):
        fit(
            name,
            job_data(name, inputs, params),
            outputs["model"],
            outputs.get("history"),
            outputs.get("curve"),
            seed=params["seed"],
            hp=params["hp"],
            device=params["device"],
            threads=threads,
        )


def fit_sklearn(
    name: str, data: SplitData, out_model, *, seed: int, hp: dict, threads: int
) -> None:
    """A scikit-learn model on the train split (val is not needed: no early stopping)."""
    from synthdetect.models import forest

    family = registry.get(name).family.name
    if family == "rf":
        model = forest.train_random_forest(
            data.X["train"],
            data.y["train"],
            seed=seed,
            n_estimators=hp["n_estimators"],
            max_depth=hp["max_depth"],
            n_jobs=threads,
        )
    elif family == "logreg":
        model = forest.train_logistic_regression(
            data.X["train"], data.y["train"], seed=seed, C=hp["C"]
        )
    else:
        raise ValueError(f"model {name!r} is not a scikit-learn model")
    forest.save_sklearn(model, out_model)


def fit_network(
    name: str,
    data: SplitData,
    out_model,
    out_history,
    out_curve,
    *,
    seed: int,
    hp: dict,
    device: str,
    threads: int,
) -> None:
    """Train an MLP, the CNN or ResNet18; keep the best validation epoch; save curves."""
    from synthdetect.models import training

    training.configure_cpu(threads)
    training.seed_everything(seed)
    dev = training.pick_device(device)
    net = network_for(name, hp, data.X["train"])
    common = dict(
        epochs=hp["epochs"],
        lr=hp["lr"],
        batch_size=hp["batch_size"],
        seed=seed,
        device=dev,
        threads=threads,
    )
    if registry.get(name).family.name == "resnet18":
        result = training.train_resnet18_head(
            net, data.X["train"], data.y["train"], data.X["val"], data.y["val"], **common
        )
    else:
        result = training.train_classifier(
            net,
            (data.X["train"], data.y["train"]),
            (data.X["val"], data.y["val"]),
            precision=hp.get("precision", "auto"),
            **common,
        )
    log.info(
        "%s: best epoch %d (val loss %.4f) on %s, %.1f s",
        name,
        result.best_epoch,
        result.best_val_loss,
        result.device,
        result.seconds,
    )
    training.save_state_dict(result.model, out_model)
    # wall seconds go to the log, not the file: the same training gives the same bytes
    history = result.history.drop(columns="seconds").assign(
        best=lambda h: h.epoch == result.best_epoch
    )
    history.to_parquet(out_history, index=False)
    plot_loss_curves(result.history, out_curve, f"{name}: train vs validation loss")


def load_model(name: str, model_path, hp: dict, data: SplitData):
    """A trained model back from its file, ready to predict."""
    if not registry.get(name).family.torch:
        from synthdetect.models.forest import load_sklearn

        return load_sklearn(model_path)
    from synthdetect.models import training

    net = network_for(name, hp, data.X["test"], weights="none")
    return training.load_state_dict(net, model_path)


def predict(model, X: np.ndarray, device: str = "cpu") -> np.ndarray:
    """P(AI) of each row (sklearn or torch model)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, list(model.classes_).index(1)]
    from synthdetect.models import training

    return training.predict_proba(model, X, device=training.pick_device(device))


def plot_loss_curves(history: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """Train and validation loss per epoch (PNG), the best (lowest val loss) epoch marked.

    ``history`` is :attr:`synthdetect.models.training.TrainResult.history` (columns ``epoch``,
    ``train_loss``, ``val_loss``; ``val_accuracy`` goes in the legend of the best epoch
    when present).
    """
    missing = {"epoch", "train_loss", "val_loss"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}")
    if history.empty:
        raise ValueError("empty history")
    h = history.sort_values("epoch")
    fig = new_figure((6.0, 4.0))
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
    save_figure(fig, path)
