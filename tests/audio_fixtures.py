"""Generated audio for tests: two audibly different classes, deterministic by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def music_like(seed: int, seconds: float, *, label: str, sr: int = SR) -> np.ndarray:
    """A few decaying notes over a noise floor; 'ai' is cleaner and more regular."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    step = 0.5 if label == "ai" else rng.uniform(0.3, 0.7)
    for start in np.arange(0, seconds, step):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        env = np.exp(-4 * np.clip(t - start, 0, None)) * (t >= start)
        harmonics = 1 if label == "ai" else 4
        for h in range(1, harmonics + 1):
            y += env * np.sin(2 * np.pi * f0 * h * t) / h
    y += (0.002 if label == "ai" else 0.03) * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def write_corpus(root: Path, n: int, *, seconds: float = 31.0, start: int = 0) -> Path:
    """``root/human/*.ogg`` and ``root/ai/*.flac`` tracks numbered from ``start``."""
    for label, ext in (("human", "ogg"), ("ai", "flac")):
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(start, start + n):
            seed = i + (1000 if label == "ai" else 0)
            sf.write(d / f"{label}{i:03d}.{ext}", music_like(seed, seconds, label=label), SR)
    return root
