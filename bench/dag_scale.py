"""How long Snakemake takes to plan the paper DAG at 6,000 and 50,000 tracks.

Builds a synthetic project per size: two folder sources of empty audio files, their
candidate tables and a manifest written as if the checkpoint had run, so the DAG holds
every per-track job (3 per bucket of tracks: config ``buckets``, default 64, so the
count no longer grows with the tracks) plus the fan-ins and models, and the paper
config's variants (codec controls and the robustness suite, each with its own bucket
jobs). Times
``snakemake -n --quiet`` -- DAG building, which also precedes every real run (with
``--quiet``'s default ``progress rules``, a dry run stops after the DAG, before simulating
the schedule) -- and its peak memory (the child's own max RSS, from wait4). ``--full``
also times a plain ``snakemake -n`` (DAG, then every job printed and "scheduled").

    python bench/dag_scale.py [--sizes 6000 50000] [--full] [--workdir DIR] [--snakefile F]

Last line: ``dag_seconds_6000=<s> dag_seconds_50000=<s>``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SNAKEFILE = REPO / "workflow" / "Snakefile"
SPLITS = ["train"] * 7 + ["val"] + ["test"] * 2


def make_project(root: Path, n_tracks: int) -> None:
    """Empty audio files, candidate tables and a manifest for ``n_tracks`` tracks."""
    half = n_tracks // 2
    sources = {"human": "human", "ai": "ai"}
    config = {"results": "results", "sources": {}, "models": {"device": "cpu"}}
    # the paper config's variants: codec controls and the robustness suite
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update({k: paper[k] for k in ("controls", "robustness", "cross_source") if k in paper})
    tables = []
    for name, label in sources.items():
        folder = root / "audio" / name
        folder.mkdir(parents=True)
        ids = [f"{name}{i:06d}" for i in range(half)]
        for track in ids:
            (folder / f"{track}.flac").touch()
        config["sources"][name] = {"kind": "folder", "label": label, "path": f"audio/{name}"}
        tables.append(
            pd.DataFrame(
                {
                    "source": name,
                    "track": ids,
                    "recording": ids,
                    "label": label,
                    "path": [f"audio/{name}/{t}.flac" for t in ids],
                    "duration_s": 30.0,
                }
            )
        )
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    results = root / "results"
    (results / "candidates").mkdir(parents=True)
    for name, table in zip(sources, tables, strict=True):
        table.to_parquet(results / "candidates" / f"{name}.parquet", index=False)
    manifest = pd.concat(tables, ignore_index=True)
    manifest["y"] = (manifest.label == "ai").astype("int8")
    manifest["offset_s"] = 0.0
    manifest["clip_s"] = 30.0
    manifest["split"] = (SPLITS * (len(manifest) // len(SPLITS) + 1))[: len(manifest)]
    manifest.to_parquet(results / "manifest.parquet", index=False)
    manifest.head(0).assign(reason="").to_parquet(results / "excluded.parquet", index=False)
    # the checkpoint "ran" after its inputs: its outputs are newer than the candidates
    later = time.time() + 1
    for name in ("manifest.parquet", "excluded.parquet"):
        os.utime(results / name, (later, later))


def plan(root: Path, *args: str, snakefile: Path = SNAKEFILE) -> tuple[float, float, str]:
    """Wall seconds and peak MiB (this child's own max RSS) of one dry run, and its log."""
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(snakefile),
        "-n",
        "--cores",
        "8",
        "--configfile=config.yaml",
        *args,
    ]
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        out = log.read()
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed ({proc.returncode}):\n{out[-4000:]}")
    return wall, usage.ru_maxrss / 1024, out


def job_total(log: str) -> int | None:
    match = re.search(r"^total\s+(\d+)$", log, re.M)
    return int(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 50000])
    parser.add_argument("--full", action="store_true", help="also time a plain `snakemake -n`")
    parser.add_argument("--workdir", type=Path, help="build the projects here (kept)")
    parser.add_argument(
        "--snakefile", type=Path, default=SNAKEFILE, help="plan another copy of the workflow"
    )
    args = parser.parse_args(argv)
    results = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="dag-scale-") as tmp:
            root = (args.workdir / f"tracks{n}") if args.workdir else Path(tmp)
            if not (root / "results" / "manifest.parquet").exists():
                make_project(root, n)
            wall, peak, _ = plan(root, "--quiet", snakefile=args.snakefile)
            line = f"tracks={n} dag_seconds={wall:.2f} peak_rss_mib={peak:.0f}"
            if args.full:
                full, full_peak, log = plan(root, snakefile=args.snakefile)
                line += (
                    f" full_dry_run_seconds={full:.2f} full_peak_rss_mib={full_peak:.0f}"
                    f" jobs={job_total(log)}"
                )
            print(line, flush=True)
            results[n] = wall
    print(" ".join(f"dag_seconds_{n}={s:.2f}" for n, s in results.items()))


if __name__ == "__main__":
    main()
