"""bench/dag_scale.py plans synthetic projects of a few tracks, so a broken bench fails CI.

It writes a manifest as if the checkpoint had run and dry-runs the paper config's DAG
(controls and robustness suite included) with the real Snakemake CLI. Only the output's
form is checked here.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "dag_scale.py"
SIZES = (12,)
SIZE_LINE = re.compile(
    r"^tracks=(\d+) dag_seconds=(\S+) peak_rss_mib=(\d+) full_dry_run_seconds=(\S+)"
    r" full_peak_rss_mib=(\d+) jobs=(\d+)$"
)


def test_bench_plans_tiny_projects(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", *map(str, SIZES), "--full"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its temporary projects go here
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(SIZES) + 1, lines
    for n, line in zip(SIZES, lines, strict=False):
        m = SIZE_LINE.match(line)
        assert m, line
        assert int(m.group(1)) == n
        assert all(math.isfinite(float(m.group(i))) for i in (2, 4))
        assert int(m.group(6)) > 0  # the plain dry run printed its job count
    summary = dict(field.split("=") for field in lines[-1].split())
    assert summary.keys() == {f"dag_seconds_{n}" for n in SIZES}, lines[-1]
    assert all(math.isfinite(float(s)) and float(s) > 0 for s in summary.values())
    assert not list(tmp_path.glob("dag-scale-*"))  # its temporary projects are gone
