"""How long Snakemake takes to plan the paper DAG at 6,000 and 50,000 tracks.

Builds a synthetic project per size: two folder sources of empty audio files, their
candidate tables and a manifest written as if the checkpoint had run, so a dry run
plans every per-track job (3 per track) plus the fan-ins and models. Times
`snakemake -n` (wall) and its peak memory (getrusage of the child).

    python bench/dag_scale.py [--sizes 6000 50000]

Last line: ``dag_seconds_6000=<s> dag_seconds_50000=<s>``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def make_project(root: Path, n_tracks: int) -> None:
    """Empty audio files, candidate tables and a manifest for ``n_tracks`` tracks."""
    half = n_tracks // 2
    sources = {"human": "human", "ai": "ai"}
    config = {"results": "results", "sources": {}}
    tables = []
    for name, label in sources.items():
        folder = root / "audio" / name
        folder.mkdir(parents=True)
        ids = [f"{name}{i:06d}" for i in range(half)]
        for track in ids:
            (folder / f"{track}.flac").touch()
        config["sources"][name] = {"kind": "folder", "label": label, "path": f"audio/{name}"}
        tables.append(pd.DataFrame({
            "source": name, "track": ids, "recording": ids, "label": label,
            "path": [f"audio/{name}/{t}.flac" for t in ids], "duration_s": 30.0,
        }))
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    results = root / "results"
    (results / "candidates").mkdir(parents=True)
    for name, table in zip(sources, tables, strict=True):
        table.to_parquet(results / "candidates" / f"{name}.parquet", index=False)
    manifest = pd.concat(tables, ignore_index=True)
    manifest["y"] = (manifest.label == "ai").astype("int8")
    manifest["offset_s"] = 0.0
    manifest["clip_s"] = 30.0
    manifest["split"] = ["train", "train", "train", "train", "train", "train", "train",
                         "val", "test", "test"] * (len(manifest) // 10) + ["train"] * (
        len(manifest) % 10)
    time.sleep(0.01)
    manifest.to_parquet(results / "manifest.parquet", index=False)
    manifest.head(0).assign(reason="").to_parquet(results / "excluded.parquet", index=False)


def plan(root: Path) -> tuple[float, float, str]:
    """Wall seconds and peak MiB of one dry run, and its output."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "-n", "--quiet",
           "rules", "--cores", "8", "--configfile=config.yaml"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return wall, max(peak, before) / 1024, proc.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 50000])
    args = parser.parse_args(argv)
    results = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, n)
            # the manifest was "made" after its inputs: mark the checkpoint complete
            os.utime(root / "results" / "manifest.parquet")
            wall, peak, out = plan(root)
        jobs = sum(int(line.split()[-1]) for line in out.splitlines()
                   if line.strip() and line.split()[-1].isdigit() and "total" not in line)
        print(f"tracks={n} dry_run_seconds={wall:.2f} peak_rss_mib={peak:.0f}", flush=True)
        del jobs
        results[n] = wall
    print(" ".join(f"dag_seconds_{n}={s:.2f}" for n, s in results.items()))


if __name__ == "__main__":
    main()
