"""A composer corpus: the demo corpus's AI class with another renderer and other songs.

Cross-source evaluation trains on one AI source and tests on another. A
``kind: composer`` source is the second AI source the offline demo can offer: songs of
:mod:`synthdetect.corpora.composer` rendered through a SoundFont of the config's choice (e.g.
Debian's ``FluidR3_GM.sf2`` instead of pretty_midi's TimGM6mb.sf2), through the demo
corpus's chain and settings (48 kHz render, mono, resampled to ``sample_rate``, RMS to
-20 dBFS, constant-bitrate MP3 at ``bitrate_kbps``, one seeded ``clip_seconds`` window per
song). Only the renderer and the compositions differ from the demo's AI class.

The compositions must differ, or a model tested across sources would meet the songs it
was trained on: song seeds and window offsets are derived from ``(seed, source name)``
in a stream of their own, never from the demo corpus's ``(seed, index)`` stream. Two
composer sources with different names therefore hold different songs too.

Layout of ``out_dir`` (the workflow uses ``<resources>/composer/<source>``)::

    ai/<track>.mp3    e.g. ai/ai-00042.mp3
    index.parquet     the demo corpus's index columns plus ``soundfont`` (its file name)

The same arguments give byte-identical files and index.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from synthdetect.corpora.demo import (
    INDEX_COLUMNS,
    SONG_SECONDS,
    AIJob,
    ChainSettings,
    collect_clips,
    corpus_parser,
    mp3_compression_level,
    render_ai_clip,
)
from synthdetect.data.sourcekind import SOUNDFONT_PACKAGES, missing_soundfont_message

__all__ = [
    "SOUNDFONT_PACKAGES",
    "MissingSoundFontError",
    "build_composer_corpus",
    "composer_song_seeds",
    "main",
    "missing_soundfont_message",
]

log = logging.getLogger("synthdetect.corpora.composer_corpus")

# Stream tags: the demo corpus's AI stream uses 0xA1 (song seed) and 0xA2 (offset).
_SONG_TAG = 0xC1
_OFFSET_TAG = 0xC2


class MissingSoundFontError(FileNotFoundError):
    """The SoundFont a composer source names does not exist."""


def _source_words(source: str) -> list[int]:
    """The source name as four 32-bit words (a fixed length, so streams cannot overlap)."""
    digest = hashlib.sha256(source.encode()).digest()[:16]
    return [int(w) for w in np.frombuffer(digest, dtype="<u4")]


def _candidates(seed: int, source: str) -> Iterator[AIJob]:
    words = _source_words(source)
    index = 0
    while True:
        song_seed = int(
            np.random.SeedSequence([seed, _SONG_TAG, *words, index]).generate_state(1)[0]
        )
        offset = float(np.random.default_rng([seed, _OFFSET_TAG, *words, index]).random())
        yield AIJob(index, song_seed, offset)
        index += 1


def composer_song_seeds(seed: int, source: str, n: int) -> list[int]:
    """The first ``n`` song seeds of ``source``'s stream (a failed render takes the next)."""
    stream = _candidates(seed, source)
    return [next(stream).song_seed for _ in range(n)]


def build_composer_corpus(
    out_dir: str | os.PathLike[str],
    *,
    source: str,
    soundfont: str | os.PathLike[str],
    n: int = 100,
    seed: int = 0,
    sample_rate: int = 22050,
    clip_seconds: float = 30.0,
    bitrate_kbps: int = 128,
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """Build ``n`` AI clips rendered with ``soundfont`` in ``out_dir``; return the index.

    ``source`` (the source's name) and ``seed`` choose the songs; ``jobs`` > 1 renders in
    that many processes (the output does not depend on it). MP3 files of earlier builds
    that are not in the new index are removed. A missing ``soundfont`` raises
    :class:`MissingSoundFontError` naming the source and the fix.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 < clip_seconds <= SONG_SECONDS[0]:
        raise ValueError(f"clip_seconds must be in (0, {SONG_SECONDS[0]:g}], got {clip_seconds}")
    mp3_compression_level(bitrate_kbps, sample_rate)  # fail early on a bad bitrate
    if not Path(soundfont).is_file():
        raise MissingSoundFontError(missing_soundfont_message(source, soundfont))
    out = Path(out_dir)
    (out / "ai").mkdir(parents=True, exist_ok=True)
    settings = ChainSettings(
        out_dir=out,
        sample_rate=int(sample_rate),
        clip_seconds=float(clip_seconds),
        bitrate_kbps=int(bitrate_kbps),
        soundfont=str(soundfont),
    )
    started = time.monotonic()
    pool = None
    if jobs > 1:
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        rows = collect_clips(
            "ai",
            _candidates(seed, source),
            render_ai_clip,
            n,
            settings,
            pool,
            progress,
            max_tries=2 * n + 10,
        )
    finally:
        if pool is not None:
            pool.shutdown()

    index = pd.DataFrame(rows)
    index = index[list(INDEX_COLUMNS)]
    index["soundfont"] = Path(soundfont).name
    index = index.sort_values("track", ignore_index=True).astype(
        {
            "tempo": "float64",
            "n_sections": "Int64",
            "root": "string",
            "mode": "string",
            "sections": "string",
            "programs": "string",
            "soundfont": "string",
        }
    )
    index.to_parquet(out / "index.parquet", index=False)

    keep = set(index["path"])
    for stale in sorted((out / "ai").glob("*.mp3*")):
        if f"ai/{stale.name}" not in keep:
            log.info("removing %s (not in this build)", stale)
            stale.unlink()
    log.info(
        "wrote %d ai clips (%s) and index.parquet to %s in %.1f s",
        len(index),
        Path(soundfont).name,
        out,
        time.monotonic() - started,
    )
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = corpus_parser(
        "python -m synthdetect.corpora.composer_corpus",
        "Build composed songs rendered with a SoundFont (a composer source).",
    )
    parser.add_argument("--source", required=True, help="source name (chooses the songs)")
    parser.add_argument("--soundfont", required=True, help=".sf2/.sf3 file to render with")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        index = build_composer_corpus(
            args.out,
            source=args.source,
            soundfont=args.soundfont,
            n=args.n,
            seed=args.seed,
            sample_rate=args.sample_rate,
            clip_seconds=args.clip_seconds,
            bitrate_kbps=args.bitrate_kbps,
            progress=not args.quiet,
            jobs=args.jobs,
        )
    except MissingSoundFontError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(
        f"composer corpus {args.source}: {len(index)} ai clips in "
        f"{time.monotonic() - started:.1f} s -> {out.resolve() / 'index.parquet'}"
    )
    return 0


if __name__ == "__main__":
    # run the package's copy, so worker processes find the job functions by module name
    from synthdetect.corpora.composer_corpus import main as _main

    raise SystemExit(_main())
