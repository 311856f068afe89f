"""Histogram features of a spectrogram image (the paper, section 4.1-4.2).

* Color: histograms of the R and B channels, 10 bins each: energy is drawn red on a
  blue background, so those two channels carry the picture.
* Derivatives: the joint histogram of the Gaussian partial derivatives of the image in
  x and y, i.e. how often each (d/dx, d/dy) gradient pair occurs.

Per track we keep raw counts; :func:`normalise` turns a histogram into the model
feature the paper describes: its peak bin (the background) set to the mean of the
values, then min-max scaled to [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

#: ITU-R BT.601 luma weights: the derivative histograms are taken on intensity.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

CHANNELS = {"R": 0, "G": 1, "B": 2}


def color_histograms(image: np.ndarray, *, channels=("R", "B"), bins: int = 10) -> np.ndarray:
    """Counts of each channel's 8-bit values in ``bins`` equal bins, channels concatenated.

    ``np.histogram`` with ``np.linspace(0, 256, bins + 1)`` edges; for uint8 images each
    channel's 256 value counts (``np.bincount``) are summed into the bins through a
    lookup table built with ``np.histogram`` itself: the same counts, much faster.
    """
    edges = np.linspace(0, 256, bins + 1)
    if image.dtype != np.uint8:
        return np.concatenate(
            [np.histogram(image[..., CHANNELS[c]], bins=edges)[0] for c in channels]
        ).astype(np.int64)
    lut = _value_bins(bins)
    out = []
    for c in channels:
        values = np.bincount(image[..., CHANNELS[c]].ravel(), minlength=256)
        out.append(np.bincount(lut, weights=values, minlength=bins))
    return np.rint(np.concatenate(out)).astype(np.int64)


@lru_cache(maxsize=16)
def _value_bins(bins: int) -> np.ndarray:
    """The bin ``np.histogram`` puts each 8-bit value 0..255 in (edges ``linspace(0, 256)``)."""
    edges = np.linspace(0, 256, bins + 1)
    values = np.arange(256)
    lut = np.array([np.histogram(values[v : v + 1], bins=edges)[0].argmax() for v in values])
    lut.flags.writeable = False
    return lut


def gaussian_derivatives(image: np.ndarray, *, sigma: float = 1.0) -> tuple[np.ndarray, ...]:
    """d/dx and d/dy of the image's intensity (scaled to [0, 1]) at scale ``sigma``."""
    grey = (image.astype(np.float32) @ LUMA) / 255.0
    dx = ndimage.gaussian_filter(grey, sigma, order=(0, 1), mode="nearest")
    dy = ndimage.gaussian_filter(grey, sigma, order=(1, 0), mode="nearest")
    return dx, dy


def derivative_histogram(
    image: np.ndarray, *, sigma: float = 1.0, bins: int = 10, limit: float = 0.1
) -> np.ndarray:
    """Joint (dx, dy) histogram over ``[-limit, limit]``², flattened row-major (dx rows).

    Values beyond the limit fall into the outermost bins so every pixel counts once.
    """
    dx, dy = gaussian_derivatives(image, sigma=sigma)
    # np.histogram2d(clip(dx), clip(dy), bins, range) without its general machinery: the
    # same edges and the same searchsorted(side="right") binning, then one bincount.
    # Clipping into [-limit, nextafter(limit, 0)] equals clipping the bin numbers.
    dx, dy = dx.ravel(), dy.ravel()
    nan = np.isnan(dx) | np.isnan(dy)
    if nan.any():  # histogram2d leaves NaN pairs out (they clip to NaN, an outlier bin)
        dx, dy = dx[~nan], dy[~nan]
    edges = np.linspace(-limit, limit, bins + 1)
    ix = np.searchsorted(edges, dx, side="right")
    iy = np.searchsorted(edges, dy, side="right")
    np.clip(ix, 1, bins, out=ix)
    np.clip(iy, 1, bins, out=iy)
    ix -= 1
    iy -= 1
    ix *= bins
    ix += iy
    return np.bincount(ix, minlength=bins * bins).astype(np.int64)


def normalise(hist: np.ndarray) -> np.ndarray:
    """The paper's histogram normalisation: peak bin := mean of the bins, then min-max.

    Works on the last axis, so a (tracks, bins) matrix is normalised row by row.
    A flat histogram becomes all zeros rather than NaN.
    """
    h = np.asarray(hist, dtype=np.float64).copy()
    flat = h.reshape(-1, h.shape[-1])
    rows = np.arange(flat.shape[0])
    flat[rows, flat.argmax(axis=1)] = flat.mean(axis=1)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    flat = np.divide(flat - lo, span, out=np.zeros_like(flat), where=span > 0)
    return flat.reshape(h.shape)


def track_histograms(image: np.ndarray, *, color: dict, deriv: dict) -> dict[str, np.ndarray]:
    """Both raw histograms of one spectrogram image, from the config's feature sections."""
    return {
        "color": color_histograms(image, channels=tuple(color["channels"]), bins=color["bins"]),
        "deriv": derivative_histogram(
            image, sigma=deriv["sigma"], bins=deriv["bins"], limit=deriv["limit"]
        ),
    }


def feature_names(kind: str, *, color: dict, deriv: dict) -> list[str]:
    """Column names of a feature set: ``R_0..R_9, B_0..B_9`` or ``d_<ix>_<iy>``."""
    if kind == "color":
        return [f"{c}_{i}" for c in color["channels"] for i in range(color["bins"])]
    n = deriv["bins"]
    return [f"d_{i}_{j}" for i in range(n) for j in range(n)]
