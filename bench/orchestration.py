"""What Snakemake's per-track orchestration costs compared with a plain Python loop.

Generates N tracks (half OGG "human", half FLAC "ai", 30-35 s each) in a temporary
folder, builds the manifest with the real CLI (untimed), then times

(a) ``snakemake --cores C`` making every track's clip, spectrogram PNG and histogram
    file (one job per bucket of tracks and stage, config ``buckets``, default 64) plus
    the fan-in ``results/features/color.parquet``, through the real CLI with the
    workflow's default profile (``force-use-threads``, greedy scheduler), and
(b) the same work as one plain Python loop in a fresh interpreter (its start and
    imports included, as Snakemake's are): the library calls of the ``run:`` blocks in
    workflow/rules/tracks.smk (synthdetect.pipeline.stages' ``*_bucket`` functions) for every
    bucket, then the fan-in's (synthdetect.pipeline.gather.feature_tables).

Both write into the same project (the loop under ``results-loop/``) with the same
resolved config and manifest, and the bench checks that both produced identical PNG
bytes and histograms, so the loop cannot drift from what tracks.smk does. Keep the
``loop()`` below in step with tracks.smk's ``run:`` blocks.

    python bench/orchestration.py [--tracks 600] [--cores 2]
    python bench/orchestration.py --workdir /tmp/orch --reuse --repeat 2 \
        --snakemake-args "--scheduler-subsample 20" --py-spy

``--workdir``/``--reuse`` keep the generated corpus and manifest between invocations;
``--repeat`` takes the best of several runs (the machine may be shared);
``--snakemake-args`` tries settings; ``--py-spy`` samples every thread of the timed
Snakemake run (``pip install py-spy``) and prints where the time went. Last line:
``orchestration_overhead=<snakemake_wall/loop_wall> tracks=<N>``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SR = 22050
LOOP_RESULTS = "results-loop"


# ----------------------------------------------------------------------------- corpus
def _track(args: tuple[Path, str, int]) -> None:
    """One generated track: decaying notes over noise, 30-35 s, written in blocks."""
    import numpy as np
    import soundfile as sf

    path, label, seed = args
    rng = np.random.default_rng(seed)
    seconds = rng.uniform(30.0, 35.0)
    n = int(seconds * SR)
    y = np.zeros(n, dtype=np.float64)
    tail = int(1.5 * SR)  # exp(-4 t) is below 0.3 % after 1.5 s
    t = np.arange(tail) / SR
    env = np.exp(-4 * t)
    step = 0.5 if label == "ai" else rng.uniform(0.3, 0.7)
    harmonics = 1 if label == "ai" else 4
    for start in np.arange(0, seconds, step):
        i = int(start * SR)
        m = min(tail, n - i)
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        for h in range(1, harmonics + 1):
            y[i : i + m] += env[:m] * np.sin(2 * np.pi * f0 * h * t[:m]) / h
    y += (0.002 if label == "ai" else 0.03) * rng.standard_normal(n)
    y = (0.3 * y / np.max(np.abs(y))).astype(np.float32)
    fmt = "OGG" if path.suffix == ".ogg" else "FLAC"
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    # block writes: one long OGG buffer once segfaulted libsndfile (DESIGN.md)
    with sf.SoundFile(path, "w", SR, 1, format=fmt, subtype=subtype) as f:
        for b in range(0, n, 1 << 16):
            f.write(y[b : b + (1 << 16)])


def write_corpus(root: Path, n_tracks: int, workers: int) -> None:
    jobs = []
    for i in range(n_tracks):
        label, ext = ("human", "ogg") if i % 2 == 0 else ("ai", "flac")
        folder = root / "corpus" / label
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((folder / f"{label}{i:05d}.{ext}", label, i))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_track, jobs, chunksize=8)


def project_config(root: Path) -> dict:
    """Folder sources with random crops (so every track has its own offset param)."""
    return {
        "results": "results",
        "seed": 0,
        "sources": {
            label: {"kind": "folder", "label": label, "path": f"corpus/{label}", "crop": "random"}
            for label in ("human", "ai")
        },
        "models": {"device": "cpu"},
    }


def resolved_config(config: dict) -> dict:
    """The config with the schema's defaults filled in, as the Snakefile sees it."""
    from snakemake.utils import validate

    config = json.loads(json.dumps(config))
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return config


# ----------------------------------------------------------------------------- runs
def timed(cmd: list[str], cwd: Path, what: str) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of a child process; exits with its log on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def snakemake(
    root: Path, cores: int, *args: str, py_spy: Path | None = None
) -> tuple[float, float]:
    cmd = [
        str(SNAKEMAKE),
        *args,
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(root),
        "--cores",
        str(cores),
        "--configfile",
        "config.yaml",
    ]
    if py_spy is not None:  # every thread: the scheduler's and the jobs'
        exe = shutil.which("py-spy") or "py-spy"
        cmd = [
            exe,
            "record",
            "-r",
            "50",
            "--threads",
            "--format",
            "raw",
            "-o",
            str(py_spy),
            "--",
            sys.executable,
            *cmd,
        ]
    return timed(cmd, root, "snakemake")


def loop(root: Path, spec_path: Path) -> None:
    """The per-track work and the fan-in as one plain loop (runs in a fresh interpreter)."""
    import pandas as pd

    from synthdetect.pipeline.buckets import bucket_of
    from synthdetect.pipeline.gather import Covered, feature_tables
    from synthdetect.pipeline.stages import clip_bucket, histogram_bucket, spectrogram_bucket

    config = json.loads(spec_path.read_text())
    out = root / LOOP_RESULTS
    manifest = pd.read_parquet(root / "results" / "manifest.parquet")
    clip, spec, feats = config["clip"], config["spectrogram"], config["features"]
    n_buckets = config["buckets"]
    buckets: dict[str, list] = {}  # as workflow/rules/common.smk groups the manifest
    for row in manifest.itertuples(index=False):
        buckets.setdefault(bucket_of(row.source, row.track, n_buckets), []).append(row)
    histograms = []
    for bucket, rows in sorted(buckets.items()):
        tracks = [(row.source, row.track) for row in rows]
        clips = out / "clips" / bucket
        pngs = out / "spectrograms" / bucket
        hists = out / "histograms" / bucket
        clip_bucket(  # rule clip
            [(r.source, r.track, str(root / r.path), float(r.offset_s)) for r in rows],
            clips,
            seconds=clip["seconds"],
            sample_rate=clip["sample_rate"],
        )
        spectrogram_bucket(tracks, clips, pngs, spectrogram=spec)  # rule spectrogram
        histogram_bucket(tracks, pngs, hists, features=feats)  # rule histograms
        histograms.append(str(hists))
    # rule features
    features = out / "features"
    features.mkdir(parents=True, exist_ok=True)
    feature_tables(
        Covered(root / "results" / "manifest.parquet", out / "histograms", n_buckets, []),
        {name: features / f"{name}.parquet" for name in ("color", "deriv", "raw")},
        features=feats,
    )


def run_loop(root: Path, spec_path: Path) -> tuple[float, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loop", str(root), str(spec_path)]
    return timed(cmd, root, "the loop")


def check_same(root: Path, n_tracks: int) -> None:
    """Snakemake and the loop wrote the same images, histograms and feature tables."""
    import pandas as pd

    a, b = root / "results", root / LOOP_RESULTS
    pngs = sorted(p.relative_to(a) for p in (a / "spectrograms").rglob("*.png"))
    assert len(pngs) == n_tracks, (len(pngs), n_tracks)
    for rel in pngs:
        if (a / rel).read_bytes() != (b / rel).read_bytes():
            raise SystemExit(
                f"snakemake and the loop differ: {rel} (is loop() in step with tracks.smk?)"
            )
    for name in ("color", "deriv", "raw"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / f"features/{name}.parquet"),
            pd.read_parquet(b / f"features/{name}.parquet"),
        )


def clean(root: Path) -> None:
    """Remove what the timed runs make, keeping the corpus and the manifest."""
    for rel in (
        "clips",
        "spectrograms",
        "histograms",
        "features",
        "logs/clip",
        "logs/spectrogram",
        "logs/histograms",
    ):
        shutil.rmtree(root / "results" / rel, ignore_errors=True)
    shutil.rmtree(root / LOOP_RESULTS, ignore_errors=True)


def print_py_spy(path: Path, top: int = 40) -> None:
    """Where the sampled time went: per thread, and per function (inclusive)."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[frames[0]] += n
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames[1:]}:
            inclusive[name] += n
    print(f"py-spy: {total} samples (50/s) in {path}")
    for name, n in threads.most_common(4):
        print(f"{n:7d} {name}")
    for name, n in inclusive.most_common(top):
        print(f"{n:7d} {100 * n / total:5.1f}% {name[:120]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=600)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep the project here (default: temp)")
    parser.add_argument(
        "--reuse", action="store_true", help="with --workdir: keep its corpus and manifest"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument(
        "--snakemake-args", default="", help="extra arguments for the timed snakemake run"
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="sample the timed snakemake run with py-spy (on PATH) and print where time goes",
    )
    parser.add_argument(
        "--loop", nargs=2, type=Path, metavar=("ROOT", "SPEC"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.loop:
        loop(*args.loop)
        return

    with tempfile.TemporaryDirectory(prefix="orchestration-") as tmp:
        root = (args.workdir or Path(tmp)).resolve()
        spec_path = root / "resolved.json"
        reuse = args.reuse and (root / "results" / "manifest.parquet").exists()
        if reuse:
            n_found = len(list((root / "corpus").glob("*/*.*")))
            if n_found != args.tracks:
                raise SystemExit(f"--reuse: {root} holds {n_found} tracks, not {args.tracks}")
            print(f"reusing the corpus and manifest in {root}", flush=True)
        else:
            if args.workdir:
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
            t0 = time.perf_counter()
            write_corpus(root, args.tracks, workers=max(1, os.cpu_count() or 1))
            config = project_config(root)
            (root / "config.yaml").write_text(json.dumps(config, indent=1))  # YAML is JSON
            spec_path.write_text(json.dumps(resolved_config(config)))
            print(f"corpus: {args.tracks} tracks in {time.perf_counter() - t0:.1f}s", flush=True)
            t0 = time.perf_counter()
            snakemake(root, args.cores, "results/manifest.parquet")
            print(f"manifest (untimed): {time.perf_counter() - t0:.1f}s", flush=True)

        n = args.tracks
        extra = shlex.split(args.snakemake_args)
        runs = []
        for attempt in range(args.repeat):
            clean(root)
            spy = root / f"py-spy-{attempt}.txt" if args.py_spy else None
            smk, smk_cpu = snakemake(
                root, args.cores, "results/features/color.parquet", *extra, py_spy=spy
            )
            print(
                f"snakemake --cores {args.cores}: wall {smk:.2f}s ({1000 * smk / n:.1f} ms/track),"
                f" cpu {smk_cpu:.2f}s ({1000 * smk_cpu / n:.1f} ms/track)",
                flush=True,
            )
            plain, plain_cpu = run_loop(root, spec_path)
            print(
                f"plain loop (1 process): wall {plain:.2f}s ({1000 * plain / n:.1f} ms/track),"
                f" cpu {plain_cpu:.2f}s ({1000 * plain_cpu / n:.1f} ms/track)",
                flush=True,
            )
            check_same(root, n)
            runs.append((smk, smk_cpu, plain, plain_cpu))
            if spy is not None:
                print_py_spy(spy)
        smk, smk_cpu, plain, plain_cpu = (min(col) for col in zip(*runs, strict=True))
        print(
            f"cpu_ratio={smk_cpu / plain_cpu:.3f} loadavg_1min={os.getloadavg()[0]:.1f} "
            f"cpus={os.cpu_count()} (wall ratios mean little while the load exceeds the cpus)"
        )
        print(f"orchestration_overhead={smk / plain:.3f} tracks={n}")


if __name__ == "__main__":
    main()
