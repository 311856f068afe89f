"""Table 1's experiments: each model trained on the manifest's train split (best epoch
on val) and scored on its test split. The workflow's train/evaluate rules call these.

Every model sees the same split: rows of the feature tables and of the image caches are
aligned to the manifest here, never re-split.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class SplitData:
    """Inputs and labels of the three splits, with the manifest rows they came from."""

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    rows: dict[str, pd.DataFrame]


def feature_splits(manifest_path: str | os.PathLike, features_path: str | os.PathLike) -> SplitData:
    """A feature table cut into the manifest's splits (features joined by track)."""
    manifest = pd.read_parquet(manifest_path)
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
    manifest_path: str | os.PathLike, caches: dict[str, str | os.PathLike]
) -> SplitData:
    """Memory-mapped image caches of the splits, checked against the manifest's rows."""
    from synthdetect.images import open_image_cache

    manifest = pd.read_parquet(manifest_path)
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


def build_network(
    name: str,
    hp: dict,
    *,
    n_features: int | None = None,
    image_size: int = 224,
    weights: str | None = None,
):
    """The torch module of a Table 1 model from its hyper-parameters."""
    from synthdetect.models import HistogramMLP, PaperCNN, build_resnet18

    family = name.partition("_")[0]
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


def fit_forest(data: SplitData, out_model, *, seed: int, hp: dict, threads: int) -> None:
    """Random Forest on the train split (val is not needed: no early stopping)."""
    from synthdetect.forest import save_sklearn, train_random_forest

    model = train_random_forest(
        data.X["train"],
        data.y["train"],
        seed=seed,
        n_estimators=hp["n_estimators"],
        max_depth=hp["max_depth"],
        n_jobs=threads,
    )
    save_sklearn(model, out_model)


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
    from synthdetect import training
    from synthdetect.metrics import plot_loss_curves

    training.set_threads(threads)
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
    if name == "resnet18":
        result = training.train_resnet18_head(
            net, data.X["train"], data.y["train"], data.X["val"], data.y["val"], **common
        )
    else:
        result = training.train_classifier(
            net, (data.X["train"], data.y["train"]), (data.X["val"], data.y["val"]), **common
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
    history = result.history.assign(best=lambda h: h.epoch == result.best_epoch)
    history.to_parquet(out_history, index=False)
    plot_loss_curves(result.history, out_curve, f"{name}: train vs validation loss")


def load_model(name: str, model_path, hp: dict, data: SplitData):
    """A trained model back from its file, ready to predict."""
    if name.startswith("rf_"):
        from synthdetect.forest import load_sklearn

        return load_sklearn(model_path)
    from synthdetect import training

    net = network_for(name, hp, data.X["test"], weights="none")
    return training.load_state_dict(net, model_path)


def predict(model, X: np.ndarray, device: str = "cpu") -> np.ndarray:
    """P(AI) of each row (sklearn or torch model)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, list(model.classes_).index(1)]
    from synthdetect import training

    return training.predict_proba(model, X, device=training.pick_device(device))


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
    from synthdetect.metrics import binary_metrics, plot_confusion_matrix

    if not name.startswith("rf_"):
        from synthdetect.training import set_threads

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
