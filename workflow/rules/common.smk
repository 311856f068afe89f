"""Config validation, paths and the input functions every stage shares."""

import hashlib
from functools import cache
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from synthdetect.batches import batch_of

validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
RESOURCES = config["resources"]
SOURCES = sorted(config["sources"])
DEMO = config["demo"]["out"]
MODELS = config["models"]["enabled"]
SRC = Path(workflow.basedir).parent / "src" / "synthdetect"
BATCHES = config["batches"]


wildcard_constraints:
    source="|".join(SOURCES),
    track=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    model="|".join(MODELS),
    split="train|val|test",
    batch=r"b\d+",


@cache
def code(*modules):
    """Fingerprint of the library modules a rule runs, so editing them reruns it.

    Snakemake sees a rule's own code but not what it imports.
    """
    digest = hashlib.sha256()
    for module in modules:
        digest.update((SRC / f"{module}.py").read_bytes())
    return digest.hexdigest()[:16]


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
    """The manifest rows of one bucket of tracks (synthdetect.batches)."""
    try:
        return _manifest_version()[1][wildcards.batch]
    except KeyError:
        raise ValueError(
            f"batch {wildcards.batch} holds no track of the manifest "
            f"{checkpoints.manifest.get().output.manifest}"
        ) from None


def batch_tracks(wildcards):
    """``(source, track)`` of each track of a bucket: the per-track stages' params."""
    return [(row.source, row.track) for row in batch_rows(wildcards)]


def bucket_folder(pattern):
    """An input function: the bucket's folder of the previous stage, once the manifest
    checkpoint is known. A rule whose params read the manifest must depend on the
    checkpoint through its input, or a job run on its own (a SLURM job, `--target-jobs`)
    fails with "Rule parameter depends on checkpoint"."""

    def folder(wildcards):
        batch_rows(wildcards)
        return pattern.format(batch=wildcards.batch)

    return folder


def per_batch(pattern, split=None):
    """An input function: ``pattern`` for every bucket holding a track of the manifest
    (or of one split)."""

    def paths(wildcards):
        table, buckets = _manifest_version()
        wanted = split or getattr(wildcards, "split", None)
        if not wanted:
            return [pattern.format(batch=b) for b in sorted(buckets)]
        return [
            pattern.format(batch=b)
            for b, rows in sorted(buckets.items())
            if any(row.split == wanted for row in rows)
        ]

    return paths


def folder_listing(spec):
    """A folder source's file names, sizes and times, hashed: adding a file reruns it."""
    if spec["kind"] != "folder":
        return ""
    root = Path(spec["path"])
    if not root.is_dir():
        raise ValueError(
            f"config sources: folder {root} does not exist; fix the source's 'path'"
        )
    digest = hashlib.sha256()
    for p in sorted(root.glob(spec["glob"])):
        if p.is_file():
            st = p.stat()
            digest.update(
                f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()[:16]


def candidate_inputs(wildcards):
    spec = config["sources"][wildcards.source]
    if spec["kind"] == "demo":
        return {"index": f"{DEMO}/index.parquet"}
    if spec["kind"] == "composer":
        return {"index": f"{RESOURCES}/composer/{wildcards.source}/index.parquet"}
    if spec["kind"] == "folder":
        return {}
    return source_archive_inputs(wildcards.source, spec)


def device_resources():
    """Training rules ask a cluster for a GPU unless the config says cpu."""
    return 1 if config["models"]["device"] != "cpu" else 0


def evaluation_inputs(wildcards):
    family, _, feat = wildcards.model.partition("_")
    if family == "rf":
        return {
            "model": f"{RESULTS}/models/{wildcards.model}.skops",
            "features": f"{RESULTS}/features/{feat}.parquet",
        }
    if family == "mlp":
        return {
            "model": f"{RESULTS}/models/{wildcards.model}.pt",
            "features": f"{RESULTS}/features/{feat}.parquet",
        }
    return {
        "model": f"{RESULTS}/models/{wildcards.model}.pt",
        **{s: f"{RESULTS}/images/{s}.npy" for s in ("train", "val", "test")},
    }
