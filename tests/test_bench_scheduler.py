"""bench/scheduler.py runs a tiny queue of jobs through the real CLI twice, so a broken
bench fails CI; the fixed run starts no more threads than the stock one."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
LAST = re.compile(r"^scheduler_cpu_ratio=(\S+) threads_stock=(\d+) threads_fixed=(\d+)$")


def test_bench_runs_a_tiny_queue(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scheduler.py"), "--jobs", "12", "--seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = LAST.match(proc.stdout.strip().splitlines()[-1])
    assert m, proc.stdout
    ratio, stock, fixed = float(m[1]), int(m[2]), int(m[3])
    assert ratio > 0
    assert fixed <= stock, (fixed, stock)
