"""bench/scaling.py runs the workflow stage by stage on 20 generated tracks and reports
ms per track, so a broken bench fails CI (only the form of its output is checked)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "scaling.py"


@pytest.mark.workflow
def test_bench_scaling_smoke_reports_every_stage(tmp_path):
    results, figure = tmp_path / "scaling.json", tmp_path / "scaling.png"
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, str(BENCH), "--smoke", "--results", str(results)]
    cmd += ["--plot", str(figure), "--tmp", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    m = re.fullmatch(r"ms_per_track_20=(\d+\.\d)", lines[-1])
    assert m and float(m.group(1)) > 0, lines[-1]
    (run,) = json.loads(results.read_text())
    assert run["tracks"] == 20
    for stage in ("manifest", "clip", "spectrogram", "train_torch", "table1"):
        assert stage in run["stages"] and run["stages"][stage] >= 0
        assert any(line.startswith(stage) for line in lines), stage
    assert set(run["models"]) == {"rf_deriv", "cnn"}  # from the workflow's benchmark files
    assert run["whole"] >= sum(run["stages"].values())
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(work.iterdir()), "the bench left its project behind"
