#!/usr/bin/env python
"""Per-track preprocessing cost: the decode floor, the workflow's stages, a notebook.

Generates ``--n`` tracks like AAM's (``--track-seconds`` long stereo 44.1 kHz MP3s, a
seeded random ``--seconds`` window each) in a temporary directory, then times, in this
one process on one core (BLAS/OpenMP threads set to 1 before numpy is imported):

1. **floor**: decoding the window only (``soundfile.read(start=, stop=)``): what any
   implementation has to pay;
2. **ours**: the workflow's per-track jobs, i.e. the very functions the ``run:`` blocks of
   ``workflow/rules/tracks.smk`` call (:mod:`synthdetect.pipeline.stages`: clip WAV ->
   spectrogram PNG -> histogram parquet, every file written and read back), with the
   config schema's defaults;
3. **reference**: the notebook-style implementation in ``bench/reference.py``
   (``librosa.load`` of the whole file, ``specshow`` + colorbar PNG, histograms), on the
   first ``--n-reference`` tracks (it costs ~1 s a track).

The paths alternate track by track, so a machine whose load changes during the run
charges them alike. Times are CPU seconds of this process (``time.process_time``): on a
shared machine wall time mostly measures the neighbours; wall times are printed too.
Then a per-stage breakdown of "ours" and the peak memory of one per-track job (a fresh
process running the three stages on one track; ``ru_maxrss``).

MP3 encoding costs ~4 s of CPU per 150 s track, so ``--unique`` distinct tracks are
encoded and the ``--n`` tracks cycle through them, each with its own random window.
A decoder gains nothing from that: every track is opened, sought and decoded afresh.

The last line is ``floor_ratio=<ours/floor> speedup_vs_reference=<reference/ours>
ms_per_track=<ours>`` (CPU ms per track). Nothing is written into the repository.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ[_var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from synthdetect.audio import io as audio  # noqa: E402
from synthdetect.features import histogram_io, spectrogram  # noqa: E402
from synthdetect.features import histograms as features  # noqa: E402
from synthdetect.pipeline.stages import clip_track, histogram_track, spectrogram_track  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schema_defaults import schema_defaults  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: The functions timed as "ours": the ones the run: blocks of tracks.smk call.
STAGES = (clip_track, spectrogram_track, histogram_track)

TRACK_SR = 44100


# --------------------------------------------------------------------------- config


def workflow_params() -> dict:
    """The clip, spectrogram and features sections as the workflow gets them by default."""
    return schema_defaults("clip", "spectrogram", "features")


# --------------------------------------------------------------------------- tracks


def synth_track(seed: int, seconds: float, sr: int = TRACK_SR) -> np.ndarray:
    """A stereo 'song': decaying harmonic notes on a beat grid, some noise; float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros((n, 2), dtype=np.float32)
    step = rng.uniform(0.25, 0.6)
    note_len = int(1.2 * sr)
    t = np.arange(note_len, dtype=np.float32) / sr
    env = np.exp(-4.0 * t).astype(np.float32)
    for start in np.arange(0.0, seconds, step):
        a = int(start * sr)
        m = min(note_len, n - a)
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        tone = np.zeros(m, dtype=np.float32)
        for h in range(1, int(rng.integers(1, 5)) + 1):
            tone += np.sin(2 * np.pi * f0 * h * t[:m]).astype(np.float32) / h
        tone *= env[:m]
        pan = rng.uniform(0.2, 0.8)
        y[a : a + m, 0] += (1 - pan) * tone
        y[a : a + m, 1] += pan * tone
    y += rng.uniform(0.002, 0.03) * rng.standard_normal((n, 2)).astype(np.float32)
    y *= 0.5 / np.max(np.abs(y))
    return y


def write_mp3(path: Path, seed: int, seconds: float) -> str:
    y = synth_track(seed, seconds)
    with sf.SoundFile(path, "w", TRACK_SR, 2, format="MP3", subtype="MPEG_LAYER_III") as f:
        for a in range(0, len(y), TRACK_SR * 10):  # block writes (see DESIGN.md)
            f.write(y[a : a + TRACK_SR * 10])
    return str(path)


def make_tracks(
    root: Path, n: int, unique: int, track_s: float, clip_s: float, seed: int, jobs: int
) -> list[tuple[str, float]]:
    """``n`` (mp3 path, window offset) pairs over ``unique`` encoded tracks."""
    root.mkdir(parents=True, exist_ok=True)
    k = max(1, min(unique, n))
    paths = [root / f"track{i:03d}.mp3" for i in range(k)]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        files = list(pool.map(write_mp3, paths, [seed + i for i in range(k)], [track_s] * k))
    rng = np.random.default_rng(seed)
    span = max(track_s - clip_s - 0.5, 0.0)
    return [(files[i % k], round(float(rng.uniform(0, span)), 3)) for i in range(n)]


# --------------------------------------------------------------------------- the paths


def floor(path: str, offset_s: float, clip_s: float) -> np.ndarray:
    """Decoding the window only: the least any implementation pays."""
    sr = TRACK_SR
    start = int(round(offset_s * sr))
    y, _ = sf.read(path, start=start, stop=start + int(round(clip_s * sr)), dtype="float32")
    return y


def ours(path: str, offset_s: float, work: Path, name: str, params: dict) -> None:
    """The workflow's three per-track jobs, as tracks.smk runs them."""
    clip = work / "clips" / f"{name}.wav"
    png = work / "spectrograms" / f"{name}.png"
    out = work / "histograms" / f"{name}.parquet"
    clip_track(
        path,
        clip,
        offset_s=offset_s,
        seconds=params["clip"]["seconds"],
        sample_rate=params["clip"]["sample_rate"],
    )
    spectrogram_track(clip, png, spectrogram=params["spectrogram"])
    histogram_track(png, out, source="bench", track=name, features=params["features"])


def reference(path: str, offset_s: float, work: Path, name: str, params: dict) -> None:
    from reference import reference_track

    reference_track(
        path,
        work / "reference" / f"{name}.png",
        offset_s=offset_s,
        seconds=params["clip"]["seconds"],
        sample_rate=params["clip"]["sample_rate"],
    )


class Clock:
    """CPU and wall seconds per named path."""

    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = {}
        self.wall: dict[str, list[float]] = {}

    def run(self, name: str, fn, *args) -> None:
        c0, w0 = time.process_time(), time.perf_counter()
        fn(*args)
        self.cpu.setdefault(name, []).append(time.process_time() - c0)
        self.wall.setdefault(name, []).append(time.perf_counter() - w0)

    def ms(self, name: str, kind: str = "cpu") -> float:
        values = (self.cpu if kind == "cpu" else self.wall)[name]
        return 1000.0 * float(np.mean(values))


# --------------------------------------------------------------------------- breakdown


def breakdown(tracks, work: Path, params: dict, clock: Clock) -> None:
    """Each step of "ours" timed on its own (the same library calls the stages make)."""
    c, s, f = params["clip"], params["spectrogram"], params["features"]
    stft_keys = {k: s[k] for k in ("n_fft", "hop_length") if k in s}
    for i, (path, offset) in enumerate(tracks):
        clip = work / "bd" / f"t{i}.wav"
        png = work / "bd" / f"t{i}.png"
        out = work / "bd" / f"t{i}.parquet"
        box: dict = {}

        def decode(path=path, offset=offset, box=box):
            with sf.SoundFile(path) as fh:
                fh.seek(int(round(offset * fh.samplerate)))
                box["y"] = fh.read(
                    int(round(c["seconds"] * fh.samplerate)), dtype="float32", always_2d=True
                )

        def downmix(box=box):
            box["y"] = audio.downmix(box["y"])

        def resample(box=box):
            box["y"] = audio.fix_length(
                audio.resample(box["y"], TRACK_SR, c["sample_rate"]),
                int(round(c["seconds"] * c["sample_rate"])),
            )

        def write_clip(box=box, clip=clip):
            audio.write_clip(clip, box["y"], c["sample_rate"])

        def read_clip(box=box, clip=clip):
            box["y"], box["sr"] = audio.read_clip(clip)

        def stft(box=box):
            box["mag"] = spectrogram.stft_magnitude(box["y"], **stft_keys).T

        def db(box=box):
            box["db"] = spectrogram.amplitude_to_db(
                box["mag"], ref=s["ref"], top_db=s["top_db"]
            ).astype(np.float32, copy=False)

        def render(box=box):
            box["index"] = spectrogram.render_index(
                box["db"], size=tuple(s["size"]), vmin=s["vmin"], vmax=s["vmax"]
            )

        def write_png(box=box, png=png):
            spectrogram.save_palette_png(box["index"], png, cmap=s["cmap"])

        def read_png(box=box, png=png):
            box["image"] = spectrogram.load_png(png)

        def color(box=box):
            col = f["color"]
            box["color"] = features.color_histograms(
                box["image"], channels=tuple(col["channels"]), bins=col["bins"]
            )

        def deriv(box=box):
            box["deriv"] = features.derivative_histogram(box["image"], **f["deriv"])

        def write_hist(box=box, out=out, i=i):
            histogram_io.write_track_histograms(
                out, "bench", f"t{i}", {"color": box["color"], "deriv": box["deriv"]}
            )

        steps = [
            ("clip: decode window", decode),
            ("clip: downmix", downmix),
            ("clip: resample (soxr_hq)", resample),
            ("clip: WAV write", write_clip),
            ("spectrogram: WAV read", read_clip),
            ("spectrogram: STFT |X|", stft),
            ("spectrogram: dB", db),
            ("spectrogram: index image", render),
            ("spectrogram: PNG write", write_png),
            ("histograms: PNG read", read_png),
            ("histograms: color", color),
            ("histograms: derivatives", deriv),
            ("histograms: parquet write", write_hist),
        ]
        if params["spectrogram"]["scale"] != "linear":
            steps = [st for st in steps if not st[0].startswith("spectrogram: ")]
        for name, fn in steps:
            clock.run(name, fn)


# --------------------------------------------------------------------------- memory

_CHILD = r"""
import os, sys, json
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[v] = "1"
from pathlib import Path


def hwm_kb():  # this process's own peak RSS (ru_maxrss would include the parent's, forked)
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM")).split()[1])


from synthdetect.pipeline.stages import clip_track, spectrogram_track, histogram_track
args = json.loads(sys.argv[1])
imports_kb = hwm_kb()
work, p = Path(args["work"]), args["params"]
clip_track(args["path"], work / "m.wav", offset_s=args["offset"],
           seconds=p["clip"]["seconds"], sample_rate=p["clip"]["sample_rate"])
spectrogram_track(work / "m.wav", work / "m.png", spectrogram=p["spectrogram"])
histogram_track(work / "m.png", work / "m.parquet", source="b", track="m",
                features=p["features"])
print(json.dumps({"imports_kb": imports_kb, "peak_kb": hwm_kb()}))
"""


def memory(path: str, offset: float, work: Path, params: dict) -> dict:
    """Peak RSS (VmHWM) of a fresh process running one track's three stages, and the peak
    of the arrays one track allocates, traced in this process (numpy reports to
    tracemalloc)."""
    work.mkdir(parents=True, exist_ok=True)
    arg = json.dumps({"path": path, "offset": offset, "work": str(work), "params": params})
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, arg], capture_output=True, text=True, check=True
    )
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    tracemalloc.start()
    ours(path, offset, work, "traced", params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "process_peak_mb": child["peak_kb"] / 1024,
        "process_imports_mb": child["imports_kb"] / 1024,
        "traced_peak_mb": peak / 2**20,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="tracks timed (floor and ours)")
    ap.add_argument(
        "--n-reference",
        type=int,
        default=30,
        help="of those, tracks also run through the reference (~1 s each)",
    )
    ap.add_argument("--unique", type=int, default=8, help="distinct MP3s encoded")
    ap.add_argument("--track-seconds", type=float, default=150.0, help="length of each MP3")
    ap.add_argument("--breakdown", type=int, default=20, help="tracks for the per-step table")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="processes encoding the MP3s")
    ap.add_argument("--tmp", default=None, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")

    if "torch" in sys.modules:  # the pipeline does not use torch; pin it if anything did
        sys.modules["torch"].set_num_threads(1)

    params = workflow_params()
    clip_s = params["clip"]["seconds"]
    if args.track_seconds < clip_s:
        ap.error(f"--track-seconds must be >= the clip's {clip_s} s")
    tmp = Path(tempfile.mkdtemp(prefix="synthdetect-bench-", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        tracks = make_tracks(
            tmp / "tracks",
            args.n,
            args.unique,
            args.track_seconds,
            clip_s,
            args.seed,
            args.jobs,
        )
        print(
            f"# {len(tracks)} tracks ({min(args.unique, args.n)} distinct "
            f"{args.track_seconds:g} s stereo {TRACK_SR} Hz MP3s, {clip_s:g} s windows) "
            f"generated in {time.perf_counter() - t0:.1f} s"
        )
        print(
            f"# machine: {platform.machine()} {os.cpu_count()} CPUs, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}"
            f", numpy {np.__version__}, libsndfile {sf.__libsndfile_version__}"
        )
        work = tmp / "work"
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/reference.py
        # warm-up: imports, caches, matplotlib's font cache; not timed
        warm = Clock()
        warm.run("floor", floor, tracks[0][0], tracks[0][1], clip_s)
        warm.run("ours", ours, *tracks[0], work / "warm", "w", params)
        if args.n_reference > 0:
            warm.run("reference", reference, *tracks[0], work / "warm", "w", params)

        clock = Clock()
        n_ref = min(args.n_reference, len(tracks))
        for i, (path, offset) in enumerate(tracks):
            runs = [
                ("floor", floor, (path, offset, clip_s)),
                ("ours", ours, (path, offset, work, f"t{i:04d}", params)),
            ]
            if i < n_ref:
                runs.append(("reference", reference, (path, offset, work, f"t{i:04d}", params)))
            if i % 2:
                runs.reverse()
            for name, fn, fargs in runs:
                clock.run(name, fn, *fargs)

        print("\n# per track, mean over tracks: CPU ms (wall ms)")
        for name in ("floor", "ours", "reference"):
            if name in clock.cpu:
                print(
                    f"{name:>10s}: {clock.ms(name):8.1f} ({clock.ms(name, 'wall'):7.1f})"
                    f"  n={len(clock.cpu[name])}"
                )
        if n_ref:
            sub = slice(0, n_ref)
            ours_sub = 1000 * float(np.mean(clock.cpu["ours"][sub]))
            print(f"# ours on the reference's {n_ref} tracks: {ours_sub:.1f} CPU ms")

        if args.breakdown > 0:
            bd = Clock()
            breakdown(tracks[: args.breakdown], work, params, bd)
            total = sum(bd.ms(k) for k in bd.cpu)
            print(f"\n# ours step by step, {min(args.breakdown, len(tracks))} tracks: CPU ms")
            for name in bd.cpu:
                print(f"{name:>32s}: {bd.ms(name):7.2f}")
            print(f"{'sum of steps':>32s}: {total:7.2f}")

        if not args.no_memory:
            mem = memory(tracks[0][0], tracks[0][1], work / "memory", params)
            print(
                f"\n# memory of one per-track job (fresh process, all three stages): "
                f"peak RSS {mem['process_peak_mb']:.0f} MB, of which imports "
                f"{mem['process_imports_mb']:.0f} MB; arrays of one track (tracemalloc) "
                f"{mem['traced_peak_mb']:.1f} MB"
            )

        floor_ms, ours_ms = clock.ms("floor"), clock.ms("ours")
        if n_ref:
            ours_sub = 1000 * float(np.mean(clock.cpu["ours"][:n_ref]))
            speedup = clock.ms("reference") / ours_sub
        else:
            speedup = float("nan")
        print(
            f"floor_ratio={ours_ms / floor_ms:.2f} speedup_vs_reference={speedup:.1f} "
            f"ms_per_track={ours_ms:.1f}"
        )
    finally:
        if args.keep:
            print(f"# kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
