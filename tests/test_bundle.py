"""Model bundles: written, read back, and refused with a clear message when wrong."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import synthdetect
from synthdetect.models.forest import save_sklearn, train_random_forest
from synthdetect.models.networks import HistogramMLP, PaperCNN
from synthdetect.models.training import save_state_dict
from synthdetect.serving.bundle import FORMAT_VERSION, BundleError, read_bundle, write_bundle

PRE = {
    "clip": {"seconds": 30.0, "sample_rate": 22050, "silence_dbfs": -60.0},
    "spectrogram": {
        "n_fft": 512,
        "hop_length": 256,
        "ref": 1.0,
        "top_db": 80.0,
        "scale": "linear",
        "n_mels": 128,
        "cmap": "coolwarm",
        "vmin": None,
        "vmax": None,
        "size": (32, 32),
    },
    "features": {
        "color": {"channels": ["R", "B"], "bins": 10},
        "deriv": {"sigma": 1.0, "bins": 10, "limit": 0.1},
    },
}
CAL = {
    "model": "x",
    "temperature": 1.5,
    "threshold": 0.4,
    "logit_clip_eps": 1e-6,
    "ece": {"test": {"before": 0.2, "after": 0.05}},
    "metrics": {"test": {"table1": {"accuracy": 0.9}}},
}
MLP_HP = {"hidden": [8, 4], "epochs": 1, "lr": 0.001, "batch_size": 4}
CNN_HP = {
    "channels": [4, 8, 8],
    "hidden": 8,
    "dropout": 0.5,
    "epochs": 1,
    "lr": 0.001,
    "batch_size": 4,
}


def export(out: Path, model: str, weights: Path, hp: dict, **extra):
    """``write_bundle`` with these tests' preprocessing and (unless given) calibration."""
    extra.setdefault("calibration", CAL)
    return write_bundle(out, model=model, weights=weights, hp=hp, preprocessing=PRE, **extra)


def mlp_bundle(tmp_path: Path, n_features: int = 20, name: str = "mlp_color") -> Path:
    torch.manual_seed(0)
    weights = tmp_path / "mlp.pt"
    save_state_dict(HistogramMLP(n_features, hidden=(8, 4)), weights)
    out = tmp_path / "bundles" / name
    export(
        out,
        name,
        weights,
        MLP_HP,
        metrics={"accuracy": 0.9},
        ci={"accuracy": {"low": 0.8}},
        training={"seed": 0},
    )
    return out


def cnn_bundle(tmp_path: Path) -> Path:
    """A paper CNN bundle (32 px images) of seeded untrained weights."""
    torch.manual_seed(0)
    save_state_dict(PaperCNN(32, channels=(4, 8, 8), hidden=8), tmp_path / "cnn.pt")
    return export(tmp_path / "cnn", "cnn", tmp_path / "cnn.pt", CNN_HP).path


def edit(bundle: Path, change) -> Path:
    meta = json.loads((bundle / "bundle.json").read_text())
    change(meta)
    (bundle / "bundle.json").write_text(json.dumps(meta))
    return bundle


def test_round_trip_keeps_everything_scoring_needs(tmp_path):
    out = mlp_bundle(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "model.pt"]
    assert not list((tmp_path / "bundles").glob(".*"))  # no temporary left behind
    b = read_bundle(out)
    meta = b.meta
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["synthdetect_version"] == synthdetect.__version__
    assert meta["preprocessing"]["clip"] == {"seconds": 30.0, "sample_rate": 22050}
    assert meta["preprocessing"]["spectrogram"]["size"] == [32, 32]
    assert meta["model"] | {"weights": None} == {
        "name": "mlp_color",
        "family": "mlp",
        "architecture": "HistogramMLP",
        "hyperparameters": MLP_HP,
        "input": "features",
        "feature_kind": "color",
        "n_features": 20,
        "weights": None,
    }
    assert (b.temperature, b.threshold, b.logit_clip_eps) == (1.5, 0.4, 1e-6)
    assert meta["calibration"]["ece"]["test"]["after"] == 0.05
    assert meta["metrics"]["test"]["accuracy"] == 0.9
    assert meta["metrics"]["splits"]["test"]["table1"]["accuracy"] == 0.9
    assert meta["metrics"]["ci"]["accuracy"]["low"] == 0.8
    model = b.load_model()
    torch.manual_seed(0)
    again = HistogramMLP(20, hidden=(8, 4))
    for key, value in again.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    assert not model.training
    assert read_bundle(out / "bundle.json").path == out  # the file works as well


def test_forest_and_cnn_bundles_load_and_predict(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 100)), np.tile([0, 1], 15)
    save_sklearn(train_random_forest(X, y, seed=0, n_estimators=4), tmp_path / "rf.skops")
    rf = export(
        tmp_path / "rf", "rf_deriv", tmp_path / "rf.skops", {"n_estimators": 4, "max_depth": None}
    )
    assert rf.meta["model"]["n_features"] == 100
    assert read_bundle(rf.path).load_model().predict_proba(X).shape == (30, 2)

    cnn = read_bundle(cnn_bundle(tmp_path))
    assert cnn.meta["model"]["image_size"] == [32, 32]
    net = read_bundle(cnn.path).load_model()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 1)


def test_another_format_version_is_refused(tmp_path):
    out = edit(mlp_bundle(tmp_path), lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        BundleError,
        match=r"format_version 2 is not supported.*reads "
        r"format_version 1",
    ):
        read_bundle(out)
    edit(out, lambda m: m.pop("format_version"))
    with pytest.raises(BundleError, match="format_version None"):
        read_bundle(out)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("spectrogram", "n_fft"), "spectrogram.n_fft"),
        (("features", "deriv"), "features.deriv"),
        (("clip",), "'clip'"),
        (("features", "color", "channels"), "features.color.channels"),
    ],
)
def test_missing_preprocessing_names_the_key(tmp_path, path, named):
    def drop(meta):
        node = meta["preprocessing"]
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    out = edit(mlp_bundle(tmp_path), drop)
    with pytest.raises(BundleError, match=f"{named}.* is missing"):
        read_bundle(out)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("spectrogram", "size", "big", r"preprocessing\.spectrogram\.size must be \[height"),
        ("spectrogram", "scale", "log", r"spectrogram\.scale must be 'linear' or 'mel'"),
        ("clip", "sample_rate", 22050.5, r"clip\.sample_rate must be an integer"),
        ("spectrogram", "ref", -1, r"spectrogram\.ref must be a number > 0 or 'max'"),
    ],
)
def test_malformed_preprocessing_names_the_key(tmp_path, section, key, value, message):
    out = edit(mlp_bundle(tmp_path), lambda m: m["preprocessing"][section].update({key: value}))
    with pytest.raises(BundleError, match=message):
        read_bundle(out)


def test_preprocessing_that_does_not_fit_the_model_is_refused(tmp_path):
    out = edit(
        mlp_bundle(tmp_path), lambda m: m["preprocessing"]["features"]["color"].update(bins=12)
    )
    with pytest.raises(
        BundleError,
        match=r"model\.n_features is 20 .* imply 24 "
        r"\(preprocessing mismatch\)",
    ):
        read_bundle(out)
    edit(cnn_bundle(tmp_path), lambda m: m["preprocessing"]["spectrogram"].update(size=[64, 64]))
    with pytest.raises(BundleError, match=r"model\.image_size is \[32, 32\].*\[64, 64\]"):
        read_bundle(tmp_path / "cnn")


def test_calibration_keys_are_checked(tmp_path):
    out = edit(mlp_bundle(tmp_path), lambda m: m["calibration"].update(threshold=1.5))
    with pytest.raises(BundleError, match=r"calibration\.threshold must be a probability"):
        read_bundle(out)
    edit(out, lambda m: m["calibration"].pop("temperature"))
    with pytest.raises(BundleError, match="calibration: key 'temperature' is missing"):
        read_bundle(out)


def test_changed_weights_are_refused(tmp_path):
    out = mlp_bundle(tmp_path)
    with open(out / "model.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="SHA-256 .* the weights were changed"):
        read_bundle(out)
    (out / "model.pt").unlink()
    with pytest.raises(BundleError, match="'model.pt' is not a file"):
        read_bundle(out)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="is not a model bundle: it does not exist"):
        read_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match="has no bundle.json"):
        read_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="not readable JSON"):
        read_bundle(tmp_path)


def test_export_refuses_weights_of_another_shape_and_leaves_nothing(tmp_path):
    save_state_dict(HistogramMLP(30, hidden=(8, 4)), tmp_path / "mlp.pt")
    with pytest.raises(BundleError, match="do not load into a HistogramMLP"):
        export(tmp_path / "b", "mlp_color", tmp_path / "mlp.pt", MLP_HP)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.pt"]


def test_export_replaces_an_old_bundle(tmp_path):
    out = mlp_bundle(tmp_path)
    (out / "stale.txt").write_text("old")
    cal = copy.deepcopy(CAL) | {"threshold": 0.6}
    export(out, "mlp_color", tmp_path / "mlp.pt", MLP_HP, calibration=cal)
    assert not (out / "stale.txt").exists() and read_bundle(out).threshold == 0.6
    shutil.rmtree(out)
