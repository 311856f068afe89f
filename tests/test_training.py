"""Training, prediction, persistence and the image cache, on tiny synthetic data (CPU)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from synthdetect.evaluation.metrics import binary_metrics
from synthdetect.features.images import load_image, load_images, open_image_cache, write_image_cache
from synthdetect.models.forest import (
    UntrustedModelError,
    load_sklearn,
    save_sklearn,
    train_random_forest,
)
from synthdetect.models.networks import HistogramMLP, PaperCNN
from synthdetect.models.resnet18 import build_resnet18
from synthdetect.models.training import (
    backbone_features,
    load_state_dict,
    pick_device,
    predict_logits,
    predict_proba,
    save_state_dict,
    seed_everything,
    train_classifier,
    train_resnet18_head,
)

HISTORY_VALUES = ["epoch", "train_loss", "val_loss", "val_accuracy"]


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def band_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy dark images; the AI ones (y=1) carry a bright horizontal band."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    imgs = rng.integers(0, 90, (n, size, size, 3)).astype(np.uint8)
    for i in np.flatnonzero(y):
        row = rng.integers(size // 4, 3 * size // 4)
        imgs[i, row : row + max(2, size // 10), :, 0] = 230
    return imgs, y


def separable_features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64)
    return X, y


def small_cnn(size: int) -> PaperCNN:
    return PaperCNN(in_size=size, channels=(4, 8, 8), hidden=16)


def fit_small_cnn(imgs: np.ndarray, y: np.ndarray, seed: int, hook=None, **kw):
    """A small CNN seeded and trained 3 epochs on 16 images, validated on the rest;
    ``hook`` goes on its first convolution."""
    seed_everything(seed)
    model = small_cnn(imgs.shape[1])  # dropout active: the seed must cover it too
    if hook is not None:
        model.features[0].register_forward_hook(hook)
    fit = dict(epochs=3, lr=1e-3, batch_size=4, seed=seed, device="cpu", progress=False)
    return train_classifier(model, (imgs[:16], y[:16]), (imgs[16:], y[16:]), **(fit | kw))


# --------------------------------------------------------------------------- devices


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            pick_device("cuda")


# --------------------------------------------------------------------------- MLP / CNN


def test_mlp_learns_a_separable_problem(caplog):
    X, y = separable_features(600, seed=0)
    seed_everything(0)
    with caplog.at_level(logging.INFO, logger="synthdetect.models.training"):
        res = train_classifier(
            HistogramMLP(20),
            (X[:400], y[:400]),
            (X[400:500], y[400:500]),
            epochs=15,
            lr=1e-2,
            batch_size=32,
            seed=0,
            device="cpu",
            progress=False,
        )
    assert list(res.history.columns) == HISTORY_VALUES + ["seconds"]
    assert len(res.history) == 15 and (res.history["seconds"] > 0).all()
    assert res.best_epoch == int(res.history.loc[res.history["val_loss"].idxmin(), "epoch"])
    assert sum("epoch" in r.getMessage() and "/15" in r.getMessage() for r in caplog.records) == 15
    p = predict_proba(res.model, X[500:], device="cpu")
    assert p.shape == (100,) and ((p >= 0) & (p <= 1)).all()
    assert binary_metrics(y[500:], p)["accuracy"] > 0.9


def test_best_epoch_weights_are_restored():
    X, y = separable_features(300, seed=1)
    seed_everything(3)
    res = train_classifier(
        HistogramMLP(20),
        (X[:200], y[:200]),
        (X[200:], y[200:]),
        epochs=6,
        lr=5e-2,
        batch_size=16,
        seed=3,
        device="cpu",
        progress=False,
    )
    z = torch.from_numpy(predict_logits(res.model, X[200:]))
    val_loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.from_numpy(y[200:]).float()
    )
    assert float(val_loss) == pytest.approx(res.best_val_loss, rel=1e-5)


def test_cnn_trains_on_bright_band_images_and_loss_decreases():
    imgs, y = band_images(40, 64, seed=0)
    seed_everything(0)
    model = PaperCNN(in_size=64)  # the paper's layers, on small images
    res = train_classifier(
        model,
        (imgs[:32], y[:32]),
        (imgs[32:], y[32:]),
        epochs=2,
        lr=1e-3,
        batch_size=4,
        seed=0,
        device="cpu",
        progress=True,
        threads=2,
    )
    losses = res.history["train_loss"].tolist()
    assert losses[1] < losses[0]
    assert np.isfinite(res.history["val_loss"]).all()
    assert not res.model.training  # returned ready for inference


def test_cnn_precision_sets_the_training_autocast_on_cpu():
    """bf16 runs the convolutions in bf16 (fp32 weights stay fp32); auto and fp32 do not
    on a CPU, and give the same weights; an unknown precision fails before training."""
    imgs, y = band_images(24, 32, seed=2)

    def run(precision: str):
        seen: set[torch.dtype] = set()
        res = fit_small_cnn(imgs, y, 0, lambda m, i, o: seen.add(o.dtype), precision=precision)
        return res, seen

    auto, seen_auto = run("auto")
    fp32, seen_fp32 = run("fp32")
    bf16, seen_bf16 = run("bf16")
    assert seen_auto == seen_fp32 == {torch.float32}
    assert seen_bf16 == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert np.isfinite(bf16.history["val_loss"]).all()
    for k, v in auto.model.state_dict().items():
        assert torch.equal(v, fp32.model.state_dict()[k]), k
    assert any(
        not torch.equal(v, bf16.model.state_dict()[k]) for k, v in auto.model.state_dict().items()
    )
    with pytest.raises(ValueError, match="precision 'fp16' is not one of auto, fp32, bf16"):
        run("fp16")


def test_same_seed_same_history_and_weights():
    imgs, y = band_images(24, 32, seed=1)

    def run(seed: int):
        return fit_small_cnn(imgs, y, seed)

    a, b, c = run(7), run(7), run(8)
    assert a.history[HISTORY_VALUES].equals(b.history[HISTORY_VALUES])
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert not a.history[HISTORY_VALUES].equals(c.history[HISTORY_VALUES])


def test_transform_is_applied_to_training_batches_only():
    imgs, y = band_images(12, 32, seed=2)
    seen = []

    def flip(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return torch.flip(x, dims=[-1])

    seed_everything(0)
    train_classifier(
        small_cnn(32),
        (imgs[:8], y[:8]),
        (imgs[8:], y[8:]),
        epochs=1,
        lr=1e-3,
        batch_size=4,
        seed=0,
        device="cpu",
        transform=flip,
        progress=False,
    )
    assert seen == [(4, 3, 32, 32), (4, 3, 32, 32)]


def test_trains_from_a_memmapped_image_cache(tmp_path):
    imgs, y = band_images(16, 32, seed=3)
    paths = []
    for i, im in enumerate(imgs):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(im).save(paths[-1])
    write_image_cache(paths[:12], tmp_path / "train.npy")
    write_image_cache(paths[12:], tmp_path / "val.npy")
    tr, va = open_image_cache(tmp_path / "train.npy"), open_image_cache(tmp_path / "val.npy")
    assert isinstance(tr, np.memmap)
    seed_everything(0)
    res = train_classifier(
        small_cnn(32),
        (tr, y[:12]),
        (va, y[12:]),
        epochs=1,
        lr=1e-3,
        batch_size=4,
        seed=0,
        device="cpu",
        progress=False,
    )
    np.testing.assert_array_equal(
        predict_logits(res.model, va), predict_logits(res.model, imgs[12:])
    )


# --------------------------------------------------------------------------- ResNet18 head


def test_head_on_cached_features_equals_full_frozen_training():
    imgs, y = band_images(20, 32, seed=4)
    seed_everything(0)
    base = build_resnet18("none")
    kw = dict(epochs=3, lr=1e-2, batch_size=4, seed=5, device="cpu", progress=False)

    full = train_classifier(copy.deepcopy(base), (imgs[:14], y[:14]), (imgs[14:], y[14:]), **kw)
    fast = train_resnet18_head(copy.deepcopy(base), imgs[:14], y[:14], imgs[14:], y[14:], **kw)

    np.testing.assert_allclose(
        fast.history[["train_loss", "val_loss"]],
        full.history[["train_loss", "val_loss"]],
        rtol=1e-4,
    )
    assert fast.best_epoch == full.best_epoch
    torch.testing.assert_close(fast.model.fc.weight, full.model.fc.weight, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.model.fc.bias, full.model.fc.bias, rtol=1e-4, atol=1e-5)
    for name, v in base.state_dict().items():  # the backbone never moved
        if not name.startswith("fc."):
            assert torch.equal(v, fast.model.state_dict()[name]), name
    assert fast.setup_seconds > 0

    # the trained head on cached features gives the full model's logits
    feats = backbone_features(fast.model, imgs, batch_size=8, device="cpu")
    assert feats.shape == (20, 512) and feats.dtype == np.float32
    with torch.no_grad():
        head_logits = fast.model.fc(torch.from_numpy(feats)).reshape(-1).numpy()
    np.testing.assert_allclose(head_logits, predict_logits(fast.model, imgs), rtol=1e-4, atol=1e-5)


def test_head_training_refuses_an_unfrozen_backbone():
    imgs, y = band_images(4, 32, seed=5)
    with pytest.raises(ValueError, match="only trainable part is fc"):
        train_resnet18_head(
            build_resnet18("none", freeze_backbone=False),
            imgs,
            y,
            imgs,
            y,
            epochs=1,
            lr=1e-3,
            batch_size=2,
            seed=0,
            device="cpu",
        )


# --------------------------------------------------------------------------- persistence


def test_state_dict_round_trip(tmp_path):
    imgs, _ = band_images(6, 32, seed=6)
    seed_everything(0)
    model = small_cnn(32)
    path = tmp_path / "models" / "cnn.pt"
    save_state_dict(model, path)
    assert path.exists() and not (tmp_path / "models" / "cnn.pt.tmp").exists()
    seed_everything(1)
    other = load_state_dict(small_cnn(32), path)
    np.testing.assert_array_equal(predict_logits(other, imgs), predict_logits(model, imgs))
    assert isinstance(torch.load(path, weights_only=True), dict)


def test_random_forest_is_deterministic_and_round_trips(tmp_path):
    X, y = separable_features(200, seed=7)
    a = train_random_forest(X, y, seed=11, n_estimators=25)
    b = train_random_forest(X, y, seed=11, n_estimators=25, n_jobs=2)
    c = train_random_forest(X, y, seed=12, n_estimators=25)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    assert list(a.classes_) == [0, 1]  # predict_proba[:, 1] is P(AI)

    path = tmp_path / "rf.skops"
    save_sklearn(a, path)
    loaded = load_sklearn(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))
    with pytest.raises(UntrustedModelError, match=r"sklearn\.tree\._tree\.Tree"):
        load_sklearn(path, trusted=[])


# --------------------------------------------------------------------------- images


def test_load_images_resizes_only_when_needed_and_drops_alpha(tmp_path):
    rng = np.random.default_rng(8)
    same = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(same).save(tmp_path / "same.png")
    rgba = np.dstack([same, np.full((24, 24), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "big.png")

    out = load_images([tmp_path / "same.png", tmp_path / "rgba.png", tmp_path / "big.png"], 24)
    assert out.shape == (3, 24, 24, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], same)  # untouched: no resize round trip
    np.testing.assert_array_equal(out[1], same)
    assert load_image(tmp_path / "big.png").shape == (40, 30, 3)
    assert load_image(tmp_path / "big.png", (20, 15)).shape == (20, 15, 3)


def test_image_cache_matches_load_images(tmp_path):
    rng = np.random.default_rng(9)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(paths[-1])
    shape = write_image_cache(paths, tmp_path / "cache" / "split.npy")
    assert shape == (5, 16, 16, 3)
    cache = open_image_cache(tmp_path / "cache" / "split.npy")
    np.testing.assert_array_equal(cache, load_images(paths, 16))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["split.npy"]
    write_image_cache(paths, tmp_path / "small.npy", size=8)
    assert open_image_cache(tmp_path / "small.npy").shape == (5, 8, 8, 3)
    assert write_image_cache([], tmp_path / "empty.npy", size=8) == (0, 8, 8, 3)
    np.save(tmp_path / "floats.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="not an image cache"):
        open_image_cache(tmp_path / "floats.npy")


def test_bad_labels_and_empty_splits_are_refused():
    X, y = separable_features(20, seed=10)
    kw = dict(epochs=1, lr=1e-3, batch_size=4, seed=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(HistogramMLP(20), (X, y * 2), (X, y), **kw)
    with pytest.raises(ValueError, match="empty split"):
        train_classifier(HistogramMLP(20), (X, y), (X[:0], y[:0]), **kw)
    with pytest.raises(ValueError, match="rows"):
        train_classifier(HistogramMLP(20), (X, y[:5]), (X, y), **kw)


def test_the_workflow_fit_trains_the_cnn_at_its_configured_precision(tmp_path):
    """``models.cnn.precision`` reaches the training: bf16 weights differ from fp32's."""
    from synthdetect.models.run import SplitData, fit

    imgs, y = band_images(24, 32, seed=3)
    data = SplitData({"train": imgs[:16], "val": imgs[16:]}, {"train": y[:16], "val": y[16:]}, {})
    base = dict(channels=[4, 8, 8], hidden=16, dropout=0.5, epochs=2, lr=1e-3, batch_size=4)
    weights = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        out.mkdir()
        hp = base | {"precision": precision}
        fit("cnn", data, out / "m.pt", out / "h.parquet", out / "c.png", seed=0, hp=hp,
            device="cpu", threads=2)  # fmt: skip
        weights[precision] = torch.load(out / "m.pt", weights_only=True)
    assert any(not torch.equal(v, weights["bf16"][k]) for k, v in weights["fp32"].items())
