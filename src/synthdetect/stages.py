"""The per-track stages of the workflow: clip -> spectrogram PNG -> histograms.

``workflow/rules/tracks.smk`` runs each stage for one bucket of tracks per job (the
``*_batch`` functions, see :mod:`synthdetect.batches`), and ``bench/preprocess.py``
times exactly the per-track functions they loop over, so the benchmark measures what
the workflow does. Each reads its input file and writes its output file atomically;
parameters are the config sections the rules pass as ``params``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from synthdetect.audio import make_clip, read_clip
from synthdetect.features import track_histograms
from synthdetect.histogram_io import write_track_histograms
from synthdetect.spectrogram import load_png, save_palette_png, spectrogram_index

__all__ = [
    "clip_batch",
    "clip_track",
    "histogram_batch",
    "histogram_track",
    "spectrogram_batch",
    "spectrogram_track",
]

#: File name endings of each stage's per-track files.
CLIP_SUFFIX = ".flac"
PNG_SUFFIX = ".png"
HISTOGRAM_SUFFIX = ".parquet"

PathLike = str | os.PathLike


def clip_track(
    audio: PathLike, clip: PathLike, *, offset_s: float, seconds: float, sample_rate: int
) -> None:
    """The clip stage: ``seconds`` of ``audio`` from ``offset_s``, mono, at ``sample_rate``,
    as 16-bit FLAC (:func:`synthdetect.audio.make_clip`)."""
    make_clip(audio, clip, offset_s=offset_s, seconds=seconds, samplerate=sample_rate)


def spectrogram_track(clip: PathLike, png: PathLike, *, spectrogram: Mapping) -> None:
    """The spectrogram stage: a clip to the PNG the models see.

    ``spectrogram`` is the config's ``spectrogram`` section. The PNG is a palette image
    that decodes to exactly :func:`synthdetect.spectrogram.spectrogram_image`'s RGB.
    """
    y, sr = read_clip(clip)
    index = spectrogram_index(y, sample_rate=sr, **spectrogram)
    save_palette_png(index, png, cmap=spectrogram.get("cmap", "coolwarm"))


def histogram_track(
    png: PathLike, out: PathLike, *, source: str, track: str, features: Mapping
) -> None:
    """The histogram stage: both raw histograms of a spectrogram PNG, one parquet row.

    ``features`` is the config's ``features`` section (``color`` and ``deriv``).
    """
    hists = track_histograms(load_png(png), colour=features["color"], deriv=features["deriv"])
    write_track_histograms(out, source, track, hists)


def _run(tracks: Iterable, stage: str, work) -> int:
    n = 0
    for item in tracks:
        try:
            work(*item)
        except Exception as exc:
            raise RuntimeError(f"{stage} stage failed on track {item[0]}/{item[1]}: {exc}") from exc
        n += 1
    return n


def clip_batch(
    tracks: Iterable[tuple[str, str, str, float]],
    out_dir: PathLike,
    *,
    seconds: float,
    sample_rate: int,
) -> int:
    """:func:`clip_track` for each ``(source, track, audio path, offset_s)`` of a bucket,
    into ``out_dir/<source>/<track>.flac``. Returns the number of tracks."""
    out = Path(out_dir)

    def one(source, track, audio, offset_s):
        clip_track(
            audio,
            out / source / f"{track}{CLIP_SUFFIX}",
            offset_s=offset_s,
            seconds=seconds,
            sample_rate=sample_rate,
        )

    return _run(tracks, "clip", one)


def spectrogram_batch(
    tracks: Iterable[tuple[str, str]],
    clip_dir: PathLike,
    out_dir: PathLike,
    *,
    spectrogram: Mapping,
) -> int:
    """:func:`spectrogram_track` for each ``(source, track)`` of a bucket."""
    clips, out = Path(clip_dir), Path(out_dir)

    def one(source, track):
        spectrogram_track(
            clips / source / f"{track}{CLIP_SUFFIX}",
            out / source / f"{track}{PNG_SUFFIX}",
            spectrogram=spectrogram,
        )

    return _run(tracks, "spectrogram", one)


def histogram_batch(
    tracks: Iterable[tuple[str, str]],
    png_dir: PathLike,
    out_dir: PathLike,
    *,
    features: Mapping,
) -> int:
    """:func:`histogram_track` for each ``(source, track)`` of a bucket."""
    pngs, out = Path(png_dir), Path(out_dir)

    def one(source, track):
        histogram_track(
            pngs / source / f"{track}{PNG_SUFFIX}",
            out / source / f"{track}{HISTOGRAM_SUFFIX}",
            source=source,
            track=track,
            features=features,
        )

    return _run(tracks, "histograms", one)
