"""A faithful notebook-style implementation of the paper's per-track preprocessing.

What a notebook reproducing the paper (section 3.3 and 4.1) would do per track, with
the usual library calls and none of the pipeline's engineering:

1. ``librosa.load`` the whole file (mono, resampled to 22.05 kHz) and slice the 30 s
   window out of it;
2. ``librosa.amplitude_to_db(np.abs(librosa.stft(y)))`` drawn with
   ``librosa.display.specshow`` and a colorbar, saved by matplotlib at the paper's image
   size (224 x 224 pixels);
3. the PNG read back with ``plt.imread`` and the histograms computed as the paper
   describes: R and B channel histograms with 10 bins, and the joint histogram of the
   Gaussian partial derivatives in x and y (10 x 10 bins).

Used by ``bench/preprocess.py`` as the "reference" path. It is deliberately plain, but
not deliberately slow: the histograms use NumPy rather than Python loops over pixels,
which makes the reference faster and the reported speedup conservative.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
SECONDS = 30.0
#: The paper's image size, as a matplotlib figure: 2.24 in x 2.24 in at 100 dpi.
FIGSIZE_IN = (2.24, 2.24)
DPI = 100


def reference_track(
    audio: str | os.PathLike,
    png: str | os.PathLike,
    *,
    offset_s: float,
    seconds: float = SECONDS,
    sample_rate: int = SAMPLE_RATE,
) -> dict[str, np.ndarray]:
    """One track, notebook style: whole-file load, specshow PNG, histograms of the PNG."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    # 1. the whole track, then the window
    y, sr = librosa.load(audio, sr=sample_rate)
    start = int(offset_s * sr)
    y = y[start : start + int(seconds * sr)]

    # 2. the spectrogram image, as specshow draws it
    D = librosa.amplitude_to_db(np.abs(librosa.stft(y)), ref=1.0)
    fig = plt.figure(figsize=FIGSIZE_IN, dpi=DPI)
    librosa.display.specshow(D, sr=sr, x_axis="time", y_axis="hz")
    plt.colorbar(format="%+2.0f dB")
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(png, dpi=DPI)
    plt.close(fig)

    # 3. the image back, and its histograms
    image = plt.imread(png)[..., :3]  # RGBA floats in [0, 1]
    color = []
    for channel in (0, 2):  # R and B
        counts, _ = np.histogram(image[..., channel], bins=10, range=(0.0, 1.0))
        color.append(counts)
    grey = image @ np.array([0.299, 0.587, 0.114])
    dx = ndimage.gaussian_filter(grey, sigma=1.0, order=(0, 1))
    dy = ndimage.gaussian_filter(grey, sigma=1.0, order=(1, 0))
    deriv, _, _ = np.histogram2d(dx.ravel(), dy.ravel(), bins=10, range=[[-0.1, 0.1], [-0.1, 0.1]])
    return {"color": np.concatenate(color), "deriv": deriv.ravel()}
