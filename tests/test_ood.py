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
