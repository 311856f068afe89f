"""Temperature, threshold, ECE and reliability diagram on val/test; bootstrap CIs on test."""

import logging

import pandas as pd

from synthdetect.evaluation.calibration import calibrate_predictions, plot_reliability, write_json
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
model = snakemake.wildcards.model
recordings = pd.read_parquet(snakemake.input.manifest, columns=["source", "track", "recording"])
predictions = pd.read_parquet(snakemake.input.predictions).merge(
    recordings, on=["source", "track"], how="left", validate="one_to_one"
)
calibration, ci, test = calibrate_predictions(
    predictions,
    model,
    hp=p.hp,
    bins=p.bins,
    resamples=p.resamples,
    seed=p.seed,
    level=p.level,
    fprs=p.fprs,
)
write_json(calibration, snakemake.output.calibration)
write_json(ci, snakemake.output.ci)
plot_reliability(
    test["p_before"],
    test["p_after"],
    test["y"],
    snakemake.output.reliability,
    f"{model}: test split (n={len(test['y'])}), T = {calibration['temperature']:.2f}",
    bins=p.bins,
)
scores = calibration["scores"]["test"]
logging.info(
    "%s: T=%.3f threshold=%.3f; test ECE %.4f -> %.4f, NLL %.4f -> %.4f",
    model,
    calibration["temperature"],
    calibration["threshold"],
    calibration["ece"]["test"]["before"],
    calibration["ece"]["test"]["after"],
    scores["nll_before"],
    scores["nll_after"],
)
