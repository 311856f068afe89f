"""bench/gpu_check.sh parses, and where there is no CUDA GPU it stops at once, saying so."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def test_gpu_check_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_gpu_check_without_a_gpu_fails_fast_with_the_reason(tmp_path):
    # a PATH with the tools the script needs before its GPU check, and no nvidia-smi
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "mktemp"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [shutil.which("bash"), str(SCRIPT)], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "no CUDA GPU here: nvidia-smi is not installed" in proc.stderr
