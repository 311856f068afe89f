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
from typing import Any

import numpy as np
import pandas as pd

from synthdetect.audio.io import fix_length, read_window
from synthdetect.data.derived import GENERATORS
from synthdetect.seeds import track_rng

__all__ = [
    "AUTOENCODER_TRAINING",
    "generator_settings",
    "train_source_autoencoder",
    "training_windows",
]

#: The autoencoder's training settings (the rest of its block is the architecture) and
#: their defaults: steps bound the training, ``max_seconds`` is only a safety cap.
AUTOENCODER_TRAINING: dict[str, Any] = {
    "max_steps": 300,
    "max_seconds": 150.0,
    "batch_size": 8,
    "segment_samples": 8192,
    "lr": 1e-3,
}


def generator_settings(name: str, spec: Mapping) -> dict[str, Any]:
    """The checked settings of derived source ``name``'s generator, defaults filled in:
    griffinmel's, or the autoencoder's architecture plus its training settings. A bad
    setting is a ``ValueError`` naming ``sources.<name>.<generator>`` and the fix."""
    generator = spec.get("generator")
    if generator not in GENERATORS:
        raise ValueError(
            f"config sources.{name}.generator: {generator!r} is not a generator; "
            f"use one of {', '.join(GENERATORS)}"
        )
    settings = dict(spec.get(generator) or {})
    key = f"sources.{name}.{generator}"
    try:
        if generator == "griffinmel":
            from synthdetect.corpora.griffinmel import check_settings

            return check_settings(settings)
        training = {k: settings.pop(k, v) for k, v in AUTOENCODER_TRAINING.items()}
        for k, v in training.items():
            whole = k not in ("max_seconds", "lr")
            number = isinstance(v, int | float) and not isinstance(v, bool)
            if not number or v <= 0 or (whole and v != int(v)):
                kind = "integer" if whole else "number"
                raise ValueError(f"{k} must be a positive {kind}, got {v!r}")
            training[k] = int(v) if whole else float(v)
        from synthdetect.corpora.autoencoder_spec import check_settings as check_autoencoder

        return {**check_autoencoder(settings).to_dict(), **training}
    except ValueError as err:
        raise ValueError(f"config {key}: {err}; fix the setting or remove it") from None


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
    training settings, :func:`generator_settings`) on ``parent``'s
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
