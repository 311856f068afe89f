"""bench/gpu_check.sh parses, and where there is no CUDA GPU it stops at once, saying so."""

import os
import shutil
import subprocess
import sys
import zipfile
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


def _fake_gpu_path(tmp_path: Path) -> str:
    """PATH with an nvidia-smi that names a GPU, then this Python's bin (its python3, torch)."""
    fake = tmp_path / "fake"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "Test GPU, 1 MiB, 0"\n')
    smi.chmod(0o755)
    return f"{fake}:{Path(sys.executable).parent}:{os.environ['PATH']}"


def _wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel holding one module, ``name``."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            zf.writestr(arc, text)
        zf.writestr(f"{dist}/RECORD", "".join(f"{arc},,\n" for arc in files) + f"{dist}/RECORD,,\n")
    return path


def _run_offline(tmp_path: Path, wheels: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": _fake_gpu_path(tmp_path),
        "GPU_CHECK_WHEELS": str(wheels),
        "GPU_CHECK_VENV": str(tmp_path / "venv"),
        "GPU_CHECK_LOGS": str(tmp_path / "logs"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300
    )


def test_gpu_check_offline_names_an_empty_wheel_folder(tmp_path):
    (tmp_path / "wheels").mkdir()
    proc = _run_offline(tmp_path, tmp_path / "wheels")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert f"GPU_CHECK_WHEELS={tmp_path / 'wheels'} holds no .whl files" in proc.stderr


def test_gpu_check_offline_venv_sees_the_parent_torch_and_the_wheels(tmp_path):
    # the parent python3 is this test's (its torch); the venv gets a wheel without an index
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "gpu_check_probe")
    proc = _run_offline(tmp_path, wheels)
    venv_python = tmp_path / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(venv_python), "-c", "import gpu_check_probe, torch; print(gpu_check_probe.VALUE)"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "1", (proc.stderr, probe.stderr)
    import torch

    if not torch.cuda.is_available():  # CI: stops after the install, naming the parent's torch
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        assert f"torch {torch.__version__} sees no CUDA device" in proc.stderr
