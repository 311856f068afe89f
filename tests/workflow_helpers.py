"""Drive the real Snakemake CLI in a temporary directory, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

#: Tiny settings so a whole run takes seconds: small images, few trees and epochs.
TINY = {
    "seed": 0,
    "buckets": 4,
    "spectrogram": {"size": [32, 32], "n_fft": 512, "hop_length": 256},
    "split": {"train": 0.6, "val": 0.2, "test": 0.2},
    "models": {
        "device": "cpu",
        "rf": {"n_estimators": 20},
        "mlp": {"epochs": 3},
        "cnn": {"epochs": 2, "batch_size": 4},
        "resnet18": {"weights": "none", "epochs": 2, "batch_size": 4},
    },
}


def folder_config(corpus: Path, results: Path, **overrides) -> dict:
    config = {
        **TINY,
        "results": str(results),
        "sources": {
            "human": {"kind": "folder", "label": "human", "path": str(corpus / "human")},
            "ai": {"kind": "folder", "label": "ai", "path": str(corpus / "ai")},
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 1200, repo: Path = REPO
):
    """Run ``snakemake`` on the Snakefile of ``repo`` (this repository unless a copy is
    given) with ``workdir`` as working directory."""
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(repo / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-6000:]}"
        )
    return proc


def jobs_run(output: str) -> dict[str, int]:
    """Jobs per rule that a real run finished (counted from its log lines)."""
    counts: dict[str, int] = {}
    for rule in re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", output):
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's 'Job stats' table (what a dry run plans)."""
    counts: dict[str, int] = {}
    match = re.search(r"Job stats:\n(.*?)\n\n", output, re.S)
    if not match:
        return counts
    for line in match.group(1).splitlines()[2:]:
        parts = line.split()
        if len(parts) == 2 and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts
