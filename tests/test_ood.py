"""Out-of-distribution scores: inside at the configured rate, shifted inputs outside."""

import json

import numpy as np
import pytest

from synthdetect.evaluation.ood import OODModel, abstain, fit_cutoff


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small matrices: threads only contend on a shared machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def gaussian(rng, n, dim=30, shift=0.0):
    """Correlated Gaussian vectors on their own scales (one fixed mixing matrix)."""
    mix = np.random.default_rng(99).normal(size=(dim, dim)) / np.sqrt(dim)
    scales = np.geomspace(0.01, 100.0, dim)
    return (rng.normal(size=(n, dim)) @ mix + shift) * scales + 5.0


@pytest.mark.parametrize("quantile, tolerance", [(0.9, 0.03), (0.99, 0.006)])
def test_fresh_inputs_fall_inside_at_the_configured_rate(quantile, tolerance):
    rng = np.random.default_rng(0)
    model = OODModel.fit(gaussian(rng, 300))
    cutoff = fit_cutoff(model, gaussian(rng, 3000), quantile=quantile)
    inside = ~model.is_outside(gaussian(rng, 6000), cutoff)
    assert abs(inside.mean() - quantile) < tolerance
    assert model.is_outside(gaussian(rng, 500, shift=1.5), cutoff).mean() > 0.99


def test_training_scores_are_optimistic():
    rng = np.random.default_rng(1)
    train = gaussian(rng, 100)
    model = OODModel.fit(train)
    assert np.median(model.score(train)) < np.median(model.score(gaussian(rng, 1000)))


def test_more_dimensions_than_vectors():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(100, 512))
    train[:, 7] = 3.0  # a constant feature
    model = OODModel.fit(train)
    assert 0 < model.shrinkage <= 1
    cutoff = fit_cutoff(
        model, rng.normal(size=(200, 512)) * (np.arange(512) != 7) + 3.0 * (np.arange(512) == 7)
    )
    fresh = rng.normal(size=(200, 512))
    fresh[:, 7] = 3.0
    assert model.is_outside(fresh, cutoff).mean() < 0.1
    assert model.is_outside(fresh + 1.0, cutoff).all()


def test_round_trips_give_identical_scores(tmp_path):
    rng = np.random.default_rng(3)
    model = OODModel.fit(gaussian(rng, 150, dim=40))
    probe = np.concatenate([gaussian(rng, 50, dim=40), gaussian(rng, 50, dim=40, shift=2)])
    via_json = OODModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(via_json.score(probe), model.score(probe))
    np.savez(tmp_path / "ood.npz", **model.to_dict())
    with np.load(tmp_path / "ood.npz", allow_pickle=False) as npz:
        via_npz = OODModel.from_dict(npz)
    np.testing.assert_array_equal(via_npz.score(probe), model.score(probe))
    assert via_npz.n_train == 150 and via_npz.dim == 40


def test_bad_inputs_are_named():
    rng = np.random.default_rng(4)
    model = OODModel.fit(gaussian(rng, 50, dim=5))
    with pytest.raises(ValueError, match="3 dimensions; the model was fitted on 5"):
        model.score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        OODModel.fit(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="quantile"):
        fit_cutoff(model, gaussian(rng, 5, dim=5), quantile=1.0)
    data = model.to_dict()
    with pytest.raises(ValueError, match="'precision'"):
        OODModel.from_dict({**data, "precision": data["precision"][:-1]})
    with pytest.raises(ValueError, match="kind"):
        OODModel.from_dict({**data, "kind": "knn"})


def test_band_around_the_threshold():
    assert abstain(0.55, 0.5, 0.1) and abstain(0.45, 0.5, 0.1)
    assert not abstain(0.65, 0.5, 0.1) and not abstain(0.3, 0.5, 0.1)
    assert not abstain(0.5, 0.5, 0.0)  # band 0 never abstains
    out = abstain(np.array([0.0, 0.69, 0.71, 0.75, 0.79, 0.81, 1.0]), 0.75, 0.05)
    np.testing.assert_array_equal(out, [False, False, True, True, True, False, False])
    assert isinstance(abstain(0.5, 0.5, 0.1), bool)
    for args in ((0.5, 0.5, -0.1), (1.5, 0.5, 0.1), (0.5, 2.0, 0.1), (np.nan, 0.5, 0.1)):
        with pytest.raises(ValueError):
            abstain(*args)


def test_decide_labels_uncertain_with_the_reason():
    from synthdetect.evaluation.ood import decide

    assert decide(0.9, 3.0, 0.5, 5.0, 0.05) == ("ai", "")
    assert decide(0.1, None, 0.5, None, 0.05) == ("human", "")
    label, reason = decide(0.9, 7.0, 0.5, 5.0, 0.05)
    assert label == "uncertain" and reason.startswith("outside: distance 7.0") and "5.0" in reason
    label, reason = decide(0.52, 3.0, 0.5, 5.0, 0.05)
    assert label == "uncertain" and reason.startswith("undecided: P(AI) 0.520 within 0.05")
    label, reason = decide(0.52, 9.0, 0.5, 5.0, 0.05)
    assert reason.startswith("outside") and "; undecided" in reason
    assert decide(0.52, 3.0, 0.5, 5.0, 0.0) == ("ai", "")  # band 0: never undecided


def test_npz_round_trip_needs_no_pickle(tmp_path):
    from synthdetect.evaluation.ood import load_ood, save_ood

    rng = np.random.default_rng(1)
    model = OODModel.fit(gaussian(rng, 50, dim=8))
    save_ood(model, tmp_path / "ood.npz")
    back = load_ood(tmp_path / "ood.npz")
    x = gaussian(rng, 5, dim=8)
    np.testing.assert_array_equal(back.score(x), model.score(x))


def test_workflow_step_fits_on_train_and_cuts_on_validation_only(tmp_path):
    """model_ood on a real manifest, feature table and forest: the test split's vectors
    are measured but never move the distance or the cut-off; validation's do."""
    import pandas as pd

    from synthdetect.evaluation.ood import fit_model_ood, model_ood
    from synthdetect.models.forest import save_sklearn, train_random_forest

    splits = ["train"] * 40 + ["val"] * 20 + ["test"] * 20
    manifest = pd.DataFrame(
        {
            "source": "s",
            "track": [f"t{i:03d}" for i in range(80)],
            "split": splits,
            "y": np.arange(80) % 2,
        }
    )
    names = [f"f{i}" for i in range(6)]

    def features(test_shift: float, val_shift: float = 0.0) -> str:
        X = gaussian(np.random.default_rng(3), 80, dim=6)
        X[60:] += test_shift
        X[40:60] += val_shift
        path = tmp_path / f"features_{test_shift}_{val_shift}.parquet"
        pd.DataFrame(X, columns=names).assign(source="s", track=manifest.track).to_parquet(path)
        return str(path)

    manifest.to_parquet(tmp_path / "manifest.parquet")
    X0 = pd.read_parquet(features(0.0))[names].to_numpy()
    save_sklearn(
        train_random_forest(X0[:40], manifest.y[:40].to_numpy(), seed=0, n_estimators=5),
        tmp_path / "rf.skops",
    )

    def fit(path):
        return model_ood(
            "rf_deriv",
            tmp_path / "rf.skops",
            tmp_path / "manifest.parquet",
            {"features": path},
            hp={},
            quantile=0.9,
        )

    _, base, dist = fit(features(0.0))
    _, moved_test, dist_test = fit(features(1e3))
    assert moved_test == base  # test vectors 1000 scales away: the same cut-off and model
    outside = dist_test[dist_test.split == "test"].distance > base["cutoff"]
    assert outside.all() and set(dist.split) == {"train", "val", "test"}
    _, moved_val, _ = fit(features(0.0, val_shift=3.0))
    assert moved_val["cutoff"] > base["cutoff"]
    X32 = X0.astype(np.float32)  # the feature tables' precision
    assert base == fit_model_ood(X32[:40], X32[40:60], quantile=0.9)[1]
