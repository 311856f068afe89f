"""Unusual but decodable copies of the test clips, the kinds ``predict`` warns about.

Kept apart from :mod:`synthdetect.serving.abstain` (which scores them) so that making
them reruns on nothing but this module: it needs decoding and writing, not a model.

* ``8khz``: the clip resampled to 8 kHz (a phone line: nothing above 4 kHz);
* ``6ch``: six channels, the clip in each with a delay of ``k`` x 7 ms (a surround
  upmix; ``predict`` downmixes it to one comb-filtered channel);
* ``short_3s``: the clip's first 3 s, which ``predict`` zero-pads into a whole window.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synthdetect.audio.io import read_clip, resample

__all__ = ["UNUSUAL", "test_clips", "write_unusual_inputs"]

#: The unusual copies: name -> what it is (the report's wording).
UNUSUAL = {
    "8khz": "resampled to 8 kHz",
    "6ch": "6 channels, delayed copies (downmixed by predict)",
    "short_3s": "first 3 s only (zero-padded by predict)",
}
SHORT_S = 3.0
LOW_RATE = 8000
CHANNELS, DELAY_S = 6, 0.007


def test_clips(
    manifest_path: str | os.PathLike,
    clips_root: str | os.PathLike,
    buckets: int,
    sources: Sequence[str] | None = None,
) -> list[Path]:
    """The clip stage's WAV of every test track of ``sources`` (None: all; a bundle's
    are Table 1's, which has no derived source), in the manifest's order."""
    from synthdetect.pipeline.buckets import track_file
    from synthdetect.pipeline.stages import CLIP_SUFFIX

    manifest = pd.read_parquet(manifest_path, columns=["source", "track", "split"])
    test = manifest[manifest.split == "test"]
    if sources is not None:
        test = test[test.source.isin(sources)]
    return [
        track_file(clips_root, r.source, r.track, buckets, CLIP_SUFFIX)
        for r in test.itertuples(index=False)
    ]


def write_unusual_inputs(clips: Sequence[str | os.PathLike], out: str | os.PathLike) -> int:
    """The unusual copies of ``clips`` (16-bit WAV) in ``out/<kind>/<n>.wav``."""
    import soundfile as sf

    out = Path(out)
    for kind in UNUSUAL:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(clips):
        y, sr = read_clip(clip)
        name = f"{i:04d}.wav"
        sf.write(out / "8khz" / name, resample(y, sr, LOW_RATE), LOW_RATE, subtype="PCM_16")
        lag = int(round(DELAY_S * sr))
        multi = np.stack([np.roll(y, k * lag) for k in range(CHANNELS)], axis=1)
        sf.write(out / "6ch" / name, multi, sr, subtype="PCM_16")
        sf.write(out / "short_3s" / name, y[: int(SHORT_S * sr)], sr, subtype="PCM_16")
    return len(clips)
