"""Histogram analysis (the paper, section 4.1; Fig. 1 and 2).

Class-average histograms are averages of per-track relative frequencies (a track's bins
sum to 1 per histogram). Both kinds have a few huge bins from the blue background; the
"focused" histograms drop each histogram's peak bin (the bin with the largest average
over both classes) and renormalise the rest, which is where the classes can differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ("human", "ai")


def relative(counts: np.ndarray, groups: int) -> np.ndarray:
    """Per-track relative frequencies, each of the ``groups`` histograms summing to 1."""
    n, width = counts.shape
    c = counts.reshape(n, groups, width // groups).astype(np.float64)
    return (c / np.maximum(c.sum(axis=2, keepdims=True), 1)).reshape(n, width)


def class_averages(
    raw: pd.DataFrame, labels: pd.Series, kind: str, groups: int
) -> dict[str, np.ndarray]:
    """Average relative histogram of each class, shape (groups, bins)."""
    freq = relative(np.stack(raw[kind].to_numpy()), groups)
    out = {}
    for cls in CLASSES:
        rows = freq[(labels == cls).to_numpy()]
        out[cls] = (
            rows.mean(axis=0).reshape(groups, -1)
            if len(rows)
            else np.full((groups, freq.shape[1] // groups), np.nan)
        )
    return out


def focus(averages: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Drop the background peak bin of each histogram and renormalise what is left.

    Returns the focused averages (peak bins NaN) and the index of each dropped bin.
    """
    pooled = np.nanmean(np.stack([averages[c] for c in CLASSES]), axis=0)
    peaks = pooled.argmax(axis=1)
    focused = {}
    for cls in CLASSES:
        h = averages[cls].copy()
        h[np.arange(len(h)), peaks] = np.nan
        focused[cls] = h / np.nansum(h, axis=1, keepdims=True)
    return focused, peaks


def largest_difference(focused: dict[str, np.ndarray], names: list[str]) -> dict:
    """The bin where the classes' focused frequencies differ most, in percentage points."""
    diff = (focused["ai"] - focused["human"]).ravel()
    i = int(np.nanargmax(np.abs(diff)))
    return {
        "bin": names[i],
        "ai_minus_human_pct": float(100 * diff[i]),
        "max_abs_difference_pct": float(100 * abs(diff[i])),
    }


def plot_color(averages: dict, focused: dict, channels: list[str], path: str) -> None:
    """Fig. 1: class-average color histograms, full and focused, one row per channel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = averages["human"].shape[1]
    fig, axes = plt.subplots(len(channels), 2, figsize=(9, 2.6 * len(channels)), squeeze=False)
    x = np.arange(bins)
    for r, ch in enumerate(channels):
        for c, (title, data) in enumerate((("all bins", averages), ("focused", focused))):
            ax = axes[r, c]
            for k, cls in enumerate(CLASSES):
                ax.bar(x + (k - 0.5) * 0.4, 100 * data[cls][r], width=0.4, label=cls)
            ax.set_title(f"{ch} channel, {title}")
            ax.set_xlabel("bin")
            ax.set_ylabel("% of pixels")
            ax.set_xticks(x)
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_derivative(averages: dict, focused: dict, path: str) -> None:
    """Fig. 2: class-average joint derivative histograms (focused) and their difference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = int(round(np.sqrt(averages["human"].size)))
    panels = [(f"{cls}, focused (%)", 100 * focused[cls].reshape(n, n)) for cls in CLASSES]
    panels.append(("ai - human (points)", 100 * (focused["ai"] - focused["human"]).reshape(n, n)))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, (title, data) in zip(axes, panels, strict=True):
        im = ax.imshow(data, origin="lower", cmap="coolwarm" if "-" in title else "viridis")
        ax.set_title(title)
        ax.set_xlabel("d/dy bin")
        ax.set_ylabel("d/dx bin")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
