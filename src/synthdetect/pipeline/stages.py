"""The per-track stages of the workflow: clip -> spectrogram PNG -> histograms.

``workflow/rules/tracks.smk`` runs each stage for one bucket of tracks per job (the
``*_bucket`` functions, see :mod:`synthdetect.pipeline.buckets`), and ``bench/preprocess.py``
times exactly the per-track functions they loop over, so the benchmark measures what
the workflow does. Each reads its input file and writes its output file atomically;
parameters are the config sections the rules pass as ``params``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import numpy as np

from synthdetect.audio.io import (
    AudioError,
    decoder_messages,
    describe_decoder,
    fix_length,
    make_clip,
    quantise_pcm16,
    read_clip,
    read_window,
    resample,
    source_rate,
    write_clip,
)
from synthdetect.features.fakeprint import fakeprint, fakeprint_names, write_track_fakeprint
from synthdetect.features.histogram_io import write_track_histograms
from synthdetect.features.histograms import track_histograms
from synthdetect.features.spectrogram import load_png, save_palette_png, spectrogram_index
from synthdetect.logs import log_bucket

__all__ = [
    "clip_bucket",
    "clip_track",
    "fakeprint_bucket",
    "fakeprint_track",
    "histogram_bucket",
    "histogram_track",
    "manipulate_bucket",
    "spectrogram_bucket",
    "spectrogram_track",
]

#: File name endings of each stage's per-track files.
CLIP_SUFFIX = ".wav"
PNG_SUFFIX = ".png"
HISTOGRAM_SUFFIX = ".parquet"
FAKEPRINT_SUFFIX = ".parquet"

PathLike = str | os.PathLike
#: ``(source, track, y, sample_rate) -> y`` (:mod:`synthdetect.pipeline.variants`)
Transform = Callable[[str, str, np.ndarray, int], np.ndarray]


def clip_track(
    audio: PathLike,
    clip: PathLike,
    *,
    offset_s: float,
    seconds: float,
    sample_rate: int,
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> None:
    """The clip stage: ``seconds`` of ``audio`` from ``offset_s``, mono, at ``sample_rate``,
    as 16-bit WAV (:func:`synthdetect.audio.io.make_clip`).

    ``transform`` (a control, :mod:`synthdetect.pipeline.variants`) sees the window at the file's
    own rate, before resampling, where a codec would have been applied.
    """
    if transform is None:
        make_clip(audio, clip, offset_s=offset_s, seconds=seconds, samplerate=sample_rate)
        return
    rate = source_rate(audio)
    y = transform(read_window(audio, offset_s, seconds, samplerate=None), rate)
    y = fix_length(resample(y, rate, sample_rate), int(round(seconds * sample_rate)))
    write_clip(clip, y, sample_rate)


def spectrogram_track(clip: PathLike, png: PathLike, *, spectrogram: Mapping) -> None:
    """The spectrogram stage: a clip to the PNG the models see.

    ``spectrogram`` is the config's ``spectrogram`` section. The PNG is a palette image
    that decodes to exactly :func:`synthdetect.features.spectrogram.spectrogram_image`'s RGB.
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
    hists = track_histograms(load_png(png), color=features["color"], deriv=features["deriv"])
    write_track_histograms(out, source, track, hists)


def fakeprint_track(
    y: np.ndarray, sr: int, out: PathLike, *, source: str, track: str, settings: Mapping
) -> None:
    """The fakeprint stage: the clip's spectral fakeprint, one parquet row. It reads the
    clip's samples, not the PNG: the peaks it looks for are finer than the image's bins.

    ``settings`` is the config's ``features.fakeprint`` section.
    """
    names = fakeprint_names(sr, settings["n_fft"], settings["f_min_hz"], settings["f_max_hz"])
    write_track_fakeprint(out, source, track, fakeprint(y, sr, **settings), names)


def run_tracks(tracks: Iterable, stage: str, work, out_dir: PathLike, log: PathLike | None) -> int:
    """Run ``work`` on each track of a bucket; name the track when one fails, and write
    the bucket job's log (a thread of Snakemake's process: no logging reconfiguration)."""
    tracks = list(tracks)
    with ExitStack() as stack:
        if log is not None:
            stack.enter_context(log_bucket(log, stage, Path(out_dir).name, len(tracks)))
        for item in tracks:
            try:
                work(*item)
            except Exception as exc:
                raise RuntimeError(
                    f"{stage} stage failed on track {item[0]}/{item[1]}: {exc}"
                ) from exc
    return len(tracks)


def clip_bucket(
    tracks: Iterable[tuple[str, str, str, float]],
    out_dir: PathLike,
    *,
    seconds: float,
    sample_rate: int,
    transform: Transform | None = None,
    log: PathLike | None = None,
) -> int:
    """:func:`clip_track` for each ``(source, track, audio path, offset_s)`` of a bucket,
    into ``out_dir/<source>/<track>.wav``. Returns the number of tracks.

    The manifest's probe already turned away files that cannot give a clip, so one that
    fails here changed since, or breaks outside the stretch the probe decoded: the job
    fails naming the file and the way out. What the decoder prints to stderr goes to
    the job's log, not the terminal.
    """
    out = Path(out_dir)
    notes: list[str] = []

    def one(source, track, audio, offset_s):
        try:
            with decoder_messages() as chatter:
                clip_track(
                    audio,
                    out / source / f"{track}{CLIP_SUFFIX}",
                    offset_s=offset_s,
                    seconds=seconds,
                    sample_rate=sample_rate,
                    transform=None if transform is None else partial(transform, source, track),
                )
        except AudioError as err:
            raise AudioError(
                f"{err.reason} (it passed the manifest's probe, so it changed since or "
                "breaks outside the probed window; replace or remove the file and rerun: "
                "a folder source is probed again when its files change)",
                audio,
                err.problem,
            ) from err
        note = describe_decoder(chatter)
        if note:
            notes.append(f"{source}/{track} ({audio}): {note}")

    n = run_tracks(tracks, "clip", one, out, log)
    if notes and log is not None:
        with open(log, "a") as f:
            f.writelines(f"{line}\n" for line in notes)
    return n


def manipulate_bucket(
    tracks: Iterable[tuple[str, str]],
    clip_dir: PathLike,
    png_dir: PathLike,
    hist_dir: PathLike,
    fakeprint_dir: PathLike | None = None,
    *,
    transform: Transform,
    spectrogram: Mapping,
    features: Mapping,
    log: PathLike | None = None,
) -> int:
    """The robustness suite's stage for one bucket: each ``(source, track)`` clip,
    manipulated, then its spectrogram PNG and histograms, as the clip, spectrogram and
    histogram stages would make them from a clip file of the manipulated audio (the
    16-bit rounding included) but without writing that clip: nothing reads it again,
    and at the paper's scale it would be ~30 GB. With ``fakeprint_dir`` it writes the fakeprints
    too, when ``features`` holds a ``fakeprint`` section (a model reads them)."""
    clips, pngs, hists = Path(clip_dir), Path(png_dir), Path(hist_dir)
    if fakeprint_dir is not None:
        Path(fakeprint_dir).mkdir(parents=True, exist_ok=True)

    def one(source, track):
        y, sr = read_clip(clips / source / f"{track}{CLIP_SUFFIX}")
        y = quantise_pcm16(transform(source, track, y, sr)) / np.float32(32768)
        png = pngs / source / f"{track}{PNG_SUFFIX}"
        index = spectrogram_index(y, sample_rate=sr, **spectrogram)
        save_palette_png(index, png, cmap=spectrogram.get("cmap", "coolwarm"))
        histogram_track(
            png,
            hists / source / f"{track}{HISTOGRAM_SUFFIX}",
            source=source,
            track=track,
            features=features,
        )
        if fakeprint_dir is not None and features.get("fakeprint"):
            fakeprint_track(
                y,
                sr,
                Path(fakeprint_dir) / source / f"{track}{FAKEPRINT_SUFFIX}",
                source=source,
                track=track,
                settings=features["fakeprint"],
            )

    return run_tracks(tracks, "manipulate", one, pngs, log)


def spectrogram_bucket(
    tracks: Iterable[tuple[str, str]],
    clip_dir: PathLike,
    out_dir: PathLike,
    *,
    spectrogram: Mapping,
    log: PathLike | None = None,
) -> int:
    """:func:`spectrogram_track` for each ``(source, track)`` of a bucket."""
    clips, out = Path(clip_dir), Path(out_dir)

    def one(source, track):
        spectrogram_track(
            clips / source / f"{track}{CLIP_SUFFIX}",
            out / source / f"{track}{PNG_SUFFIX}",
            spectrogram=spectrogram,
        )

    return run_tracks(tracks, "spectrogram", one, out, log)


def histogram_bucket(
    tracks: Iterable[tuple[str, str]],
    png_dir: PathLike,
    out_dir: PathLike,
    *,
    features: Mapping,
    log: PathLike | None = None,
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

    return run_tracks(tracks, "histograms", one, out, log)


def fakeprint_bucket(
    tracks: Iterable[tuple[str, str]],
    clip_dir: PathLike,
    out_dir: PathLike,
    *,
    settings: Mapping,
    log: PathLike | None = None,
) -> int:
    """:func:`fakeprint_track` for each ``(source, track)`` clip of a bucket."""
    clips, out = Path(clip_dir), Path(out_dir)

    def one(source, track):
        y, sr = read_clip(clips / source / f"{track}{CLIP_SUFFIX}")
        fakeprint_track(
            y,
            sr,
            out / source / f"{track}{FAKEPRINT_SUFFIX}",
            source=source,
            track=track,
            settings=settings,
        )

    out.mkdir(parents=True, exist_ok=True)
    return run_tracks(tracks, "fakeprints", one, out, log)
