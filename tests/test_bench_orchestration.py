"""bench/orchestration.py runs end to end on a few tracks, so a broken bench fails CI.

It runs the real Snakemake CLI and then the plain loop (the library calls of the
per-track and fan-in `run:` blocks), and checks that both
wrote the same images and feature tables. Only the summary's form is checked here.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "orchestration.py"


def test_bench_runs_on_a_few_tracks(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--tracks", "4", "--cores", "2", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its temporary project goes here
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    summary = dict(field.split("=") for field in lines[-1].split())
    assert summary.keys() == {"orchestration_overhead", "tracks"}, lines[-1]
    assert summary["tracks"] == "4"
    overhead = float(summary["orchestration_overhead"])
    assert math.isfinite(overhead) and overhead > 0
    assert any(line.startswith("snakemake --cores 2: wall") for line in lines)
    assert not list(tmp_path.glob("orchestration-*"))  # its temporary project is gone
