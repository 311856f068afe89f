#!/usr/bin/env python
"""What the workflow costs as the corpus grows: ms per track per stage, Table 1 only.

For each size N (default 200, 1,000 and 3,000) generates N tracks with
``orchestration.write_corpus`` (half OGG "human", half FLAC "ai", 30-35 s; untimed) and
runs the real Snakemake CLI towards ``results/report/table1.csv`` one stage at a time
(asking for that stage's output files, in the DAG's order), so each invocation's wall
time is one stage's jobs plus Snakemake's start and DAG. A final invocation with nothing
left to do measures that fixed part, which is subtracted from every stage (and shown on
its own); the whole run is the stages plus one fixed part, as one invocation takes.
CPU seconds (user + system of Snakemake and its jobs) are recorded beside wall time:
on a shared machine they depend less on the other load. The models
train with small epochs (config overrides below), ResNet18 from random weights (the
same cost as ImageNet's, without the download). Each model's own training time comes
from the workflow's ``benchmark:`` files.

Results accumulate by size in ``--results`` (JSON), so sizes measured at different times
combine; the per-stage linear fit ``seconds = a + b N`` over every stored size gives the
extrapolation to ``--extrapolate`` sizes (default 6,000 and 50,000). ``--plot PNG``
draws ms per track per stage against N.

    python bench/scaling.py [--sizes 200 1000 3000] [--cores 2] [--results F.json] [--plot F.png]
    python bench/scaling.py --smoke          # 20 tracks, 32-pixel spectrograms, 2 models

Last line: ``ms_per_track_<N>=<whole run> ...`` for each size measured in this call (all
stored sizes with ``--sizes`` and no number).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import (  # noqa: E402
    SNAKEFILE,
    SNAKEMAKE,
    project_config,
    resolved_config,
    timed,
    write_corpus,
)

TARGET = "results/report/table1.csv"
#: Table 1's stages in the order they run
STAGES = (
    "manifest",
    "clip",
    "spectrogram",
    "histograms",
    "features",
    "image_cache",
    "train_sklearn",
    "train_torch",
    "evaluate",
    "table1",
)


def stage_targets(root: Path, config: dict) -> dict[str, list[str]]:
    """Each stage's output files (the track stages' bucket folders read off the
    manifest), so that asking Snakemake for them runs that stage's jobs and no more."""
    import pandas as pd

    from synthdetect.models import registry
    from synthdetect.pipeline.buckets import bucket_of

    manifest = pd.read_parquet(root / "results" / "manifest.parquet")
    pairs = zip(manifest.source, manifest.track, strict=True)
    buckets = sorted({bucket_of(s, t, config["buckets"]) for s, t in pairs})
    models = [registry.get(m) for m in config["models"]["enabled"]]
    return {
        "manifest": ["results/manifest.parquet"],
        **{
            rule: [f"results/{folder}/{b}" for b in buckets]
            for rule, folder in (
                ("clip", "clips"),
                ("spectrogram", "spectrograms"),
                ("histograms", "histograms"),
            )
        },
        "features": ["results/features/color.parquet"],
        "image_cache": [f"results/images/{s}.npy" for s in ("train", "val", "test")],
        **{
            f"train_{trainer}": [
                f"results/models/{m.name}.{m.family.weights}"
                for m in models
                if m.family.trainer == trainer
            ]
            for trainer in ("sklearn", "torch")
        },
        "evaluate": [f"results/metrics/{m.name}.json" for m in models],
        "table1": [TARGET],
    }


#: small epochs: the bench measures how cost grows, not the models' quality
MODELS = {
    "device": "cpu",
    "rf": {"n_estimators": 50},
    "mlp": {"epochs": 5},
    "cnn": {"epochs": 1},
    "resnet18": {"weights": "none", "epochs": 2},
}
#: --smoke: tiny images, few buckets, one model of each trainer
SMOKE = {"spectrogram": {"size": [32, 32]}, "buckets": 4}
SMOKE_MODELS = {"enabled": ["rf_deriv", "cnn"], "rf": {"n_estimators": 10}}


def project(root: Path, n_tracks: int, smoke: bool, device: str) -> dict:
    """The generated corpus and a Table 1 config for it in ``root``; the resolved config."""
    write_corpus(root, n_tracks, workers=os.cpu_count() or 1)
    config = project_config(root)
    config["models"] = {**MODELS, "device": device}
    if smoke:
        config.update(SMOKE)
        config["models"].update(SMOKE_MODELS)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return resolved_config(config)


def snakemake(root: Path, cores: int, targets: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (Snakemake and its jobs) of one invocation."""
    cmd = [str(SNAKEMAKE), *targets, "-s", str(SNAKEFILE), "--directory", str(root)]
    cmd += ["--cores", str(cores), "--configfile", "config.yaml"]
    return timed(cmd, root, f"snakemake {' '.join(targets[:3])}")


def model_seconds(root: Path) -> dict[str, float]:
    """Each model's training wall seconds, from the workflow's benchmark files."""
    out = {}
    for tsv in sorted((root / "results" / "benchmarks" / "train").glob("*.tsv")):
        with tsv.open() as f:
            out[tsv.stem] = float(next(csv.DictReader(f, delimiter="\t"))["s"])
    return out


def measure(n_tracks: int, cores: int, smoke: bool, device: str, parent: str | None) -> dict:
    """Wall seconds of each stage (fixed part subtracted) and of the whole run at one size."""
    root = Path(tempfile.mkdtemp(prefix=f"synthdetect-scaling-{n_tracks}-", dir=parent))
    try:
        t0 = time.perf_counter()
        config = project(root, n_tracks, smoke, device)
        print(f"# {n_tracks} tracks generated in {time.perf_counter() - t0:.0f} s (untimed)")
        walls, cpus, targets = {}, {}, {"manifest": ["results/manifest.parquet"]}
        for rule in STAGES:
            walls[rule], cpus[rule] = (
                snakemake(root, cores, targets[rule]) if targets[rule] else (0.0, 0.0)
            )
            print(f"#   {rule:<14s} {walls[rule]:8.1f} s wall {cpus[rule]:8.1f} s CPU", flush=True)
            if rule == "manifest":
                targets = stage_targets(root, config)
        # nothing left to do: start-up and DAG only
        fixed, fixed_cpu = snakemake(root, cores, [TARGET])
        stages = {rule: max(w - fixed, 0.0) for rule, w in walls.items()}
        stages_cpu = {rule: max(c - fixed_cpu, 0.0) for rule, c in cpus.items()}
        return {
            "tracks": n_tracks,
            "stages": stages,
            "fixed_per_call": fixed,
            "whole": sum(stages.values()) + fixed,  # as one invocation would take
            "stages_cpu": stages_cpu,
            "fixed_cpu_per_call": fixed_cpu,
            "whole_cpu": sum(stages_cpu.values()) + fixed_cpu,
            "models": model_seconds(root),
            "cores": cores,
            "device": device,
            "load": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fit(sizes: list[int], seconds: list[float]) -> tuple[float, float] | None:
    """Least-squares ``a + b N``; None with fewer than two sizes."""
    if len(set(sizes)) < 2:
        return None
    import numpy as np

    b, a = np.polyfit(np.asarray(sizes, float), np.asarray(seconds, float), 1)
    return float(a), float(b)


def report(runs: list[dict], extrapolate: list[int]) -> None:
    runs = sorted(runs, key=lambda r: r["tracks"])
    sizes = [r["tracks"] for r in runs]
    names = [*STAGES, "fixed (per call)", "whole run"]
    head = "".join(f"{n:>10d}" for n in sizes)
    print(
        f"\nms per track          {head}   fit a + b N (s)       "
        + "".join(f"{n:>10d}" for n in extrapolate)
    )
    for name in names:
        secs = [
            r["whole"]
            if name == "whole run"
            else r["fixed_per_call"]
            if name.startswith("fixed")
            else r["stages"][name]
            for r in runs
        ]
        row = "".join(f"{1000 * s / n:10.1f}" for s, n in zip(secs, sizes, strict=True))
        ab = fit(sizes, secs)
        if ab is None:
            tail = "   (one size: no fit)"
        else:
            a, b = ab
            tail = f"   {a:8.1f} + {b:7.4f} N " + "".join(
                f"{(a + b * n) / 60:9.1f}m" for n in extrapolate
            )
        print(f"{name:<22s}{row}{tail}")
    print("(extrapolated columns: minutes of wall time at that many tracks)")
    timed_cpu = [r for r in runs if "whole_cpu" in r]
    if timed_cpu:
        cpu_sizes = [r["tracks"] for r in timed_cpu]
        print(
            "\nCPU ms per track (Snakemake and its jobs; less sensitive to a shared machine)"
            + "".join(f"{n:>10d}" for n in cpu_sizes)
        )
        for name in (*STAGES, "whole run"):
            secs = [
                r["whole_cpu"] if name == "whole run" else r["stages_cpu"][name] for r in timed_cpu
            ]
            row = "".join(f"{1000 * c / n:10.1f}" for c, n in zip(secs, cpu_sizes, strict=True))
            ab = fit(cpu_sizes, secs)
            tail = (
                "   (one size: no fit)"
                if ab is None
                else f"   {ab[0]:8.1f} + {ab[1]:7.4f} N "
                + "".join(f"{(ab[0] + ab[1] * n) / 60:9.1f}m" for n in extrapolate)
            )
            print(f"{name:<22s}{row}{tail}")
        print("(extrapolated columns: CPU minutes; divide by the cores for the least wall time)")
    for r in runs:
        models = ", ".join(f"{k} {v:.1f} s" for k, v in r["models"].items())
        print(f"# {r['tracks']} tracks, {r['date']}, load {r['load']}: training {models}")


def plot(runs: list[dict], path: Path, extrapolate: list[int]) -> None:
    from synthdetect.figures import new_figure, save_figure

    runs = sorted(runs, key=lambda r: r["tracks"])
    sizes = [r["tracks"] for r in runs]
    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    for rule in STAGES:
        ms = [1000 * r["stages"][rule] / r["tracks"] for r in runs]
        if max(ms) > 0:
            ax.plot(sizes, ms, marker="o", label=rule)
    ax.plot(
        sizes,
        [1000 * r["whole"] / r["tracks"] for r in runs],
        marker="s",
        color="black",
        linewidth=2,
        label="whole run",
    )
    ab = fit(sizes, [r["whole"] for r in runs])
    if ab is not None:  # the linear fit, as ms per track, out to the extrapolated sizes
        import numpy as np

        n = np.geomspace(min(sizes), max([*sizes, *extrapolate]), 50)
        a, b = ab
        ax.plot(n, 1000 * (a + b * n) / n, "k--", linewidth=1, label="whole run, linear fit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tracks")
    ax.set_ylabel("wall ms per track")
    ax.set_title(f"Table 1 workflow on {runs[0]['cores']} cores (small epochs)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[200, 1000, 3000],
        help="tracks per run; none: only report (and plot) what --results holds",
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="the config's models.device (cpu, cuda)")
    ap.add_argument("--extrapolate", type=int, nargs="+", default=[6000, 50000])
    ap.add_argument("--results", type=Path, help="JSON where measurements accumulate by size")
    ap.add_argument("--plot", type=Path, help="PNG of ms per track per stage against N")
    ap.add_argument("--tmp", default=None, help="parent of the temporary directories")
    ap.add_argument(
        "--smoke", action="store_true", help="20 tracks, 32-pixel spectrograms, two models"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes = [20]
    stored = {}
    if args.results is not None and args.results.exists():
        stored = {r["tracks"]: r for r in json.loads(args.results.read_text())}
    print(
        f"# {os.cpu_count()} CPUs, --cores {args.cores}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    new = []
    for n in args.sizes:
        new.append(measure(n, args.cores, args.smoke, args.device, args.tmp))
        stored[n] = new[-1]
        if args.results is not None:
            args.results.write_text(
                json.dumps(sorted(stored.values(), key=lambda r: r["tracks"]), indent=1)
            )
    runs = list(stored.values())
    if not runs:
        raise SystemExit("nothing measured: give --sizes, or --results with measurements")
    report(runs, args.extrapolate)
    if args.plot is not None:
        plot(runs, args.plot, args.extrapolate)
        print(f"# figure: {args.plot}")
    last = sorted(new or runs, key=lambda r: r["tracks"])
    print(
        " ".join(f"ms_per_track_{r['tracks']}={1000 * r['whole'] / r['tracks']:.1f}" for r in last)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
