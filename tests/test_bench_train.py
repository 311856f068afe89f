"""bench/train.py runs end to end on tiny input and prints its figures, so a broken bench
fails CI (the figures' values are timings: only their form is checked)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "train.py"

NUMBER = r"(\d+(?:\.\d+)?)"


def test_bench_train_smoke_prints_its_figures(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--device", "cpu", "--tmp", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    last = re.fullmatch(rf"cnn_input_efficiency={NUMBER} device=cpu", lines[-1])
    assert last, lines[-1]
    cpu = re.fullmatch(
        rf"cnn_cpu_speedup={NUMBER} cnn_gflops_fraction={NUMBER} cnn_cpu_speedup_bf16={NUMBER}",
        lines[-2],
    )
    assert cpu, lines[-2]
    figures = [float(x) for x in (*cpu.groups(), last.group(1))]
    assert all(x > 0 for x in figures), figures
    assert any(line.startswith("PaperCNN plain fp32 NCHW loop (real):") for line in lines)
    assert any(line.startswith("PaperCNN bf16 autocast (real):") for line in lines)
    assert any(line.startswith("HistogramMLP  (     real):") for line in lines)
    assert any(line.startswith("ResNet18 backbone pass (     real):") for line in lines)
    assert any(line.startswith("ResNet18 full (     real):") for line in lines)
    assert not list(tmp_path.iterdir()), "the bench left files behind"
