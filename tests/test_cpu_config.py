"""Denormal floats are flushed to zero in torch's worker threads too, at every entry point
that trains or runs a torch model on the CPU (synthdetect.cpu.configure_cpu), and from
then on freed memory is reused instead of faulted in afresh.

Each check runs in a fresh interpreter: the thread pool and the MXCSR registers belong to
the process. Before each entry point the flag is cleared in every thread (the same
OpenMP-region mechanism, with the flag off), so an entry point that does not configure
the CPU fails."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import ctypes
import numpy as np
import torch
from synthdetect import cpu

torch.set_num_threads(2)
torch.ones(1 << 20).sum()  # start the OpenMP worker threads before anything is set

def unflush():
    body = cpu._BODY(lambda _d: torch.set_flush_denormal(False))
    for lib in cpu._libgomps():
        lib.GOMP_parallel(body, None, 2, 0)

def check(name, call):
    unflush()
    assert not cpu.flushes_denormals(), f"{name}: could not clear the flag"
    call()
    assert cpu.flushes_denormals(), f"{name}: denormals still computed in some thread"
    print("ok", name)
"""


def run(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if line.startswith("ok ")]


def test_calling_thread_alone_is_not_enough_and_configure_cpu_sets_every_worker():
    out = run(
        """
        unflush()
        torch.set_flush_denormal(True)  # the calling thread only
        assert not cpu.flushes_denormals(), "workers flush after set_flush_denormal alone"
        check("configure_cpu", lambda: cpu.configure_cpu(2))
        torch.set_num_threads(1)
        torch.set_num_threads(2)
        assert cpu.flushes_denormals(), "a changed thread count lost the flag"
        """
    )
    assert out == ["ok configure_cpu"]


def test_training_and_inference_entry_points_flush_denormals(tmp_path):
    out = run(
        f"""
        from synthdetect.corpora import autoencoder
        from synthdetect.models import networks, resnet18, run, training
        from synthdetect.serving import scoring

        X = np.random.default_rng(0).random((16, 4), dtype=np.float32)
        y = np.arange(16) % 2
        imgs = np.zeros((2, 32, 32, 3), np.uint8)
        mlp = networks.HistogramMLP(4)
        fit = dict(epochs=1, lr=1e-3, batch_size=8, seed=0, device="cpu", progress=False)
        check("train_classifier", lambda: training.train_classifier(mlp, (X, y), (X, y), **fit))
        check("predict_logits", lambda: training.predict_logits(mlp, X, device="cpu"))
        net = resnet18.build_resnet18("none")
        check("backbone_features", lambda: training.backbone_features(net, imgs, 2, "cpu"))
        check(
            "train_resnet18_head",
            lambda: training.train_resnet18_head(net, imgs, y[:2], imgs, y[:2], **fit),
        )
        data = run.SplitData({{"train": X, "val": X}}, {{"train": y, "val": y}}, {{}})
        hp = dict(hidden=[8, 4], epochs=1, lr=1e-3, batch_size=8)
        out = {str(tmp_path)!r}
        check(
            "workflow fit",
            lambda: run.fit(
                "mlp_deriv", data, out + "/m.pt", out + "/h.parquet", out + "/c.png",
                seed=0, hp=hp, device="cpu", threads=2,
            ),
        )
        # evaluation, robustness and predict (serving.scoring) call training.set_threads
        assert training.set_threads is cpu.configure_cpu
        assert "training.set_threads(threads)" in open(scoring.__file__).read()
        ae = autoencoder.WaveAutoencoder(autoencoder.check_settings(None))
        clips = [np.zeros(8192, np.float32)]
        check(
            "autoencoder training",
            lambda: autoencoder.train_autoencoder(
                clips, None, seed=0, max_steps=1, max_seconds=60, batch_size=1, threads=2
            ),
        )
        check(
            "autoencoder.reconstruct",
            lambda: autoencoder.reconstruct(ae, np.zeros(4096, np.float32), threads=2),
        )
        """
    )
    assert len(out) == 7, out


def test_configure_cpu_has_training_reuse_freed_memory_instead_of_faulting_it_in_again():
    out = run(
        """
        import resource
        from torch import nn
        from synthdetect.models.networks import PaperCNN

        net = PaperCNN().to(memory_format=torch.channels_last)  # 224 px: ~50 MB activations
        opt = torch.optim.Adam(net.parameters(), fused=True)
        x = torch.randn(16, 3, 224, 224).contiguous(memory_format=torch.channels_last)
        y = (torch.arange(16) % 2).float()

        def faults_per_step():
            def step():
                loss = nn.functional.binary_cross_entropy_with_logits(net(x).reshape(-1), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            for _ in range(3):  # warm-up: the heap grows to the step's peak
                step()
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(3):
                step()
            return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3

        cpu.configure_cpu(2, reuse_memory=False)
        assert not cpu.reuses_freed_memory()
        untuned = faults_per_step()
        assert untuned > 100, untuned  # glibc maps and unmaps the big blocks every step
        cpu.configure_cpu(2)
        assert cpu.reuses_freed_memory()
        tuned = faults_per_step()
        assert tuned * 5 < untuned, (tuned, untuned)
        print("ok reuse", untuned, tuned, flush=True)
        """
    )
    assert len(out) == 1 and out[0].startswith("ok reuse"), out
