#!/usr/bin/env python
"""Do the CPU speed-ups change what the models learn? The same training, two code versions.

Trains PaperCNN and HistogramMLP (the config schema's hyper-parameters, ``--epochs``
epochs, seed 0) on the real input of ``bench/train.py`` (spectrogram PNGs of generated
clips made by the pipeline's stage, their image cache and derivative histograms) once
with this checkout's ``src`` and once with the ``src`` of git revision ``--rev``, each in
a fresh interpreter, and prints the largest absolute difference of the validation losses
(every epoch) and of the validation P(AI). Differences of a few 1e-6 are what another
summation order (fused Adam, flushed denormals, other kernels) explains.

    python bench/equivalence.py --rev main [--n-train 128] [--epochs 3]

Last line: ``max_abs_diff_val_loss=<x> max_abs_diff_p_ai=<x>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


def child(data: Path, out: Path, epochs: int) -> None:
    """One training run with whatever ``synthdetect`` is importable; results to ``out``."""
    sys.path.insert(0, str(BENCH))
    from schema_defaults import schema_defaults

    from synthdetect.features.images import open_image_cache
    from synthdetect.models import training
    from synthdetect.models.run import build_network

    hp = schema_defaults("models")["models"]
    Xtr, Xva = open_image_cache(data / "train.npy"), open_image_cache(data / "val.npy")
    F = np.load(data / "features.npy")
    ytr, yva = np.arange(len(Xtr)) % 2, np.arange(len(Xva)) % 2
    result = {}
    for name, (tr, va) in {
        "cnn": (Xtr, Xva),
        "mlp_deriv": (F[: len(Xtr)], F[len(Xtr) :]),
    }.items():
        h = hp["cnn" if name == "cnn" else "mlp"]
        training.seed_everything(0)
        net = (
            build_network(name, h, image_size=Xtr.shape[1])
            if name == "cnn"
            else build_network(name, h, n_features=F.shape[1])
        )
        res = training.train_classifier(
            net,
            (tr, ytr),
            (va, yva),
            epochs=epochs,
            lr=h["lr"],
            batch_size=h["batch_size"],
            seed=0,
            device="cpu",
            threads=2,
            progress=False,
        )
        result[name] = {
            "val_loss": res.history["val_loss"].tolist(),
            "p_ai": training.predict_proba(res.model, va, device="cpu").tolist(),
        }
    out.write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default="main", help="git revision to compare with")
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.epochs)
        return 0

    sys.path.insert(0, str(BENCH))
    from schema_defaults import schema_defaults
    from train import make_pngs, mlp_features

    from synthdetect.features.images import write_image_cache

    tmp = Path(tempfile.mkdtemp(prefix="synthdetect-equivalence-"))
    try:
        cfg = schema_defaults("clip", "spectrogram", "features")
        n_val = max(args.n_train // 7, 8)
        pngs = make_pngs(tmp, 64, cfg)
        rows = [pngs[i % len(pngs)] for i in range(args.n_train + n_val)]
        size = tuple(cfg["spectrogram"]["size"])
        write_image_cache(rows[: args.n_train], tmp / "train.npy", size)
        write_image_cache(rows[args.n_train :], tmp / "val.npy", size)
        feats = mlp_features(pngs, cfg)
        np.save(tmp / "features.npy", feats[np.arange(len(rows)) % len(feats)])

        old = tmp / "old"
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.rev, "src"], capture_output=True, check=True
        ).stdout
        old.mkdir()
        (tmp / "old.tar").write_bytes(archive)
        with tarfile.open(tmp / "old.tar") as tar:
            tar.extractall(old, filter="data")
        results = {}
        for label, src in (("new", ROOT / "src"), (args.rev, old / "src")):
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = tmp / f"{label.replace('/', '_')}.json"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--epochs",
                    str(args.epochs),
                    "--child",
                    str(tmp),
                    str(out),
                ],
                env=env,
                check=True,
            )
            results[label] = json.loads(out.read_text())
        worst = {"val_loss": 0.0, "p_ai": 0.0}
        for model in results["new"]:
            for key in worst:
                a = np.asarray(results["new"][model][key])
                b = np.asarray(results[args.rev][model][key])
                d = float(np.max(np.abs(a - b)))
                worst[key] = max(worst[key], d)
                print(f"{model:10s} {key:9s} max |new - {args.rev}| = {d:.3g}")
        print(
            f"max_abs_diff_val_loss={worst['val_loss']:.3g} max_abs_diff_p_ai={worst['p_ai']:.3g}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
