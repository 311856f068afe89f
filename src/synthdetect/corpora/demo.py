"""The offline demo corpus: human music from Debian packages vs. algorithmically composed music.

It stands in for the paper's FMA (human) vs. AAM (rule-based "AI") data where the real
datasets cannot be downloaded:

* **human**: game soundtracks that people composed, packaged by Debian:
  ``singularity-music`` (16 Ogg Vorbis tracks, CC-BY-SA 3.0) and ``warzone2100-music``
  (30 Opus tracks, GPL-2+). Each recording is cut into consecutive windows of
  ``clip_seconds``; windows are chosen seeded and round-robin over the recordings, so every
  recording contributes before any contributes twice, and each clip keeps its recording id
  (a train/test split must keep a recording's clips together).
* **ai**: songs from :mod:`synthdetect.corpora.composer` (seeds derived from ``(seed, index)``),
  rendered by :mod:`synthdetect.corpora.synth`, with one seeded ``clip_seconds`` window per song,
  as the paper did with AAM.

Both classes go through the same chain so that nothing but the music tells them apart:
decoded (human) or rendered (ai) at 48 kHz, mixed to mono, resampled to ``sample_rate``
with the same polyphase filter, RMS-normalised to ``TARGET_DBFS`` (scaled down further
only if a peak would pass ``PEAK_CEILING``) and encoded as constant-bitrate MP3 at
``bitrate_kbps``. One difference remains and is recorded in ``origin``: the human audio
was lossy-coded once before (Vorbis/Opus at 48 kHz).

Layout of ``out_dir``::

    human/<track>.mp3    e.g. human/h-warzone2100-albums-legacy-soundtrack-track10-3.mp3
    ai/<track>.mp3       e.g. ai/ai-00042.mp3
    index.parquet        one row per clip (see INDEX_COLUMNS)

The same arguments give byte-identical files and index.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly

from synthdetect.audio.codec import mp3_compression_level, write_mp3
from synthdetect.data.candidates import AUDIO_SUFFIXES

__all__ = [
    "APT_INSTALL",
    "DEBIAN_PACKAGES",
    "INDEX_COLUMNS",
    "MissingMusicError",
    "Recording",
    "build_demo_corpus",
    "corpus_parser",
    "find_debian_music",
    "find_music_in_dirs",
    "main",
]

log = logging.getLogger("synthdetect.corpora.demo")

DEBIAN_PACKAGES = ("singularity-music", "warzone2100-music")
APT_INSTALL = "apt-get install singularity-music warzone2100-music"

WORK_RATE = 48_000  # both classes are at this rate before resampling (the Debian files are)
TARGET_DBFS = -20.0  # RMS level of every clip
PEAK_CEILING = 0.98
SILENCE_DBFS = -60.0  # a window quieter than this (RMS) is skipped
SONG_SECONDS = (40.0, 100.0)  # composed song lengths
RENDER_TIMEOUT_S = 120.0

INDEX_COLUMNS = (
    "track",  # filesystem-safe id: h-<recording>-<window> or ai-<index:05d>
    "label",  # "human" | "ai"
    "recording",  # recording id (for ai: the song id, equal to the track id)
    "path",  # relative to out_dir
    "origin",  # "<package>:<file in package>" or "composer:<song seed>"
    "offset_in_recording_s",
    "duration_s",
    "gain_db",  # gain applied by the loudness normalisation
    "tempo",  # composer metadata (ai only; missing for human)
    "root",
    "mode",
    "n_sections",
    "sections",
    "programs",
)


# MPEG audio bitrates (kbps) that LAME accepts, by the MPEG version a sample rate implies.
class MissingMusicError(FileNotFoundError):
    """No human recordings were found."""


@dataclass(frozen=True)
class Recording:
    """One human recording: its id, file and where it came from."""

    recording: str
    path: Path
    origin: str


# --------------------------------------------------------------------------------------
# Finding the human recordings


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _recordings(prefix: str, files: Sequence[Path], origin_prefix: str) -> list[Recording]:
    """Recordings with unique ids ``<prefix>-<slug of path below the common folder>``."""
    files = sorted(files)
    if not files:
        return []
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    out, seen = [], set()
    for f in files:
        rel = f.relative_to(root)
        rid = f"{prefix}-{_slug(str(rel.with_suffix('')))}"
        base, k = rid, 2
        while rid in seen:
            rid, k = f"{base}-{k}", k + 1
        seen.add(rid)
        out.append(Recording(rid, f, f"{origin_prefix}:{rel.as_posix()}"))
    return out


def find_debian_music(packages: Sequence[str] = DEBIAN_PACKAGES) -> list[Recording]:
    """Audio files installed by the Debian music ``packages``, located with ``dpkg -L``.

    Raises :class:`MissingMusicError` with the ``apt-get install`` line if none are found.
    A package that is missing while others are present is only logged.
    """
    found: list[Recording] = []
    missing = []
    for package in packages:
        try:
            listing = subprocess.run(
                ["dpkg", "-L", package], capture_output=True, text=True, check=False
            )
        except FileNotFoundError:  # no dpkg on this system
            missing.append(package)
            continue
        files = [
            Path(line)
            for line in listing.stdout.splitlines()
            if Path(line).suffix.lower() in AUDIO_SUFFIXES and Path(line).is_file()
        ]
        if listing.returncode != 0 or not files:
            missing.append(package)
            continue
        prefix = package.removesuffix("-music")
        found += _recordings(prefix, files, package)
    if not found:
        raise MissingMusicError(
            f"no music from the Debian packages {', '.join(packages)} is installed; "
            f"install them with:\n    {APT_INSTALL}"
        )
    if missing:
        log.warning(
            "Debian package(s) %s not installed; continuing without them (%s)",
            ", ".join(missing),
            APT_INSTALL,
        )
    return found


def find_music_in_dirs(dirs: Iterable[str | os.PathLike[str]]) -> list[Recording]:
    """Audio files below each directory; ids ``<dir name>-<slug of relative path>``."""
    found: list[Recording] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise NotADirectoryError(f"human music directory not found: {d}")
        files = [p for p in d.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
        if not files:
            log.warning("no audio files (%s) in %s", ", ".join(sorted(AUDIO_SUFFIXES)), d)
            continue
        found += _recordings(_slug(d.name), files, d.name)
    if not found:
        raise MissingMusicError(f"no audio files in {', '.join(map(str, dirs))}")
    return found


# --------------------------------------------------------------------------------------
# Audio chain shared by both classes


def _resample(x: np.ndarray, rate_in: int, rate_out: int, n_out: int) -> np.ndarray:
    if rate_in != rate_out:
        g = math.gcd(rate_in, rate_out)
        x = resample_poly(x, rate_out // g, rate_in // g)
    x = np.asarray(x, dtype=np.float32)
    if len(x) >= n_out:
        return x[:n_out]
    return np.pad(x, (0, n_out - len(x)))


def _dbfs(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def _normalise(x: np.ndarray) -> tuple[np.ndarray, float]:
    """RMS to TARGET_DBFS, then down to PEAK_CEILING if a peak would pass it."""
    gain = 10 ** ((TARGET_DBFS - _dbfs(x)) / 20)
    peak = float(np.max(np.abs(x))) * gain
    if peak > PEAK_CEILING:
        gain *= PEAK_CEILING / peak
    return (x * gain).astype(np.float32), 20 * math.log10(gain)


# --------------------------------------------------------------------------------------
# Per-clip jobs (top-level functions so a process pool can run them)


@dataclass(frozen=True)
class ChainSettings:
    out_dir: Path
    sample_rate: int
    clip_seconds: float
    bitrate_kbps: int
    soundfont: str | None

    @property
    def n_out(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))


@dataclass(frozen=True)
class _HumanJob:
    recording: Recording
    window: int
    rate_in: int


@dataclass(frozen=True)
class AIJob:
    index: int
    song_seed: int
    offset_fraction: float


def _finish(
    x: np.ndarray, rate_in: int, settings: ChainSettings, rel: str
) -> tuple[float, str | None]:
    """Shared chain; returns (gain_db, reason it was skipped or None)."""
    level = _dbfs(x)
    if level < SILENCE_DBFS:
        return 0.0, f"silent ({level:.1f} dBFS RMS)"
    y = _resample(x, rate_in, settings.sample_rate, settings.n_out)
    y, gain_db = _normalise(y)
    write_mp3(settings.out_dir / rel, y, settings.sample_rate, settings.bitrate_kbps)
    return gain_db, None


def _run_human(args: tuple[_HumanJob, ChainSettings]) -> dict | str:
    job, settings = args
    rec = job.recording
    track = f"h-{rec.recording}-{job.window}"
    n_in = int(round(settings.clip_seconds * job.rate_in))
    start = job.window * n_in
    try:
        data, rate = sf.read(
            rec.path, start=start, stop=start + n_in, dtype="float32", always_2d=True
        )
    except Exception as exc:  # a corrupt file must not stop the build
        return f"{rec.path}: window {job.window} unreadable ({type(exc).__name__}: {exc})"
    if len(data) < n_in:
        return f"{rec.path}: window {job.window} short ({len(data)} of {n_in} frames)"
    rel = f"human/{track}.mp3"
    gain_db, skipped = _finish(data.mean(axis=1), rate, settings, rel)
    if skipped:
        return f"{rec.path}: window {job.window} {skipped}"
    return {
        "track": track,
        "label": "human",
        "recording": rec.recording,
        "path": rel,
        "origin": rec.origin,
        "offset_in_recording_s": start / rate,
        "duration_s": settings.n_out / settings.sample_rate,
        "gain_db": gain_db,
    }


def render_ai_clip(args: tuple[AIJob, ChainSettings]) -> dict | str:
    from .composer import compose
    from .synth import RenderLimitError, render

    job, settings = args
    track = f"ai-{job.index:05d}"
    song = compose(job.song_seed, min_seconds=SONG_SECONDS[0], max_seconds=SONG_SECONDS[1])
    n_in = int(round(settings.clip_seconds * WORK_RATE))
    latest = max(int(song.duration * WORK_RATE) - n_in, 0)
    start = int(round(job.offset_fraction * latest))
    try:
        audio = render(
            song.midi,
            sample_rate=WORK_RATE,
            max_seconds=(start + n_in + 1) / WORK_RATE,
            timeout_s=RENDER_TIMEOUT_S,
            soundfont=settings.soundfont,
            truncate=True,
        )
    except RenderLimitError as exc:
        return f"song {track} (seed {job.song_seed}) not rendered: {exc}"
    window = audio[start : start + n_in]
    if len(window) < n_in:
        return f"song {track} (seed {job.song_seed}) shorter than the clip"
    rel = f"ai/{track}.mp3"
    gain_db, skipped = _finish(window, WORK_RATE, settings, rel)
    if skipped:
        return f"song {track} (seed {job.song_seed}): window {skipped}"
    meta = song.metadata()
    return {
        "track": track,
        "label": "ai",
        "recording": track,
        "path": rel,
        "origin": f"composer:{job.song_seed}",
        "offset_in_recording_s": start / WORK_RATE,
        "duration_s": settings.n_out / settings.sample_rate,
        "gain_db": gain_db,
        "tempo": meta["tempo"],
        "root": meta["root"],
        "mode": meta["mode"],
        "n_sections": meta["n_sections"],
        "sections": meta["sections"],
        "programs": meta["programs"],
    }


# --------------------------------------------------------------------------------------
# Choosing the clips


def _human_candidates(
    recordings: Sequence[Recording], seed: int, clip_seconds: float
) -> list[_HumanJob]:
    """All windows in seeded round-robin order: a shuffled pass over the recordings taking
    one (shuffled) window from each, then the next pass, until every window is listed."""
    rng = np.random.default_rng([seed, 0x48, 0])
    queues = []
    for rec in recordings:
        try:
            info = sf.info(str(rec.path))
            n_windows = int(info.frames // int(round(clip_seconds * info.samplerate)))
        except Exception as exc:
            log.warning(
                "skipping unreadable recording %s (%s: %s)", rec.path, type(exc).__name__, exc
            )
            continue
        if n_windows < 1:
            log.warning("skipping %s: shorter than one %g s clip", rec.path, clip_seconds)
            continue
        queues.append((rec, int(info.samplerate), list(rng.permutation(n_windows))))
    queues = [queues[i] for i in rng.permutation(len(queues))]
    jobs = []
    for depth in range(max((len(q[2]) for q in queues), default=0)):
        jobs += [_HumanJob(rec, int(w[depth]), rate) for rec, rate, w in queues if depth < len(w)]
    log.info("%d human recordings, %d windows of %g s", len(queues), len(jobs), clip_seconds)
    return jobs


def _ai_candidates(seed: int) -> Iterator[AIJob]:
    index = 0
    while True:
        song_seed = int(np.random.SeedSequence([seed, 0xA1, index]).generate_state(1)[0])
        offset = float(np.random.default_rng([seed, 0xA2, index]).random())
        yield AIJob(index, song_seed, offset)
        index += 1


def collect_clips(
    label: str,
    candidates: Iterator,
    worker,
    n: int,
    settings: ChainSettings,
    pool: ProcessPoolExecutor | None,
    progress: bool,
    max_tries: int,
) -> list[dict]:
    """The first ``n`` successful candidates in candidate order (independent of jobs)."""
    from tqdm.auto import tqdm

    rows: list[dict] = []
    tried = 0
    with tqdm(total=n, desc=f"{label:5s} clips", unit="clip", disable=not progress) as bar:
        while len(rows) < n:
            batch = []
            for job in candidates:
                batch.append((job, settings))
                if len(batch) == n - len(rows):
                    break
            if not batch or tried >= max_tries:
                raise ValueError(
                    f"only {len(rows)} usable {label} clips, {n} asked for "
                    f"({tried} candidates tried); lower n_per_class"
                )
            tried += len(batch)
            results = pool.map(worker, batch) if pool is not None else map(worker, batch)
            for result in results:
                if isinstance(result, str):
                    log.warning("skipped %s clip: %s", label, result)
                else:
                    rows.append(result)
                    bar.update(1)
    return rows


def build_demo_corpus(
    out_dir: str | os.PathLike[str],
    *,
    n_per_class: int = 100,
    seed: int = 0,
    sample_rate: int = 22050,
    clip_seconds: float = 30.0,
    bitrate_kbps: int = 128,
    human_dirs: Sequence[str | os.PathLike[str]] | None = None,
    soundfont: str | os.PathLike[str] | None = None,
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """Build the demo corpus in ``out_dir`` and return its index (also ``index.parquet``).

    ``human_dirs`` replaces the Debian packages by folders of audio files; ``soundfont``
    replaces pretty_midi's TimGM6mb.sf2 for the AI class; ``jobs`` > 1 encodes in that many
    processes (the output does not depend on it). MP3 files of earlier builds that are not
    in the new index are removed.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    if not 0 < clip_seconds <= SONG_SECONDS[0]:
        raise ValueError(f"clip_seconds must be in (0, {SONG_SECONDS[0]:g}], got {clip_seconds}")
    mp3_compression_level(bitrate_kbps, sample_rate)  # fail early on a bad bitrate
    out = Path(out_dir)
    if isinstance(human_dirs, str | os.PathLike):
        human_dirs = [human_dirs]
    recordings = find_music_in_dirs(human_dirs) if human_dirs else find_debian_music()
    for sub in ("human", "ai"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    settings = ChainSettings(
        out_dir=out,
        sample_rate=int(sample_rate),
        clip_seconds=float(clip_seconds),
        bitrate_kbps=int(bitrate_kbps),
        soundfont=str(soundfont) if soundfont is not None else None,
    )
    started = time.monotonic()
    pool = None
    if jobs > 1:
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        windows = _human_candidates(recordings, seed, clip_seconds)
        if len(windows) < n_per_class:
            raise ValueError(
                f"only {len(windows)} human windows of {clip_seconds:g} s in the recordings, "
                f"{n_per_class} asked for; lower n_per_class"
            )
        human = collect_clips(
            "human",
            iter(windows),
            _run_human,
            n_per_class,
            settings,
            pool,
            progress,
            max_tries=10**9,
        )
        ai = collect_clips(
            "ai",
            _ai_candidates(seed),
            render_ai_clip,
            n_per_class,
            settings,
            pool,
            progress,
            max_tries=2 * n_per_class + 10,
        )
    finally:
        if pool is not None:
            pool.shutdown()

    index = pd.DataFrame(human + ai)
    for col in INDEX_COLUMNS:
        if col not in index:
            index[col] = None
    index = index[list(INDEX_COLUMNS)].sort_values(["label", "track"], ignore_index=True)
    index = index.astype(
        {
            "tempo": "float64",
            "n_sections": "Int64",
            "root": "string",
            "mode": "string",
            "sections": "string",
            "programs": "string",
        }
    )
    index.to_parquet(out / "index.parquet", index=False)

    keep = set(index["path"])
    for sub in ("human", "ai"):
        for stale in sorted((out / sub).glob("*.mp3*")):
            if f"{sub}/{stale.name}" not in keep:
                log.info("removing %s (not in this build)", stale)
                stale.unlink()
    log.info(
        "wrote %d human + %d ai clips and index.parquet to %s in %.1f s",
        len(human),
        len(ai),
        out,
        time.monotonic() - started,
    )
    return index


def corpus_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every corpus builder's command line shares: where, seed, audio format
    and workers; each builder adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--clip-seconds", type=float, default=30.0)
    parser.add_argument("--bitrate-kbps", type=int, default=128)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = corpus_parser(
        "python -m synthdetect.corpora.demo",
        "Build the offline demo corpus (Debian game music vs. composed songs).",
    )
    parser.add_argument("--n-per-class", type=int, default=100)
    parser.add_argument(
        "--human-dir",
        action="append",
        default=None,
        help="folder of human audio files instead of the Debian packages (repeatable)",
    )
    parser.add_argument("--soundfont", default=None, help="SoundFont for the AI class")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        index = build_demo_corpus(
            args.out,
            n_per_class=args.n_per_class,
            seed=args.seed,
            sample_rate=args.sample_rate,
            clip_seconds=args.clip_seconds,
            bitrate_kbps=args.bitrate_kbps,
            human_dirs=args.human_dir,
            soundfont=args.soundfont,
            progress=not args.quiet,
            jobs=args.jobs,
        )
    except MissingMusicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    size = sum(p.stat().st_size for p in out.rglob("*.mp3"))
    counts = index["label"].value_counts().to_dict()
    print(
        f"demo corpus: {counts.get('human', 0)} human + {counts.get('ai', 0)} ai clips, "
        f"{size / 1e6:.1f} MB, in {time.monotonic() - started:.1f} s -> {out.resolve()} "
        f"(index: {out.resolve() / 'index.parquet'})"
    )
    return 0


if __name__ == "__main__":
    # run the package's copy, so worker processes find the job functions by module name
    from synthdetect.corpora.demo import main as _main

    raise SystemExit(_main())
