"""Config validation, paths and the input functions every stage shares."""

import hashlib
import re
from functools import cache
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from synthdetect.pipeline.buckets import batch_of
from synthdetect.pipeline.fingerprint import code_fingerprint

validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
RESOURCES = config["resources"]
SOURCES = sorted(config["sources"])
DEMO = config["demo"]["out"]
MODELS = config["models"]["enabled"]
SRC = Path(workflow.basedir).parent / "src"
SCRIPTS = Path(workflow.basedir) / "scripts"
BATCHES = config["batches"]


def _experiment_variants():
    """Every variant of the experiment, by the results folder ("stem") it writes to.

    Table 1 is the stem {results}; a control retrains under {results}/controls/<name>; a
    robustness manipulation scores the test split under {results}/robustness/<name>; a
    cross-source setting retrains under {results}/cross/<name> (synthdetect.pipeline.variants).
    """
    variants = {RESULTS: {"kind": "base", "split": None, "models": MODELS}}
    controls = config["controls"]
    control_models = controls["models"] or MODELS
    if controls["codec_match"]:
        variants[f"{RESULTS}/controls/codec_match"] = {
            "kind": "control",
            "name": "codec_match",
            "control": {"kind": "codec_match"},
            "split": None,
            "models": control_models,
        }
    if controls["lowpass_hz"]:
        variants[f"{RESULTS}/controls/lowpass"] = {
            "kind": "control",
            "name": "lowpass",
            "control": {"kind": "lowpass", "hz": controls["lowpass_hz"]},
            "split": None,
            "models": control_models,
        }
    robustness = config["robustness"]
    if robustness["enabled"]:
        # imported here: ~1 s (scipy.signal, pandas) every run would pay otherwise
        from synthdetect.audio.manipulations import (
            DEFAULT_MANIPULATIONS,
            parse_manipulations,
        )

        specs = robustness["manipulations"] or DEFAULT_MANIPULATIONS
        parse_manipulations(specs)  # a bad entry fails here, naming the entry and key
        for name, spec in specs.items():
            variants[f"{RESULTS}/robustness/{name}"] = {
                "kind": "robustness",
                "name": name,
                "spec": dict(spec),
                "split": "test",
                "models": robustness["models"] or MODELS,
            }
    for setting in config["cross_source"]:
        for side in ("train", "test"):
            unknown = sorted(set(setting[side]) - set(SOURCES))
            if unknown:
                raise ValueError(
                    f"config cross_source {setting['name']}: {side} source(s) {unknown} "
                    f"are not in sources ({', '.join(SOURCES)})"
                )
            labels = {config["sources"][s]["label"] for s in setting[side]}
            if labels != {"human", "ai"}:
                raise ValueError(
                    f"config cross_source {setting['name']}: the {side} sources "
                    f"{setting[side]} hold only {sorted(labels)} tracks; each side needs "
                    "a human and an AI source"
                )
        variants[f"{RESULTS}/cross/{setting['name']}"] = {
            "kind": "cross",
            "name": setting["name"],
            "train": list(setting["train"]),
            "test": list(setting["test"]),
            "split": None,
            "models": setting["models"] or MODELS,
        }
    return variants


VARIANTS = _experiment_variants()


def stems(*kinds):
    return [stem for stem, v in VARIANTS.items() if v["kind"] in kinds]


def stem_pattern(*kinds):
    """A wildcard constraint matching exactly the stems of these kinds."""
    return "|".join(re.escape(stem) for stem in stems(*kinds)) or "(?!)"


def variant(wildcards):
    return VARIANTS[wildcards.stem]


wildcard_constraints:
    source="|".join(SOURCES),
    track=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    model="rf_deriv|rf_color|mlp_deriv|mlp_color|cnn|resnet18",
    split="train|val|test",
    batch=r"b\d+",
    stem=stem_pattern("base", "control", "robustness", "cross"),


@cache
def code(*entries):
    """Fingerprint of the library code a rule runs: a workflow script's (``name.py``) or a
    module's imports, followed transitively (synthdetect.pipeline.fingerprint)."""
    return code_fingerprint(
        [SCRIPTS / e if e.endswith(".py") else e for e in entries], SRC
    )


@cache
def _manifest(path, mtime):
    table = pd.read_parquet(path)
    buckets = {}
    for row in table.itertuples(index=False):
        buckets.setdefault(batch_of(row.source, row.track, BATCHES), []).append(row)
    return table, buckets


def _manifest_version():
    path = checkpoints.manifest.get().output.manifest
    return _manifest(path, Path(path).stat().st_mtime_ns)


def manifest():
    """The manifest table (after the checkpoint has run), read once per version."""
    return _manifest_version()[0]


def batch_rows(wildcards):
    """The manifest rows of one bucket of tracks (synthdetect.pipeline.buckets)."""
    try:
        return _manifest_version()[1][wildcards.batch]
    except KeyError:
        raise ValueError(
            f"batch {wildcards.batch} holds no track of the manifest "
            f"{checkpoints.manifest.get().output.manifest}"
        ) from None


def batch_tracks(wildcards):
    """``(source, track)`` of each track of a bucket that the stem's variant covers (the
    test split only for a robustness manipulation): the per-track stages' params."""
    split = VARIANTS[getattr(wildcards, "stem", RESULTS)]["split"]
    return [
        (row.source, row.track)
        for row in batch_rows(wildcards)
        if split is None or row.split == split
    ]


def bucket_folder(pattern):
    """An input function: the bucket's folder of the previous stage, once the manifest
    checkpoint is known. A rule whose params read the manifest must depend on the
    checkpoint through its input, or a job run on its own (a SLURM job, `--target-jobs`)
    fails with "Rule parameter depends on checkpoint"."""

    def folder(wildcards):
        batch_rows(wildcards)
        return pattern.format(
            stem=getattr(wildcards, "stem", RESULTS), batch=wildcards.batch
        )

    return folder


def per_batch(pattern, split=None):
    """An input function: ``pattern`` for every bucket holding a track of the manifest
    (or of one split, given here, as the `split` wildcard or by the stem's variant).
    ``{stem}`` in the pattern is filled in from the wildcards."""

    def paths(wildcards):
        table, buckets = _manifest_version()
        stem = getattr(wildcards, "stem", RESULTS)
        wanted = split or getattr(wildcards, "split", None) or VARIANTS[stem]["split"]
        return [
            pattern.format(stem=stem, batch=b)
            for b, rows in sorted(buckets.items())
            if not wanted or any(row.split == wanted for row in rows)
        ]

    return paths


def device_resources():
    """Training rules ask a cluster for a GPU unless the config says cpu."""
    return 1 if config["models"]["device"] != "cpu" else 0


def data_stem(wildcards):
    """Where a variant's features and images live: its own stem, except that a
    cross-source setting reuses Table 1's."""
    return RESULTS if variant(wildcards)["kind"] == "cross" else wildcards.stem


def features_input(wildcards):
    return f"{data_stem(wildcards)}/features/{wildcards.feat}.parquet"


def images_input(*splits):
    def paths(wildcards):
        return {s: f"{data_stem(wildcards)}/images/{s}.npy" for s in splits}

    return paths


def sources_param(wildcards):
    """Which sources a variant trains and tests on (cross-source settings); None: all."""
    v = variant(wildcards)
    return {"train": v.get("train"), "test": v.get("test")}


def evaluation_inputs(wildcards):
    family, _, feat = wildcards.model.partition("_")
    stem, data = wildcards.stem, data_stem(wildcards)
    if family in ("rf", "mlp"):
        suffix = "skops" if family == "rf" else "pt"
        return {
            "model": f"{stem}/models/{wildcards.model}.{suffix}",
            "features": f"{data}/features/{feat}.parquet",
        }
    return {
        "model": f"{stem}/models/{wildcards.model}.pt",
        **{s: f"{data}/images/{s}.npy" for s in ("train", "val", "test")},
    }


def robustness_inputs(wildcards):
    """A Table 1 model and the test split of every manipulation, in its input form."""
    family, _, feat = wildcards.model.partition("_")
    suffix = "skops" if family == "rf" else "pt"
    inputs = {"model": f"{RESULTS}/models/{wildcards.model}.{suffix}"}
    names = ["original"] + [VARIANTS[s]["name"] for s in stems("robustness")]
    for name, stem in zip(names, [RESULTS] + stems("robustness"), strict=True):
        if family in ("rf", "mlp"):
            inputs[name] = f"{stem}/features/{feat}.parquet"
        else:
            inputs[name] = f"{stem}/images/test.npy"
    return inputs


def variant_metrics(stem_list):
    """Every model's test metrics of each variant, keyed by input name stem::model."""
    return {
        f"{VARIANTS[stem].get('name', 'table1')}::{model}": f"{stem}/metrics/{model}.json"
        for stem in stem_list
        for model in VARIANTS[stem]["models"]
    }
