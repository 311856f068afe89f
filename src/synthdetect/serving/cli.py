"""The ``synthdetect`` command line.

``synthdetect predict --model BUNDLE PATH...`` scores audio files (or every audio file
under a directory) with a model bundle exported by the workflow
(``{results}/bundles/{model}``). Exit status: 0 when the command ran (files that could
not be read are reported per file, in the ``status`` column and on stderr), 2 on a
usage error (bad option, unusable bundle, unwritable output). A file scored with a
caveat (padded, truncated, low sample rate, many channels, decoder complaints) is ``ok``
with a ``warning``, also repeated on stderr.

Labels are ``ai``, ``human`` or ``uncertain``: the bundle abstains when the file lies
outside what the model was trained on (the ``distance`` of its model vectors from the
training split exceeds the cut-off fitted on validation) or when P(AI) is within the
abstain band of the threshold; ``reason`` says which.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import synthdetect
from synthdetect.data.candidates import AUDIO_SUFFIXES

__all__ = ["build_parser", "collect_files", "main"]

PROG = "synthdetect"


class UsageError(Exception):
    """A problem with how the command was called (exit status 2)."""


# --------------------------------------------------------------------------- inputs


def collect_files(paths: Iterable[str]) -> list[str]:
    """Files named on the command line as given (even unreadable ones: they get reported);
    directories expanded recursively to their audio files (sorted, hidden ones skipped)."""
    suffixes = AUDIO_SUFFIXES  # the same set a folder source collects
    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                print(f"{PROG} predict: {raw}: no audio files in this directory", file=sys.stderr)
            out += [str(f) for f in found]
        else:
            out.append(str(p))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- outputs


FILE_COLUMNS = [
    "file",
    "p_ai",
    "label",
    "distance",
    "reason",
    "windows",
    "duration_s",
    "status",
    "message",
    "warning",
]


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_table(results, *, windows: bool, threshold: float) -> str:
    """Aligned plain-text table; with ``windows`` each file is followed by its windows.

    The last column is free text: ``ok``, ``ok, warning: ...`` or ``error: <reason>``,
    with an ``uncertain`` label's reason first."""
    rows = [["file", "p_ai", "label", "distance", "windows", "status"]]
    for r in results:
        status = r.status if r.status == "ok" else f"error: {r.message}"
        if r.status == "ok" and r.warnings:
            status = f"ok, warning: {r.warning}"
        if r.reason:
            status = f"{r.reason}; {status}"
        rows.append(
            [r.path, _fmt(r.p_ai), r.label or "", _fmt(r.distance, 1), str(r.n_windows), status]
        )
        if windows:
            for w in r.windows:
                label = "ai" if w.p_ai >= threshold else "human"
                rows.append(
                    [
                        f"  {w.start_s:8.1f}-{w.end_s:.1f} s",
                        _fmt(w.p_ai),
                        label,
                        _fmt(w.distance, 1),
                        "",
                        "",
                    ]
                )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i in (0, 2) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def render_csv(results, *, windows: bool, threshold: float) -> str:
    """One row per file (``scope=file``); with ``windows`` one more per window after it."""
    buf = io.StringIO()
    columns = ["scope", *FILE_COLUMNS, "padded", "start_s", "end_s"]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in results:
        row = {k: v for k, v in r.as_dict().items() if k in columns}
        row = {k: _fmt(v, 3 if k in ("duration_s", "distance") else 6) for k, v in row.items()}
        writer.writerow({"scope": "file", **row})
        if windows:
            for w in r.windows:
                writer.writerow(
                    {
                        "scope": "window",
                        "file": r.path,
                        "p_ai": _fmt(w.p_ai, 6),
                        "label": "ai" if w.p_ai >= threshold else "human",
                        "windows": 1,
                        "status": "ok",
                        "padded": w.padded,
                        "distance": _fmt(w.distance, 3),
                        "start_s": _fmt(w.start_s),
                        "end_s": _fmt(w.end_s),
                    }
                )
    return buf.getvalue()


def render_json(results, *, windows: bool, header: dict) -> str:
    doc = {**header, "files": [r.as_dict(windows=windows) for r in results]}
    return json.dumps(doc, indent=2) + "\n"


# --------------------------------------------------------------------------- commands


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value

    return parse


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def operating_threshold(bundle, fpr: float) -> float:
    """The bundle's threshold for false-positive rate ``fpr``; its validation split must
    have been large enough to estimate that rate, else a usage error says why."""
    from synthdetect.evaluation.operating_points import point_name

    ops = bundle.calibration.get("operating_points") or {}
    points = ops.get("points") or {}
    name = point_name(fpr)
    if name not in points:
        known = ", ".join(p for p in points if p != "balanced") or "none"
        raise UsageError(
            f"{bundle.path}: no operating point for a false-positive rate of {fpr:g} "
            f"(the bundle has: {known}); set operating_points.fpr in the config and rerun"
        )
    point = points[name]
    if not point["estimable"] or point["threshold"] is None:
        raise UsageError(f"{bundle.path}: {name}: {point['reason']}; use --threshold instead")
    return float(point["threshold"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tell AI-generated from human music with spectrogram classifiers.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {synthdetect.__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "predict",
        help="score audio files with a trained model bundle",
        description=(
            "Score audio files with a model bundle ({results}/bundles/{model}). Each file is "
            "cut into windows of the training clip length, every window goes through the "
            "training preprocessing, and the file's P(AI) aggregates the windows' "
            "calibrated logits. Files shorter than one window are zero-padded into one. "
            "A file that cannot be scored (empty, not audio, NaN samples, silent, more than "
            "8 channels) is reported with status 'error' and the reason; a score with a "
            "caveat (padded, truncated, low sample rate, many channels) has a warning. "
            "The label is 'ai', 'human' or 'uncertain': the bundle abstains when the file "
            "lies outside what the model was trained on (its distance from the training "
            "data exceeds the cut-off fitted on validation) or when P(AI) lies within the "
            "abstain band of the threshold; the 'reason' column says which."
        ),
        epilog="Exit status: 0 when scoring ran (unreadable files are reported per file), "
        "2 on a usage error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or directories")
    p.add_argument(
        "-m",
        "--model",
        required=True,
        metavar="BUNDLE",
        help="a bundle directory, e.g. results/demo/bundles/cnn",
    )
    p.add_argument(
        "--hop",
        type=_positive(float),
        default=None,
        metavar="SECONDS",
        help="seconds between window starts (default: the window length)",
    )
    p.add_argument(
        "--aggregate",
        choices=("mean", "max"),
        default="mean",
        help="how window logits make the file's score (default: mean)",
    )
    p.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        help="P(AI) at which a file is labelled AI (default: the bundle's calibrated threshold)",
    )
    p.add_argument(
        "--fpr",
        type=_probability,
        default=None,
        help="use the bundle's operating point for this false-positive rate on human music "
        "(e.g. 0.01; `synthdetect info BUNDLE` lists them)",
    )
    p.add_argument(
        "--band",
        type=_probability,
        default=None,
        help="answer 'uncertain' when P(AI) is within this of the threshold (default: the "
        "bundle's abstain band; 0 turns it off)",
    )
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        dest="fmt",
        help="output format (default: table)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    p.add_argument("--windows", action="store_true", help="also list every window's score")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, auto")
    p.add_argument(
        "--threads",
        type=_positive(int),
        default=None,
        help="CPU threads for torch (default: torch's choice)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    p.set_defaults(func=cmd_predict)

    i = sub.add_parser(
        "info",
        help="what a model bundle is: its training corpus, calibration, operating points, metrics",
        description="Read a bundle's model card before trusting its scores.",
    )
    i.add_argument("bundle", metavar="BUNDLE", help="a bundle directory or its bundle.json")
    i.add_argument("--format", choices=("text", "json"), default="text")
    i.set_defaults(func=cmd_info)
    return parser


def _ci(metrics: dict, name: str) -> str:
    ci = metrics.get("ci", {}).get(name) or {}
    value = metrics.get("test", {}).get(name)
    if value is None:
        return "–"
    if ci.get("low") is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def _rate(rate: dict | None) -> str:
    return "–" if not rate else f"{rate['estimate']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}]"


def model_card(meta: dict, card: dict | None = None) -> str:
    """A bundle's ``bundle.json`` and its model card (``card``: the reports that scored
    it) as text a person reads before trusting a score."""
    model, pre, cal = meta["model"], meta["preprocessing"], meta["calibration"]
    lines = [
        f"model        {model['name']} ({model['architecture']}, input: {model['input']})",
        f"written by   synthdetect {meta.get('synthdetect_version', '?')}",
        f"clips        {pre['clip']['seconds']:g} s at {pre['clip']['sample_rate']} Hz",
        "",
        "training corpus (tracks per split):",
    ]
    corpus = meta.get("training", {}).get("corpus") or {}
    for name, spec in corpus.items():
        splits = ", ".join(f"{k} {v}" for k, v in sorted(spec.get("tracks", {}).items()))
        lines.append(f"  {name:<16} {spec['kind']:<10} {spec['label']:<6} {splits}")
    if not corpus:
        lines.append("  (not recorded in this bundle)")
    lines += [
        "",
        f"calibration  temperature {cal['temperature']:.3f} "
        f"({cal.get('temperature_note') or 'fitted'}) on {cal.get('fitted_on', 'val')}; "
        f"threshold {cal['threshold']:.4f}",
    ]
    ops = (cal.get("operating_points") or {}).get("points") or {}
    test_ops = ((cal.get("operating_points") or {}).get("test") or {}).get("points") or {}
    if ops:
        lines += ["", "operating points (fitted on val; test rates with 95% intervals):"]
        for name, point in ops.items():
            test = test_ops.get(name, {})
            thr = "–" if point["threshold"] is None else f"{point['threshold']:.4f}"
            note = "" if point["estimable"] else f"  ({point['reason']})"
            lines.append(
                f"  {name:<10} threshold {thr}  TPR {_rate(test.get('tpr'))}"
                f"  FPR {_rate(test.get('fpr'))}{note}"
            )
    metrics = meta.get("metrics", {})
    lines += ["", "test metrics at 0.5 (95% bootstrap intervals):"]
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        lines.append(f"  {name:<10} {_ci(metrics, name)}")
    ab = meta.get("abstain")
    lines.append("")
    if ab:
        lines += [
            f"abstain      uncertain when the distance from the training split exceeds "
            f"{ab['cutoff']:.2f}",
            f"             (the {ab['quantile']:g} quantile of {ab.get('n_val', '?')} validation "
            f"distances; {ab.get('dim', '?')}-d model vectors, {ab.get('n_train', '?')} "
            "training tracks),",
            f"             or when P(AI) lies within {ab['band']:g} of the threshold",
        ]
    else:
        lines.append("abstain      no distance in this bundle: predict never answers uncertain")
    lines += _card_lines(card)
    return "\n".join(lines) + "\n"


def _card_lines(card: dict | None) -> list[str]:
    """The model card's sections: what the reports that scored this bundle found."""
    if card is None:
        return [
            "",
            "No model card (<bundle>.card.json) next to this bundle: the false-positive",
            "benchmark, robustness and abstain reports of the run that made it are not here.",
        ]
    out = []
    fp = card.get("false_positives") or []
    if fp:
        out += ["", "false-positive benchmark (human music no model trained on; 30 s windows):"]
        for r in fp:
            rate = (
                "–"
                if r.get("estimate") is None
                else f"{r['estimate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
            )
            out.append(
                f"  {r['collection']:<14} {r['point']:<10} FPR {rate}  "
                f"({r['windows']} windows, {r['recordings']} recordings)"
            )
    rob = card.get("robustness") or []
    if rob:
        fprs = [k for k in rob[0] if k.startswith("fpr_at_")]
        head = "".join(f"  {k.removeprefix('fpr_at_'):>10}" for k in fprs)
        out += [
            "",
            "robustness (test split; FPR of its human tracks at each operating point):",
            f"  {'manipulation':<14} {'accuracy':>8} {'roc_auc':>8}{head}",
        ]
        for r in rob:
            cells = "".join(f"  {_fmt(r.get(k)):>10}" for k in fprs)
            out.append(
                f"  {r['manipulation']:<14} {_fmt(r.get('accuracy')):>8} "
                f"{_fmt(r.get('roc_auc')):>8}{cells}"
            )
    ab = card.get("abstain") or []
    if ab:
        out += ["", "abstain rates (outside the cut-off / uncertain in all):"]
        for r in ab:
            out.append(
                f"  {r['group']:<24} n {r['n']:>5}  median distance {r['median_distance']:8.1f}"
                f"  outside {r['outside']:.3f}  uncertain {r['uncertain']:.3f}"
            )
    return out


def cmd_info(args: argparse.Namespace) -> int:
    from synthdetect.serving.bundle import BundleError, read_bundle

    try:
        bundle = read_bundle(args.bundle)
    except BundleError as err:
        raise UsageError(str(err)) from None
    try:
        card = bundle.card
    except BundleError as err:
        raise UsageError(str(err)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(bundle.meta | {"card": card}, indent=2) + "\n")
    else:
        sys.stdout.write(model_card(bundle.meta, card))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from synthdetect.serving.bundle import BundleError
    from synthdetect.serving.scoring import Scorer

    try:
        scorer = Scorer(args.model, device=args.device, threads=args.threads)
    except BundleError as err:
        raise UsageError(f"--model: {err}") from None
    except RuntimeError as err:  # e.g. --device cuda without CUDA
        raise UsageError(str(err)) from None
    files = collect_files(args.paths)
    threshold = scorer.bundle.threshold if args.threshold is None else args.threshold
    if args.fpr is not None:
        if args.threshold is not None:
            raise UsageError("give --threshold or --fpr, not both")
        threshold = operating_threshold(scorer.bundle, args.fpr)
    results = []
    with scorer:
        from tqdm.auto import tqdm

        bar = tqdm(
            files,
            desc="scoring",
            unit="file",
            file=sys.stderr,
            disable=True if args.no_progress or len(files) < 2 else None,
        )
        for path in bar:
            r = scorer.score_file(
                path,
                hop_s=args.hop,
                aggregate=args.aggregate,
                threshold=threshold,
                band=args.band,
            )
            if r.status != "ok":
                bar.write(f"{PROG} predict: {path}: {r.message}", file=sys.stderr)
            elif r.warnings:
                bar.write(f"{PROG} predict: {path}: warning: {r.warning}", file=sys.stderr)
            results.append(r)
    header = {
        "model": scorer.bundle.name,
        "bundle": str(scorer.bundle.path),
        "synthdetect_version": synthdetect.__version__,
        "threshold": threshold,
        "temperature": scorer.bundle.temperature,
        "ood_cutoff": scorer.cutoff,
        "band": scorer.band if args.band is None else args.band,
        "aggregate": args.aggregate,
        "window_s": scorer.seconds,
        "hop_s": args.hop if args.hop is not None else scorer.seconds,
    }
    if args.fmt == "json":
        text = render_json(results, windows=args.windows, header=header)
    elif args.fmt == "csv":
        text = render_csv(results, windows=args.windows, threshold=threshold)
    else:
        text = render_table(results, windows=args.windows, threshold=threshold)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as err:
            raise UsageError(f"--output: cannot write {args.output}: {err}") from None
        print(f"{PROG} predict: wrote {len(results)} files to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format=f"{PROG}: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except UsageError as err:
        parser.exit(2, f"{PROG} {args.command}: error: {err}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
