"""Penultimate embeddings: exactly what the head of each network reads."""

import numpy as np
import pytest
import torch

from synthdetect.models.embeddings import head, logits_and_embeddings, model_vectors
from synthdetect.models.networks import HistogramMLP, PaperCNN, normalise


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def images(n: int, side: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_cnn_embedding_is_the_input_of_its_last_layer():
    torch.manual_seed(0)
    net = PaperCNN(32, channels=(4, 8, 8), hidden=8).eval()
    X = images(5)
    z, emb = logits_and_embeddings(net, X)
    assert emb.shape == (5, 8) and emb.dtype == np.float64
    with torch.no_grad():
        x = net.features(normalise(X))
        want = net.relu(net.fc1(torch.flatten(x, 1))).numpy()
        logits = net.fc2(torch.from_numpy(want)).reshape(-1).numpy()
    np.testing.assert_allclose(emb, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, logits, rtol=1e-5, atol=1e-6)
    assert (emb >= 0).all()  # after the ReLU
    assert head(net) is net.fc2 and head(net).in_features == emb.shape[1]


def test_feature_models_are_judged_on_their_rows():
    net = HistogramMLP(6, hidden=(4, 3))
    X = np.random.default_rng(1).random((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(model_vectors("mlp_deriv", net, X), X.astype(np.float64))
    assert model_vectors("cnn", PaperCNN(32, channels=(4, 8, 8), hidden=8), images(2)).shape == (
        2,
        8,
    )
    with pytest.raises(TypeError, match="no known final layer"):
        head(torch.nn.Conv2d(1, 1, 1))
