"""The report's tables and figures, written from the metrics the workflow produced.

Each function reads its inputs, writes a CSV (full precision), a Markdown file (what
`make demo` prints and the HTML report shows) and, where there is one, a heatmap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from synthdetect.evaluation.robustness import (
    ROBUSTNESS_METRICS,
    controls_table,
    cross_source_table,
    flat_markdown,
    fpr_columns,
    plot_heatmap,
    robustness_table,
    sources_line,
)
from synthdetect.evaluation.tables import METRICS, load_metrics, table1, to_markdown
from synthdetect.models import registry

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _variant_metrics(paths: Mapping[str, PathLike]) -> dict[str, dict[str, dict]]:
    """Metrics JSON keyed ``variant::model`` -> {variant: {model: metrics}}."""
    metrics: dict[str, dict[str, dict]] = {}
    for key, path in paths.items():
        variant, _, model = key.partition("::")
        with open(path) as f:
            metrics.setdefault(variant, {})[model] = json.load(f)
    return metrics


def write_table1(models: Sequence[str], paths: Sequence[PathLike], csv: PathLike, md: PathLike):
    """Table 1 (metrics x models) from every model's test metrics."""
    metrics = load_metrics(dict(zip(models, paths, strict=True)))
    table = table1(metrics, models)
    table.to_csv(csv, float_format="%.4f")
    n_test = {m: metrics[m]["n_test"] for m in models}
    caption = f"Test-split metrics (positive class = AI); test tracks per model: {n_test}"
    with open(md, "w") as f:
        f.write(to_markdown(table, caption=caption))
    log.info("Table 1\n%s", table.round(3).to_string())
    return table


def write_robustness_report(score_paths: Sequence[PathLike], csv, md, heatmap) -> pd.DataFrame:
    """Manipulations x models per metric, and the accuracy heatmap."""
    scores = pd.concat([pd.read_parquet(p) for p in score_paths], ignore_index=True)
    scores.to_csv(csv, index=False, float_format="%.4f")
    n_test = int(scores.n_test.iloc[0])
    with open(md, "w") as f:
        for metric in ROBUSTNESS_METRICS:
            caption = f"Robustness: test-split {metric} ({n_test} tracks) per manipulation"
            f.write(flat_markdown(robustness_table(scores, metric), caption=caption) + "\n")
        for column in fpr_columns(scores):
            point = column.removeprefix("fpr_at_")
            n_human = int(scores.n_human.iloc[0])
            caption = (
                f"Robustness: false-positive rate of the {n_human} human test tracks at the "
                f"operating point {point} (threshold fitted on the original validation clips)"
            )
            unfit = _not_estimable(scores, point)
            if unfit:
                caption += (
                    f". Too few human validation clips to fit this rate for {', '.join(unfit)}: "
                    "their threshold is a fallback, not the rate's"
                )
            f.write(flat_markdown(robustness_table(scores, column), caption=caption) + "\n")
    accuracy = robustness_table(scores, "accuracy")
    plot_heatmap(
        accuracy, heatmap, f"Test accuracy under manipulation (n={n_test}; chance = 0.5)", vmin=0.5
    )
    log.info("accuracy\n%s", accuracy.round(3).to_string())
    return scores


def _not_estimable(scores: pd.DataFrame, point: str) -> list[str]:
    """The models whose operating point ``point`` could not be fitted (robustness rows)."""
    if "not_estimable" not in scores:
        return []
    flagged = scores[scores.not_estimable.fillna("").str.split().map(lambda ps: point in ps)]
    return sorted(set(flagged.model), key=registry.paper_rank)


def write_controls_report(
    paths: Mapping[str, PathLike], controls: Mapping[str, Mapping], csv, md
) -> pd.DataFrame:
    """Table 1 without and with each control, side by side (``paths``: variant::model)."""
    metrics = _variant_metrics(paths)
    table = controls_table(metrics)
    table.to_csv(csv, float_format="%.4f")
    described = {"table1": "no control", **{k: str(dict(v)) for k, v in controls.items()}}
    caption = "Test-split metrics without and with each control: " + "; ".join(
        f"{k} = {v}" for k, v in described.items()
    )
    with open(md, "w") as f:
        f.write(caption + "\n\n")
        for metric in ("accuracy", "f1", "roc_auc"):
            per_model = table.loc[metric].unstack("variant")  # model x variant
            per_model = per_model.reindex(columns=list(metrics)).loc[
                list(dict.fromkeys(m for m, _ in table.columns))
            ]
            per_model.index.name = "model"
            f.write(flat_markdown(per_model, caption=f"Test {metric}") + "\n")
    log.info("controls\n%s", table.round(3).to_string())
    return table


def write_cross_source_report(
    paths: Mapping[str, PathLike], settings: Mapping[str, Mapping], csv, md, heatmap
) -> dict[str, pd.DataFrame]:
    """Settings x models per metric (``paths``: setting::model), and the accuracy heatmap."""
    metrics = _variant_metrics(paths)
    tables = {metric: cross_source_table(metrics, metric) for metric in METRICS}
    pd.concat(tables, names=["metric"]).to_csv(csv, float_format="%.4f")
    with open(md, "w") as f:
        f.write("Settings: " + "; ".join(f"{s}: {sources_line(**v)}" for s, v in settings.items()))
        f.write("\n\n")
        for metric in ("accuracy", "f1", "roc_auc"):
            f.write(flat_markdown(tables[metric], caption=f"Cross-source test {metric}") + "\n")
    plot_heatmap(tables["accuracy"], heatmap, "Cross-source test accuracy")
    log.info("cross-source accuracy\n%s", tables["accuracy"].round(3).to_string())
    return tables


def _rate_cell(rate: Mapping | None, reason: str | None) -> str:
    if rate is None:
        return f"– ({reason})" if reason else "–"
    return f"{rate['estimate']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}]"


def operating_points_table(calibrations: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per (model, operating point): threshold, whether validation could estimate
    its rate, and test TPR and FPR with their bootstrap intervals."""
    rows = []
    for model, cal in calibrations.items():
        ops = cal.get("operating_points")
        if not ops:
            continue
        for name, point in ops["points"].items():
            test = ops["test"]["points"][name]
            tpr, fpr = test.get("tpr"), test.get("fpr")
            rows.append(
                {
                    "model": model,
                    "point": name,
                    "threshold": point["threshold"],
                    "val_fpr": point["val_fpr"],
                    "estimable": point["estimable"],
                    "reason": point["reason"],
                    **{
                        f"test_{k}_{part}": (r or {}).get(part)
                        for k, r in (("tpr", tpr), ("fpr", fpr))
                        for part in ("estimate", "low", "high")
                    },
                    "test_tpr": _rate_cell(tpr, test.get("tpr_reason")),
                    "test_fpr": _rate_cell(fpr, test.get("fpr_reason")),
                }
            )
    return pd.DataFrame(rows)


def write_operating_points_report(
    models: Sequence[str], paths: Sequence[PathLike], csv: PathLike, md: PathLike
) -> pd.DataFrame:
    """The operating points of every model (from its calibration JSON)."""
    calibrations = {}
    for model, path in zip(models, paths, strict=True):
        with open(path) as f:
            calibrations[model] = json.load(f)
    table = operating_points_table(calibrations)
    table.drop(columns=["test_tpr", "test_fpr"]).to_csv(csv, index=False, float_format="%.6g")
    lines = [
        "Operating points, fitted on the validation split (calibrated P(AI) >= threshold "
        "is AI); test TPR and FPR with 95% bootstrap intervals. A point whose validation "
        "split holds too few human tracks for its rate says so instead of a number.",
        "",
        "| model | point | threshold | test TPR | test FPR | note |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in table.itertuples(index=False):
        thr = "–" if row.threshold is None else f"{row.threshold:.4f}"
        note = "" if row.estimable else str(row.reason)
        lines.append(
            f"| {row.model} | {row.point} | {thr} | {row.test_tpr} | {row.test_fpr} | {note} |"
        )
    Path(md).write_text("\n".join(lines) + "\n")
    log.info("operating points\n%s", table[["model", "point", "threshold"]].to_string())
    return table


def write_false_positive_report(
    models: Sequence[str],
    score_paths: Sequence[PathLike],
    calibration_paths: Sequence[PathLike],
    csv: PathLike,
    md: PathLike,
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """False-positive rate per collection, model and operating point, and the recordings
    each model finds most AI-like (the human-only benchmark)."""
    from synthdetect.evaluation.false_positives import false_positive_table, worst_recordings

    scores, thresholds, estimable = {}, {}, {}
    for model, spath, cpath in zip(models, score_paths, calibration_paths, strict=True):
        scores[model] = pd.read_parquet(spath)
        with open(cpath) as f:
            cal = json.load(f)
        ops = cal.get("operating_points") or {"points": {"balanced": cal}}
        thresholds[model] = {name: p["threshold"] for name, p in ops["points"].items()}
        for name, p in ops["points"].items():
            estimable[model, name] = bool(p.get("estimable", True))
    table = false_positive_table(scores, thresholds, seed=seed, resamples=resamples, level=level)
    if len(table):
        table["estimable"] = [
            estimable[m, p] for m, p in zip(table.model, table.point, strict=True)
        ]
    table.to_csv(csv, index=False, float_format="%.6g")
    lines = [
        "False positives on human music no model trained on: the share of 30 s windows "
        f"called AI, with {level:.0%} bootstrap intervals over recordings. A point marked "
        "† could not be fitted at its rate: the validation split has too few human clips "
        "(`report/operating_points.md`), so its threshold is the strictest the split allows.",
        "",
        "| collection | model | point | windows (recordings) | FPR [interval] |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for r in table.itertuples(index=False):
        rate = (
            "–"
            if r.threshold is None or pd.isna(r.threshold)
            else f"{r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]"
        )
        point = r.point if r.estimable else f"{r.point} †"
        lines.append(
            f"| {r.collection} | {r.model} | {point} | {r.windows} ({r.recordings}) | {rate} |"
        )
    worst = worst_recordings(scores)
    lines += ["", "Most AI-like recordings per model (highest window P(AI)):", ""]
    lines += [
        "| model | recording | max P(AI) | mean P(AI) | windows |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in worst.itertuples(index=False):
        lines.append(
            f"| {r.model} | {r.recording} | {r.max_p_ai:.3f} | {r.mean_p_ai:.3f} | {r.windows} |"
        )
    Path(md).write_text("\n".join(lines) + "\n")
    return table


def write_generator_report(
    paths: Mapping[str, PathLike],
    settings: Mapping[str, Mapping],
    fpr: float,
    csv: PathLike,
    md: PathLike,
    heatmap: PathLike,
) -> pd.DataFrame:
    """The generator matrix (rows train, columns test) and leave-one-generator-out, per
    model (``paths``: setting::model -> predictions)."""
    from synthdetect.evaluation.generators import study_table

    predictions = {}
    for key, path in paths.items():
        setting, _, model = key.partition("::")
        predictions[(setting, model)] = pd.read_parquet(path)
    table = study_table(predictions, settings, fpr)
    table.to_csv(csv, index=False, float_format="%.4f")
    lines = [
        "Generator study: thresholds fitted on each setting's validation split; ROC-AUC, "
        f"accuracy at the balanced-accuracy threshold and TPR at a validation FPR of {fpr:g} "
        "on its test split.",
        "",
    ]
    matrix = table[table.study == "matrix"]
    for model, part in matrix.groupby("model", sort=False):
        for metric in ("roc_auc", "accuracy", "tpr_at_fpr"):
            wide = part.pivot(index="train", columns="test", values=metric)
            wide.index.name = "train → test"
            lines.append(
                flat_markdown(wide, caption=f"{model}: {metric} (rows train, columns test)")
            )
    loo = table[table.study == "loo"]
    if len(loo):
        wide = loo.pivot(index="test", columns="model", values="roc_auc")
        wide.index.name = "held out"
        lines.append(flat_markdown(wide, caption="Leave one generator out: test ROC-AUC"))
        wide = loo.pivot(index="test", columns="model", values="tpr_at_fpr")
        wide.index.name = "held out"
        lines.append(flat_markdown(wide, caption=f"Leave one generator out: TPR at FPR {fpr:g}"))
    Path(md).write_text("\n".join(lines) + "\n")
    if len(matrix):
        first = matrix.model.iloc[0]
        wide = matrix[matrix.model == first].pivot(index="train", columns="test", values="roc_auc")
        plot_heatmap(wide, heatmap, f"{first}: ROC-AUC, train (rows) vs test generator")
    else:  # pragma: no cover - the rule exists only with a matrix
        raise ValueError("no generator matrix to draw")
    return table


def write_abstain_report(
    models: Sequence[str],
    score_paths: Sequence[PathLike],
    summary_paths: Sequence[PathLike],
    calibration_paths: Sequence[PathLike],
    csv: PathLike,
    md: PathLike,
    *,
    band: float,
    benchmark_paths: Sequence[PathLike] = (),
    descriptions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Abstain rates per model on the test clips, the unusual inputs made from them and
    the benchmark collections' windows; the cut-off is the validation quantile."""
    from synthdetect.evaluation.ood import abstain_rates

    scores, cutoffs, thresholds, quantiles = {}, {}, {}, {}
    benchmark = dict(zip(models, benchmark_paths, strict=False)) if benchmark_paths else {}
    for model, spath, opath, cpath in zip(
        models, score_paths, summary_paths, calibration_paths, strict=True
    ):
        frames = [pd.read_parquet(spath)]
        if model in benchmark:
            windows = pd.read_parquet(benchmark[model])
            frames.append(windows.assign(group="benchmark:" + windows.collection.astype(str)))
        scores[model] = pd.concat(frames, ignore_index=True)
        with open(opath) as f:
            summary = json.load(f)
        with open(cpath) as f:
            thresholds[model] = json.load(f)["threshold"]
        cutoffs[model], quantiles[model] = summary["cutoff"], summary["quantile"]
    table = abstain_rates(scores, cutoffs=cutoffs, thresholds=thresholds, band=band)
    table.to_csv(csv, index=False, float_format="%.6g")
    described = dict(descriptions or {})
    q = ", ".join(sorted({f"{v:g}" for v in quantiles.values()}))
    lines = [
        "When `predict` answers uncertain. *outside*: the share of inputs whose distance from "
        f"the training split exceeds the cut-off (the {q} quantile of the validation split's "
        f"distances); *uncertain*: outside, or P(AI) within {band:g} of the balanced "
        "threshold. Test and unusual inputs are files scored by `predict`, the benchmark "
        "30 s windows of human music no model trained on.",
        "",
        "| model | inputs | n | cut-off | median distance | outside | uncertain |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table.itertuples(index=False):
        what = described.get(r.group, r.group)
        lines.append(
            f"| {r.model} | {what} | {r.n} | {r.cutoff:.1f} | {r.median_distance:.1f} "
            f"| {r.outside:.3f} | {r.uncertain:.3f} |"
        )
    Path(md).write_text("\n".join(lines) + "\n")
    log.info("abstain rates\n%s", table.round(3).to_string())
    return table
