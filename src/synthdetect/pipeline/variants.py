"""Variants of the experiment: the same tracks seen through a change, to know what a
score rests on.

- A **control** changes every clip before any feature is taken and retrains the models
  (``codec_match``: the AI class re-encoded as MP3 at bitrates drawn from the human
  class's, as Afchar et al. did, so that the codec no longer tells the classes apart;
  ``lowpass``: both classes band-limited). The change is applied to the decoded window at
  the file's own rate, where a codec would have been applied, then the clip is resampled.
- A **robustness** variant manipulates the test clips only (re-encoding, pitch, tempo,
  noise, low-pass, EQ tilt) and scores the models trained on the originals.
- A **cross-source** setting reuses the features and retrains on some sources, then tests
  on others.

A transform is a function ``(source, track, y, sample_rate) -> y`` (mono float32, same
length); every random choice in it is seeded per track.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from synthdetect.audio import codec
from synthdetect.audio.manipulations import parse_manipulation
from synthdetect.pipeline.stages import Transform, clip_bucket, manipulate_bucket
from synthdetect.seeds import track_seed

__all__ = [
    "Transform",
    "control_clip_bucket",
    "control_transform",
    "manipulation_bucket",
    "manipulation_transform",
]


def control_transform(
    control: Mapping,
    *,
    seed: int,
    labels: Mapping[tuple[str, str], str],
    profile: Sequence[int] | None = None,
) -> Transform:
    """The transform of a control: ``{"type": "codec_match"}`` or ``{"type": "lowpass",
    "hz": ...}``. ``labels`` maps (source, track) to its class; ``profile`` is the human
    class's MP3 bitrates (:func:`synthdetect.audio.codec.bitrate_profile`)."""
    kind = control["type"]
    if kind == "lowpass":
        hz = float(control["hz"])
        return lambda source, track, y, sr: codec.lowpass(y, sr, hz)
    if kind == "codec_match":
        if not profile:
            raise ValueError(
                "controls.codec_match: the human class has no MP3 track to take bitrates "
                "from; switch the control off or add lossy human sources"
            )

        def match(source: str, track: str, y: np.ndarray, sr: int) -> np.ndarray:
            if labels[(source, track)] != "ai":
                return y
            kbps = codec.assign_bitrate(profile, seed, source, track)
            return codec.mp3_roundtrip(y, sr, codec.mp3_kbps_for_rate(kbps, sr))

        return match
    raise ValueError(f"controls: unknown control kind {kind!r} (codec_match or lowpass)")


def manipulation_transform(name: str, spec: Mapping, *, seed: int, autoencoder=None) -> Transform:
    """The transform of the robustness manipulation ``name`` (seeded per track). A
    ``neural`` one runs the clip through the trained ``autoencoder`` file at the clip's
    level, as a derived source's clips are made (:mod:`synthdetect.pipeline.derive`)."""
    manipulation = parse_manipulation(name, spec)
    if manipulation.kind == "neural":
        from synthdetect.corpora.autoencoder import load_autoencoder, reconstruct
        from synthdetect.pipeline.derive import at_level_of

        if autoencoder is None:
            raise ValueError(f"robustness manipulation {name!r}: no trained autoencoder given")
        net = load_autoencoder(autoencoder)
        return lambda source, track, y, sr: at_level_of(y, reconstruct(net, y, threads=1))

    def apply(source: str, track: str, y: np.ndarray, sr: int) -> np.ndarray:
        return manipulation.apply(y, sr, seed=track_seed(seed, source, track, name))

    return apply


def control_clip_bucket(
    tracks: Sequence[tuple[str, str, str, float]],
    out_dir,
    *,
    control: Mapping,
    labels: Mapping[tuple[str, str], str],
    profile_path=None,
    seed: int,
    seconds: float,
    sample_rate: int,
    log=None,
) -> int:
    """The clip stage of a control for one bucket (``profile_path``: the human class's
    bitrates, ``{"kbps": [...]}``, for codec_match)."""
    profile = None
    if profile_path:
        with open(profile_path) as f:
            profile = json.load(f)["kbps"]
    transform = control_transform(control, seed=seed, labels=labels, profile=profile)
    return clip_bucket(
        tracks, out_dir, seconds=seconds, sample_rate=sample_rate, transform=transform, log=log
    )


def manipulation_bucket(
    tracks: Sequence[tuple[str, str]],
    clip_dir,
    png_dir,
    hist_dir,
    fakeprint_dir=None,
    *,
    name: str,
    spec: Mapping,
    seed: int,
    spectrogram: Mapping,
    features: Mapping,
    autoencoder=None,
    log=None,
) -> int:
    """A robustness manipulation of one bucket's test clips, to spectrograms and
    histograms, and fakeprints where ``features`` has them
    (:func:`synthdetect.pipeline.stages.manipulate_bucket`); ``autoencoder``: the trained
    weights a ``neural`` manipulation runs."""
    return manipulate_bucket(
        tracks,
        clip_dir,
        png_dir,
        hist_dir,
        fakeprint_dir,
        transform=manipulation_transform(name, spec, seed=seed, autoencoder=autoencoder),
        spectrogram=spectrogram,
        features=features,
        log=log,
    )
