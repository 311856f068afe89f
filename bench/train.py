#!/usr/bin/env python
"""Training throughput of the neural models, synthetic input against the pipeline's input.

Builds the models as the workflow does (``synthdetect.models.run.build_network`` with the
config schema's defaults; ResNet18 with random weights, which costs the same as ImageNet's)
and trains them with ``synthdetect.models.training`` on whatever device is present (``--device``):

* **PaperCNN** - ``train_classifier`` on (a) a synthetic uint8 image array in memory and
  (b) the real input: the memory-mapped uint8 image cache that
  ``synthdetect.features.images.write_image_cache`` writes from spectrogram PNGs, which this script
  makes with the pipeline's own stages from generated audio. ``cnn_input_efficiency`` is
  (b)/(a) in images per second: what reading the cache costs training.
* **frozen ResNet18** - the backbone pass (``backbone_features``) on both inputs, then
  ``train_resnet18_head`` for the configured 10 epochs, checked against the goal: the
  whole frozen-ResNet18 training (backbone features of train + val, then 10 head epochs)
  costs at most 1.3x one backbone pass over the training set (the pass is taken from the
  same call's feature time, so machine load does not enter the ratio).
* **full ResNet18** - every layer trained (``freeze_backbone=False``) with
  ``train_classifier`` on both inputs, ``--resnet18-epochs`` epochs (by default on
  CUDA only: on a CPU it takes minutes).
* **HistogramMLP** - on the derivative histograms of the real PNGs against random ones.
* **CPU figures** (CPU only): ``cnn_cpu_speedup`` is ``train_classifier``'s PaperCNN
  rate on the real input over a plain fp32 NCHW training loop of the same network in
  the paper's layer order (Conv, BatchNorm, ReLU, MaxPool; unfused Adam; a fresh
  normalised tensor per batch), run in this process on the same input with denormals
  already flushed, so the denormal fix does not count. It runs first, while ``malloc``
  still has glibc's defaults: ``train_classifier`` (``configure_cpu``) then keeps freed
  memory for the rest of the process. ``cnn_gflops_fraction`` is the
  achieved training GFLOP/s (forward + backward FLOPs of a batch counted by
  ``torch.utils.flop_counter.FlopCounterMode``, times the real-input rate) over this
  process's 2048x2048 fp32 matmul rate. ``cnn_cpu_speedup_bf16`` is the same speed-up
  with ``precision="bf16"`` (``models.cnn.precision: bf16``, bf16 autocast on the CPU),
  the opt-in that trades fp32's numbers for speed.

Image throughput is training images per second of epoch time (an epoch's time includes
its validation pass, as the training log reports it); the first epoch of each run is not
counted when there are more. PNGs are made for ``--unique`` generated clips and the cache
cycles through them up to ``--n-train + --n-val`` rows. Writes only into a temporary
directory. The last line is ``cnn_input_efficiency=<real/synthetic> device=<name>``,
preceded on CPU by ``cnn_cpu_speedup=<x> cnn_gflops_fraction=<x> cnn_cpu_speedup_bf16=<x>``.
``--smoke`` runs it all on tiny input (a few 32-pixel images) to check that it runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schema_defaults import schema_defaults  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SR = 22050


# --------------------------------------------------------------------------- real input


def synth_clip(seed: int, seconds: float) -> np.ndarray:
    """Decaying harmonic notes and noise, mono float32 at 22.05 kHz; two 'styles'."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n, dtype=np.float32)
    t = np.arange(int(1.2 * SR), dtype=np.float32) / SR
    env = np.exp(-4.0 * t).astype(np.float32)
    step = 0.5 if seed % 2 else rng.uniform(0.25, 0.6)
    for start in np.arange(0.0, seconds, step):
        a = int(start * SR)
        m = min(t.size, n - a)
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        for h in range(1, (1 if seed % 2 else 4) + 1):
            y[a : a + m] += env[:m] * np.sin(2 * np.pi * f0 * h * t[:m]).astype(np.float32) / h
    y += (0.002 if seed % 2 else 0.03) * rng.standard_normal(n).astype(np.float32)
    return 0.3 * y / np.max(np.abs(y))


def make_pngs(root: Path, unique: int, cfg: dict) -> list[Path]:
    """Spectrogram PNGs of generated clips, made by the workflow's spectrogram stage."""
    from synthdetect.audio.io import write_clip
    from synthdetect.pipeline.stages import spectrogram_track

    pngs = []
    for i in range(unique):
        clip, png = root / "clips" / f"c{i}.flac", root / "pngs" / f"c{i}.png"
        write_clip(clip, synth_clip(i, cfg["clip"]["seconds"]), SR)
        spectrogram_track(clip, png, spectrogram=cfg["spectrogram"])
        pngs.append(png)
    return pngs


def mlp_features(pngs: list[Path], cfg: dict) -> np.ndarray:
    """The normalised derivative histograms of the PNGs (the mlp_deriv model's input)."""
    from synthdetect.features.histograms import normalise, track_histograms
    from synthdetect.features.spectrogram import load_png

    f = cfg["features"]
    rows = [
        track_histograms(load_png(p), color=f["color"], deriv=f["deriv"])["deriv"] for p in pngs
    ]
    return normalise(np.stack(rows).astype(np.float64)).astype(np.float32)


# --------------------------------------------------------------------------- measurements


def epoch_rate(result, n_train: int) -> float:
    """Training images per second of epoch time, the first epoch left out if there are more."""
    secs = result.history["seconds"].to_numpy()
    secs = secs[1:] if len(secs) > 1 else secs
    return n_train / float(np.mean(secs))


def matmul_gflops(device, n: int = 2048, repeat: int = 10) -> float:
    """GFLOP/s of an n x n fp32 matrix product (2 n^3 FLOPs), best of ``repeat``."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeat + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def training_flops(net, X: np.ndarray, batch_size: int) -> float:
    """FLOPs per training image: forward + backward of one batch, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from synthdetect.models.networks import normalise

    xb = normalise(np.array(X[:batch_size]))
    with FlopCounterMode(display=False) as counter:
        net(xb).sum().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(xb)


def paper_order(net):
    """The same PaperCNN with each block in the paper's order: Conv, BN, ReLU, MaxPool."""
    import copy

    from torch import nn

    plain = copy.deepcopy(net)
    mods = list(plain.features)
    for i, m in enumerate(mods):
        if isinstance(m, nn.MaxPool2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU):
            mods[i], mods[i + 1] = mods[i + 1], mods[i]
    plain.features = nn.Sequential(*mods)
    return plain


def baseline_rate(net, train, val, *, epochs: int, lr: float, batch_size: int, seed: int):
    """Training images/s of a plain fp32 NCHW loop: what torch does with no tuning."""
    import torch
    from torch import nn

    from synthdetect.models.networks import normalise

    (Xtr, ytr), (Xva, yva) = train, val
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    ytr_t, yva_t = torch.tensor(ytr, dtype=torch.float32), torch.tensor(yva, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    secs = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        perm = rng.permutation(len(Xtr))
        for a in range(0, len(Xtr), batch_size):
            idx = np.sort(perm[a : a + batch_size])
            loss = loss_fn(net(normalise(Xtr[idx])).reshape(-1), ytr_t[idx])  # a copy
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            for a in range(0, len(Xva), batch_size):
                loss_fn(
                    net(normalise(np.array(Xva[a : a + batch_size]))).reshape(-1),
                    yva_t[a : a + batch_size],
                )
        secs.append(time.perf_counter() - t0)
    secs = secs[1:] if len(secs) > 1 else secs
    return len(Xtr) / float(np.mean(secs))


def input_rate(X: np.ndarray, device, batch_size: int, seed: int) -> float:
    """Images per second of the input path alone: training's own batch fetch + normalise,
    shuffled like an epoch, no model."""
    import torch

    from synthdetect.models.training import _Data  # the exact batch path train_classifier uses

    data = _Data(X, np.zeros(len(X), np.float32), device, batch_size)
    perm = np.random.default_rng(seed).permutation(len(X))
    t0 = time.perf_counter()
    for a in range(0, len(X), batch_size):
        xb = data.x(np.sort(perm[a : a + batch_size]))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    del xb
    return len(X) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="training images (default 128 on CPU, 16384 on CUDA)",
    )
    ap.add_argument(
        "--n-val",
        type=int,
        default=None,
        help="validation images (default n-train / 7: the 0.7 / 0.1 split)",
    )
    ap.add_argument("--unique", type=int, default=64, help="distinct spectrogram PNGs made")
    ap.add_argument("--cnn-epochs", type=int, default=3, help="PaperCNN epochs per input")
    ap.add_argument("--mlp-epochs", type=int, default=20)
    ap.add_argument(
        "--resnet18-epochs",
        type=int,
        default=None,
        help="full ResNet18 epochs, 0 to skip (default 2 on CUDA, 0 on CPU, 1 with --smoke)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", default=None, help="parent of the temporary directory")
    ap.add_argument(
        "--smoke", action="store_true", help="tiny input (32-pixel images), to check it runs"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.n_train, args.n_val = args.n_train or 16, args.n_val or 8
        args.unique, args.cnn_epochs, args.mlp_epochs = min(args.unique, 4), 2, 2

    import torch

    from synthdetect import cpu
    from synthdetect.features.images import open_image_cache, write_image_cache
    from synthdetect.models import training
    from synthdetect.models.resnet18 import build_resnet18
    from synthdetect.models.run import build_network

    cpu.configure_cpu(args.threads, reuse_memory=False)  # denormals flushed for all runs
    dev = training.pick_device(args.device)
    name = torch.cuda.get_device_name(dev).replace(" ", "_") if dev.type == "cuda" else "cpu"
    n_train = args.n_train or (16384 if dev.type == "cuda" else 128)
    if args.resnet18_epochs is None:
        args.resnet18_epochs = 2 if dev.type == "cuda" else int(args.smoke)
    n_val = args.n_val or max(n_train // 7, 8)
    cfg = schema_defaults("clip", "spectrogram", "features", "models")
    hp = cfg["models"]
    if args.smoke:
        cfg["spectrogram"]["size"] = [32, 32]
        cfg["models"]["resnet18"]["epochs"] = 2
    size = tuple(cfg["spectrogram"]["size"])
    print(
        f"# device {dev} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU "
        f"threads, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    tmp = Path(tempfile.mkdtemp(prefix="synthdetect-train-bench-", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        pngs = make_pngs(tmp, min(args.unique, n_train + n_val), cfg)
        rows = [pngs[i % len(pngs)] for i in range(n_train + n_val)]
        write_image_cache(rows[:n_train], tmp / "train.npy", size)
        write_image_cache(rows[n_train:], tmp / "val.npy", size)
        real_tr, real_va = open_image_cache(tmp / "train.npy"), open_image_cache(tmp / "val.npy")
        print(
            f"# {len(pngs)} PNGs by the spectrogram stage, image caches {real_tr.shape} + "
            f"{real_va.shape} in {time.perf_counter() - t0:.1f} s"
        )
        rng = np.random.default_rng(args.seed)
        syn_tr = rng.integers(0, 256, real_tr.shape, dtype=np.uint8)
        syn_va = rng.integers(0, 256, real_va.shape, dtype=np.uint8)
        y_tr = (np.arange(n_train) % 2).astype(np.int64)
        y_va = (np.arange(n_val) % 2).astype(np.int64)
        inputs = {"synthetic": (syn_tr, syn_va), "real": (real_tr, real_va)}

        # input path alone
        c = hp["cnn"]
        input_rate(syn_tr[: 4 * c["batch_size"]], dev, c["batch_size"], args.seed)  # warm-up
        for kind, (Xtr, _) in inputs.items():
            rate = input_rate(Xtr, dev, c["batch_size"], args.seed)
            print(f"input path only ({kind:>9s}): {rate:9.0f} img/s")

        # the PaperCNN settings both loops train with
        cnn_fit = dict(
            epochs=args.cnn_epochs, lr=c["lr"], batch_size=c["batch_size"], seed=args.seed
        )
        # CPU: first the plain, untuned loop on the real input, while malloc still has
        # glibc's defaults (train_classifier's configure_cpu changes them for the process)
        if dev.type == "cpu":
            assert not cpu.reuses_freed_memory(), "the baseline must run with malloc untuned"
            training.seed_everything(args.seed)
            plain = paper_order(build_network("cnn", c, image_size=size[0]))
            base = baseline_rate(plain, (real_tr, y_tr), (real_va, y_va), **cnn_fit)
            print(f"PaperCNN plain fp32 NCHW loop (real): {base:9.1f} img/s")

        # PaperCNN; on CPU also the opt-in bf16 autocast (models.cnn.precision: bf16)
        cnn_runs = [(kind, X, "auto") for kind, X in inputs.items()]
        if dev.type == "cpu":
            cnn_runs.append(("bf16", inputs["real"], "bf16"))
        cnn_rate = {}
        for kind, (Xtr, Xva), precision in cnn_runs:
            training.seed_everything(args.seed)
            net = build_network("cnn", c, image_size=size[0])
            res = training.train_classifier(
                net,
                (Xtr, y_tr),
                (Xva, y_va),
                **cnn_fit,
                device=dev,
                progress=False,
                precision=precision,
            )
            cnn_rate[kind] = epoch_rate(res, n_train)
            label = (
                "PaperCNN bf16 autocast (real)" if kind == "bf16" else f"PaperCNN      ({kind:>9s})"
            )
            print(
                f"{label}: {cnn_rate[kind]:9.1f} img/s "
                f"({args.cnn_epochs} epochs of {n_train} + {n_val} val)"
            )
        if dev.type == "cpu":
            flops = training_flops(plain, real_tr, c["batch_size"])
            peak = matmul_gflops(dev)
            achieved = flops * cnn_rate["real"] / 1e9
            print(
                f"PaperCNN training {flops / 1e9:.3f} GFLOP/img -> {achieved:.1f} GFLOP/s "
                f"(real input), 2048^2 fp32 matmul {peak:.1f} GFLOP/s"
            )

        # frozen ResNet18
        r = hp["resnet18"]
        fb = max(r["batch_size"], 64)  # train_resnet18_head's feature batch size
        backbone_s = {}
        for kind, (Xtr, _) in inputs.items():
            training.seed_everything(args.seed)
            net = build_network("resnet18", r, weights="none")
            t0 = time.perf_counter()
            training.backbone_features(net, Xtr, fb, dev)
            backbone_s[kind] = time.perf_counter() - t0
            print(f"ResNet18 backbone pass ({kind:>9s}): {n_train / backbone_s[kind]:9.1f} img/s")
        training.seed_everything(args.seed)
        net = build_network("resnet18", r, weights="none")
        res = training.train_resnet18_head(
            net,
            real_tr,
            y_tr,
            real_va,
            y_va,
            epochs=r["epochs"],
            lr=r["lr"],
            batch_size=r["batch_size"],
            seed=args.seed,
            device=dev,
            progress=False,
        )
        head_s = float(res.history["seconds"].sum())
        # one backbone pass over the training set, from the same call: its feature pass
        # covers train + val at the same rate
        train_pass = res.setup_seconds * n_train / (n_train + n_val)
        ratio = res.seconds / train_pass
        print(
            f"ResNet18 head: {r['epochs']} epochs in {head_s:.2f} s "
            f"({n_train * r['epochs'] / head_s:.0f} feature rows/s)"
        )
        print(
            f"frozen-ResNet18 goal: train_resnet18_head ({r['epochs']} epochs; backbone "
            f"features of train + val included) {res.seconds:.2f} s = {ratio:.2f}x one "
            f"backbone pass over the training set ({train_pass:.2f} s); the {r['epochs']} "
            f"head epochs alone {head_s / train_pass:.3f}x -> "
            f"{'met' if ratio <= 1.3 else 'MISSED'} (goal <= 1.3)"
        )

        # full ResNet18: the backbone trains too
        for kind, (Xtr, Xva) in inputs.items() if args.resnet18_epochs else ():
            training.seed_everything(args.seed)
            net = build_resnet18("none", freeze_backbone=False)
            res = training.train_classifier(
                net,
                (Xtr, y_tr),
                (Xva, y_va),
                epochs=args.resnet18_epochs,
                lr=r["lr"],
                batch_size=r["batch_size"],
                seed=args.seed,
                device=dev,
                progress=False,
            )
            print(
                f"ResNet18 full ({kind:>9s}): {epoch_rate(res, n_train):9.1f} img/s "
                f"({args.resnet18_epochs} epochs of {n_train} + {n_val} val)"
            )

        # HistogramMLP on the derivative histograms
        m = hp["mlp"]
        feats = mlp_features(pngs, cfg)
        real_f = feats[np.arange(n_train + n_val) % len(feats)]
        syn_f = rng.random(real_f.shape, dtype=np.float32)
        for kind, F in (("synthetic", syn_f), ("real", real_f)):
            training.seed_everything(args.seed)
            net = build_network("mlp_deriv", m, n_features=F.shape[1])
            res = training.train_classifier(
                net,
                (F[:n_train], y_tr),
                (F[n_train:], y_va),
                epochs=args.mlp_epochs,
                lr=m["lr"],
                batch_size=m["batch_size"],
                seed=args.seed,
                device=dev,
                progress=False,
            )
            print(f"HistogramMLP  ({kind:>9s}): {epoch_rate(res, n_train):9.0f} samples/s")

        if dev.type == "cpu":
            print(
                f"cnn_cpu_speedup={cnn_rate['real'] / base:.2f} "
                f"cnn_gflops_fraction={achieved / peak:.3f} "
                f"cnn_cpu_speedup_bf16={cnn_rate['bf16'] / base:.2f}"
            )
        print(f"cnn_input_efficiency={cnn_rate['real'] / cnn_rate['synthetic']:.2f} device={name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
