"""Training a derived source's autoencoder on its parent's train split.

The ``train_autoencoder`` rule runs :func:`train_source_autoencoder` once per derived source
whose generator is ``autoencoder``; its clip jobs then read the weights
(:func:`synthdetect.pipeline.stages.generator_for`). The training windows are the parent's
own clip windows of the **train** split, decoded from the parent's files as its clips
are: no validation or test audio reaches the weights, so re-generated test tracks are
reconstructions of music the autoencoder never saw.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from synthdetect.audio.io import fix_length, read_window
from synthdetect.data.derived import AUTOENCODER_TRAINING
from synthdetect.seeds import track_rng

__all__ = ["train_source_autoencoder", "training_windows"]


def training_windows(
    manifest: pd.DataFrame, parent: str, *, seconds: float, sample_rate: int
) -> list[np.ndarray]:
    """The parent's train-split clip windows, mono float32 at ``sample_rate``."""
    rows = manifest[(manifest.source == parent) & (manifest.split == "train")]
    if rows.empty:
        raise ValueError(f"source {parent!r} has no train-split track to train an autoencoder on")
    n = int(round(seconds * sample_rate))
    return [
        fix_length(read_window(r.path, float(r.offset_s), seconds, samplerate=sample_rate), n)
        for r in rows.sort_values("track").itertuples(index=False)
    ]


def train_source_autoencoder(
    manifest_path: str | os.PathLike,
    source: str,
    parent: str,
    settings: Mapping,
    *,
    seed: int,
    seconds: float,
    sample_rate: int,
    out_model: str | os.PathLike,
    out_history: str | os.PathLike,
    threads: int = 1,
) -> dict:
    """Train derived ``source``'s autoencoder (``settings``: the checked architecture and
    training settings, :func:`synthdetect.data.derived.generator_settings`) on ``parent``'s
    train windows, seeded by (seed, source); save the weights and a JSON history (loss per
    step, steps, what stopped it, wall time). Returns the history."""
    from synthdetect.corpora.autoencoder import check_settings, save_autoencoder, train_autoencoder

    settings = dict(settings)
    training = {k: settings.pop(k) for k in AUTOENCODER_TRAINING}
    spec = check_settings(settings)
    clips = training_windows(
        pd.read_parquet(manifest_path), parent, seconds=seconds, sample_rate=sample_rate
    )
    own_seed = int(track_rng(seed, "autoencoder", source).integers(2**31))
    model, history = train_autoencoder(clips, spec, seed=own_seed, threads=threads, **training)
    save_autoencoder(model, spec, out_model)
    history = {
        "source": source,
        "parent": parent,
        "windows": len(clips),
        "spec": spec.to_dict(),
        **training,
        **history,
    }
    Path(out_history).write_text(json.dumps(history, indent=1) + "\n")
    return history
