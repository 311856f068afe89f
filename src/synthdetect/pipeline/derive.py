"""The clip stage of a derived source: its parent's windows, re-generated.

A derived source's tracks (:mod:`synthdetect.data.derived`) sit in buckets of their own,
and the workflow's ``derive`` rule runs :func:`derive_bucket` on them instead of the
clip stage: the clip is made from the parent's file and window, passed through the
generator (Griffin-Lim, or the autoencoder the ``train_autoencoder`` rule trained),
brought to the parent's level and through the parent's codec, so that neither gives the
label away. A module of its own, so that editing a generator reruns the derived clips
and not the human ones (code fingerprints follow a rule's imports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path

import numpy as np

from synthdetect.audio.codec import estimate_bitrate_kbps, mp3_kbps_for_rate, mp3_roundtrip
from synthdetect.audio.io import fix_length, read_window, write_clip
from synthdetect.pipeline.stages import CLIP_SUFFIX, PathLike, run_tracks
from synthdetect.seeds import track_rng

__all__ = ["PEAK_CEILING", "at_level_of", "derive_bucket", "derive_track", "generator_for"]

#: A derived clip's peaks stay below full scale after level matching (as the demo corpus's)
PEAK_CEILING = 0.98

#: ``(track, y, sample_rate) -> y``: a derived source's generator, per track
Generator = Callable[[str, np.ndarray, int], np.ndarray]


def derive_track(
    audio: PathLike,
    clip: PathLike,
    *,
    offset_s: float,
    seconds: float,
    sample_rate: int,
    generator: Callable[[np.ndarray, int], np.ndarray],
) -> None:
    """A derived track's clip: the parent's window, read as the parent's clip is,
    passed through ``generator``, brought to the parent window's RMS level (peaks kept
    under :data:`PEAK_CEILING`) and, when the parent file is an MP3, through an MP3 round
    trip at the parent's bitrate (:mod:`synthdetect.audio.codec`). Written as the same
    16-bit WAV at ``sample_rate``.
    """
    n = int(round(seconds * sample_rate))
    y = fix_length(read_window(audio, offset_s, seconds, samplerate=sample_rate), n)
    g = at_level_of(y, generator(y, sample_rate))
    kbps = estimate_bitrate_kbps(audio)
    if kbps is not None:
        g = mp3_roundtrip(g, sample_rate, mp3_kbps_for_rate(kbps, sample_rate))
    write_clip(clip, fix_length(g, n), sample_rate)


def at_level_of(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``g`` (a re-generation of ``y``) at ``y``'s length and RMS level, its peaks kept
    under :data:`PEAK_CEILING`: so that loudness does not tell the two apart."""
    g = fix_length(np.asarray(g, dtype=np.float32), len(y))
    target = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    level = float(np.sqrt(np.mean(np.square(g, dtype=np.float64))))
    gain = target / level if level > 0 else 0.0
    peak = float(np.max(np.abs(g), initial=0.0)) * gain
    if peak > PEAK_CEILING:
        gain *= PEAK_CEILING / peak
    return g * np.float32(gain)


def generator_for(
    spec: Mapping, *, seed: int, source: str, model: PathLike | None = None
) -> Generator:
    """A derived source's generator (``spec``: ``generator`` and its checked
    ``settings``). Griffin-Lim's random phase is seeded by (seed, source, track); the
    autoencoder is the trained ``model`` file, loaded once and run on one thread, so the
    same config gives byte-identical clips."""
    settings = dict(spec["settings"])
    if spec["generator"] == "griffinmel":
        from synthdetect.corpora.griffinmel import griffinmel

        def regenerate(track, y, sr):
            rng = track_rng(seed, "griffinmel", source, track)
            return griffinmel(y, sr, seed=int(rng.integers(2**31)), **settings)

        return regenerate
    if spec["generator"] == "autoencoder":
        from synthdetect.corpora.autoencoder import load_autoencoder, reconstruct

        if model is None:
            raise ValueError(f"derived source {source!r}: no trained autoencoder file given")
        net = load_autoencoder(model)
        return lambda track, y, sr: reconstruct(net, y, threads=1)
    raise ValueError(f"derived source {source!r}: unknown generator {spec['generator']!r}")


def derive_bucket(
    tracks: Iterable[tuple[str, str, str, float]],
    out_dir: PathLike,
    *,
    generators: Mapping[str, Generator],
    seconds: float,
    sample_rate: int,
    log: PathLike | None = None,
) -> int:
    """:func:`derive_track` for each ``(source, track, parent audio path, offset_s)`` of
    a derived bucket, into ``out_dir/<source>/<track>.wav``, with ``generators[source]``.
    Returns the number of tracks."""
    out = Path(out_dir)

    def one(source, track, audio, offset_s):
        derive_track(
            audio,
            out / source / f"{track}{CLIP_SUFFIX}",
            offset_s=offset_s,
            seconds=seconds,
            sample_rate=sample_rate,
            generator=partial(generators[source], track),
        )

    return run_tracks(tracks, "derive", one, out, log)
