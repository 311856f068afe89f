import numpy as np
import pandas as pd

from synthdetect.evaluation import analysis
from synthdetect.features.histogram_io import (
    feature_table,
    read_track_histograms,
    write_track_histograms,
)
from synthdetect.features.histograms import (
    color_histograms,
    derivative_histogram,
    feature_names,
    normalise,
    track_histograms,
)

COLOUR = {"channels": ["R", "B"], "bins": 10}
DERIV = {"sigma": 1.0, "bins": 10, "limit": 0.1}


def test_color_histograms_count_r_and_b_pixels():
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 255  # all red in the top bin
    img[:2, :, 2] = 30  # half of blue in bin 1
    h = color_histograms(img, channels=("R", "B"), bins=10)
    assert h.shape == (20,) and h[:10].sum() == h[10:].sum() == 20
    assert h[9] == 20 and h[10] == 10 and h[11] == 10


def test_derivative_histogram_of_flat_image_is_one_central_bin():
    img = np.full((16, 16, 3), 128, np.uint8)
    h = derivative_histogram(img, sigma=1.0, bins=10, limit=0.1)
    assert h.sum() == 256 and h.reshape(10, 10)[5, 5] == 256


def test_derivative_histogram_sees_direction_of_edges():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = 255  # intensity rises along x
    h = derivative_histogram(img, sigma=1.0, bins=10, limit=0.1).reshape(10, 10)
    assert h[9, 5] > 0 and h[0, 5] == 0  # positive d/dx, zero d/dy; none negative
    assert h.sum() == 32 * 32


def test_normalise_peak_to_mean_then_minmax():
    h = np.array([1.0, 2.0, 10.0, 3.0])
    # peak 10 -> mean 4; then (x - 1) / (4 - 1)
    np.testing.assert_allclose(normalise(h), [0, 1 / 3, 1, 2 / 3])
    rows = normalise(np.array([[1.0, 2.0, 10.0, 3.0], [5.0, 5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(rows[1], 0)


def test_track_file_roundtrip_and_feature_table(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    hists = track_histograms(img, color=COLOUR, deriv=DERIV)
    write_track_histograms(tmp_path / "t.parquet", "src", "t1", hists)
    raw = read_track_histograms([tmp_path / "t.parquet"])
    color = feature_table(raw, "color", feature_names("color", color=COLOUR, deriv=DERIV), 2)
    assert list(color.columns[:4]) == ["source", "track", "R_0", "R_1"]
    assert color.shape == (1, 22)
    # each channel normalised on its own: both reach 0 and 1
    values = color.iloc[0, 2:].to_numpy(float)
    assert values[:10].max() == values[10:].max() == 1.0
    deriv = feature_table(raw, "deriv", feature_names("deriv", color=COLOUR, deriv=DERIV))
    assert deriv.shape == (1, 102)


def test_focused_histograms_drop_the_background_peak():
    raw = pd.DataFrame(
        {"color": [np.array([90, 5, 5, 0, 80, 10, 10, 0]), np.array([90, 2, 8, 0, 80, 5, 15, 0])]}
    )
    labels = pd.Series(["human", "ai"])
    averages = analysis.class_averages(raw, labels, "color", groups=2)
    focused, peaks = analysis.focus(averages)
    assert list(peaks) == [0, 0]
    np.testing.assert_allclose(focused["human"][0], [np.nan, 0.5, 0.5, 0], equal_nan=True)
    diff = analysis.largest_difference(focused, [f"b{i}" for i in range(8)])
    assert diff["bin"] in {"b1", "b2"} and abs(diff["max_abs_difference_pct"] - 30) < 1e-9
