"""The per-track stages of the workflow: clip -> spectrogram PNG -> histograms.

``workflow/rules/tracks.smk`` runs each of these as the whole body of a ``run:`` job,
and ``bench/preprocess.py`` times exactly these functions, so the benchmark measures
what the workflow does. Each reads its input file and writes its output file
atomically; parameters are the config sections the rules pass as ``params``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from synthdetect.audio import make_clip, read_clip
from synthdetect.features import track_histograms
from synthdetect.histogram_io import write_track_histograms
from synthdetect.spectrogram import load_png, save_palette_png, spectrogram_index

__all__ = ["clip_track", "histogram_track", "spectrogram_track"]

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
