"""Config validation, paths and the input functions every stage shares."""

import re
from functools import cache
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from synthdetect.pipeline.generators import generator_settings
from synthdetect.data.kinds import KINDS, check_sources, derived_sources, kind_of
from synthdetect.data.sourcekind import WorkflowPaths
from synthdetect.pipeline.buckets import bucket_of
from synthdetect.models import registry
from synthdetect.pipeline.fingerprint import code_fingerprint
from synthdetect.pipeline.plan import TYPES, autoencoder_sources, plan_variants
from synthdetect.pipeline.scheduling import one_pending_timer

# Snakemake's scheduler otherwise starts a timer chain per finished job and spends most
# of a core on scheduling rounds (synthdetect.pipeline.scheduling)
one_pending_timer()

validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
RESOURCES = config["resources"]
SOURCES = sorted(config["sources"])
#: sources whose tracks are another's re-generated (synthdetect.data.derived): no
#: candidates job, buckets of their own, Table 1 leaves them out
DERIVED = derived_sources(config["sources"])
DEMO = config["demo"]["out"]
MODELS = config["models"]["enabled"]
SRC = Path(workflow.basedir).parent / "src"
SCRIPTS = Path(workflow.basedir) / "scripts"
BUCKETS = config["buckets"]
#: the histogram stage's settings, apart from the fakeprint's: each reruns only its own
HISTOGRAMS = {k: config["features"][k] for k in ("color", "deriv")}
FAKEPRINT = config["features"]["fakeprint"]
#: what a bundle records and scoring repeats: the clip, spectrogram and feature settings
PREPROCESSING = {
    "clip": {k: config["clip"][k] for k in ("seconds", "sample_rate")},
    "spectrogram": config["spectrogram"],
    "features": config["features"],
}


VARIANTS = plan_variants(config)


def folders(*types):
    """The results folders of the variants of these types (synthdetect.pipeline.plan)."""
    return [folder for folder, v in VARIANTS.items() if v.type in types]


def folder_pattern(*types):
    """A wildcard constraint matching exactly the folders of these variant types."""
    return "|".join(re.escape(f) for f in folders(*types)) or "(?!)"


def variant(wildcards):
    return VARIANTS[wildcards.variant]


def hp(wildcards):
    """The hyper-parameter section of a model's family (synthdetect.models.registry)."""
    return config["models"][registry.get(wildcards.model).family.name]


wildcard_constraints:
    source="|".join(SOURCES),
    track=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    model=registry.pattern(),
    split="train|val|test",
    # b007, or <source>-b007 for a derived source's own buckets
    bucket=r"([A-Za-z][A-Za-z0-9_]*-)?b\d+",
    variant=folder_pattern(*TYPES),


@cache
def code(*entries):
    """Fingerprint of the library code a rule runs -- a workflow script's (``name.py``) or a
    module's imports, followed transitively (synthdetect.pipeline.fingerprint)."""
    return code_fingerprint(
        [SCRIPTS / e if e.endswith(".py") else e for e in entries], SRC
    )


@cache
def _manifest(path, mtime):
    table = pd.read_parquet(path)
    buckets = {}
    for row in table.itertuples(index=False):
        bucket = bucket_of(row.source, row.track, BUCKETS, row.source in DERIVED)
        buckets.setdefault(bucket, []).append(row)
    return table, buckets


def _manifest_version():
    path = checkpoints.manifest.get().output.manifest
    return _manifest(path, Path(path).stat().st_mtime_ns)


def manifest():
    """The manifest table (after the checkpoint has run), read once per version."""
    return _manifest_version()[0]


def bucket_rows(wildcards):
    """The manifest rows of one bucket of tracks (synthdetect.pipeline.buckets)."""
    try:
        return _manifest_version()[1][wildcards.bucket]
    except KeyError:
        raise ValueError(
            f"batch {wildcards.bucket} holds no track of the manifest "
            f"{checkpoints.manifest.get().output.manifest}"
        ) from None


def covers(v, row):
    """Whether variant ``v``'s per-track stages cover a manifest row (its split and
    sources: a robustness manipulation the test split, a control no derived source)."""
    return (v.split is None or row.split == v.split) and (
        v.sources is None or row.source in v.sources
    )


def bucket_tracks(wildcards):
    """``(source, track)`` of each track of a bucket that the variant covers (the test
    split only for a robustness manipulation): the per-track stages' params."""
    v = VARIANTS[getattr(wildcards, "variant", RESULTS)]
    return [(row.source, row.track) for row in bucket_rows(wildcards) if covers(v, row)]


def bucket_folder(pattern):
    """An input function: the bucket's folder of the previous stage, once the manifest
    checkpoint is known. A rule whose params read the manifest must depend on the
    checkpoint through its input, or a job run on its own (a SLURM job, `--target-jobs`)
    fails with "Rule parameter depends on checkpoint"."""

    def folder(wildcards):
        bucket_rows(wildcards)
        return pattern.format(
            variant=getattr(wildcards, "variant", RESULTS), bucket=wildcards.bucket
        )

    return folder


def per_bucket(pattern, split=None):
    """An input function: ``pattern`` for every bucket holding a track of the manifest
    (or of one split, given here, as the `split` wildcard or by the variant).
    ``{variant}`` in the pattern is filled in from the wildcards."""

    def paths(wildcards):
        table, buckets = _manifest_version()
        folder = getattr(wildcards, "variant", RESULTS)
        v = VARIANTS[folder]
        wanted = split or getattr(wildcards, "split", None) or v.split
        return [
            pattern.format(variant=folder, bucket=b)
            for b, rows in sorted(buckets.items())
            if any(
                (not wanted or row.split == wanted)
                and (v.sources is None or row.source in v.sources)
                for row in rows
            )
        ]

    return paths


def device_resources():
    """Training rules ask a cluster for a GPU unless the config says cpu."""
    return 1 if config["models"]["device"] != "cpu" else 0


def model_input(model, folder, data, splits=("train", "val", "test")):
    """A model's input in ``data`` (a variant's data folder): its feature table, or the
    image caches of ``splits`` (synthdetect.models.registry)."""
    spec = registry.get(model)
    if spec.images:
        return {s: f"{data}/images/{s}.npy" for s in splits}
    return {"features": f"{data}/features/{spec.input}.parquet"}


def training_inputs(wildcards):
    """The manifest and a model's train and validation input, in the variant's data."""
    return {
        "manifest": f"{RESULTS}/manifest.parquet",
        **model_input(
            wildcards.model,
            wildcards.variant,
            variant(wildcards).data,
            ("train", "val"),
        ),
    }


def covered(wildcards, params, folder, split):
    """The tracks a fan-in job stacks: the variant's, in its per-track `folder`."""
    from synthdetect.pipeline.gather import Covered

    return Covered(
        f"{RESULTS}/manifest.parquet",
        f"{wildcards.variant}/{folder}",
        params.buckets,
        params.derived,
        split=split,
        sources=params.sources,
    )


def sources_param(wildcards):
    """Which sources a variant trains and tests on (cross-source settings, Table 1 beside
    derived sources); None: all."""
    v = variant(wildcards)
    return {"train": v.train, "test": v.test}


def covered_sources(wildcards):
    """The sources a variant's feature tables and image caches hold; None: all."""
    v = variant(wildcards)
    return None if v.sources is None else list(v.sources)


def weights(model, folder):
    return f"{folder}/models/{registry.get(model).weights_file}"


def evaluation_inputs(wildcards):
    v = variant(wildcards)
    return {
        "model": weights(wildcards.model, v.models_from),
        **model_input(wildcards.model, v.folder, v.data),
    }


def robustness_inputs(wildcards):
    """A Table 1 model and the test split of every manipulation, in its input form."""
    inputs = {"model": weights(wildcards.model, RESULTS)}
    for folder in [RESULTS, *folders("robustness")]:
        name = "original" if folder == RESULTS else VARIANTS[folder].name
        found = model_input(wildcards.model, folder, folder, ("test",))
        inputs[name] = found.get("features") or found["test"]
    return inputs


def variant_metrics(folder_list):
    """Every model's test metrics of each variant, keyed by input name variant::model."""
    return {
        f"{VARIANTS[folder].name}::{model}": f"{folder}/metrics/{model}.json"
        for folder in folder_list
        for model in VARIANTS[folder].models
    }


# ---- sources: what each needs depends on its kind (synthdetect.data.kinds)

PATHS = WorkflowPaths(resources=RESOURCES, demo=DEMO, seed=config["seed"])

# Startup checks the schema cannot make (a missing folder or SoundFont, an archive given
# only by a path that does not exist, a derived source's parent): each names the source,
# the key and the fix.
check_sources(config["sources"])

#: each derived source's generator and its checked settings (defaults filled in)
GENERATOR_SETTINGS = {
    name: generator_settings(name, config["sources"][name]) for name in DERIVED
}


def source_kind(source):
    return kind_of(source, config["sources"][source])


def candidate_inputs(wildcards):
    """What a source's candidates job reads: a corpus index, the fetched audio folder, or
    nothing (a folder source)."""
    spec = config["sources"][wildcards.source]
    return source_kind(wildcards.source).candidate_inputs(wildcards.source, spec, PATHS)


def candidate_recipe(wildcards):
    """What the candidates job builds the table from (the kind's choices, as params)."""
    spec = config["sources"][wildcards.source]
    return source_kind(wildcards.source).recipe(wildcards.source, spec)


def source_listing(wildcards):
    """A folder source's file listing, hashed (adding a file reruns it); "" otherwise."""
    return source_kind(wildcards.source).listing(config["sources"][wildcards.source])


def derived_generators(wildcards):
    """The generator of each derived source in a bucket (its clip job's param: a setting
    reruns that source's buckets only, as they hold no other source's tracks)."""
    return {
        row.source: {
            "generator": config["sources"][row.source]["generator"],
            "settings": GENERATOR_SETTINGS[row.source],
        }
        for row in bucket_rows(wildcards)
        if row.source in DERIVED
    }


def autoencoder_input(wildcards):
    """The trained autoencoder of a derived bucket's source, if its generator is one (a
    derived source's buckets hold its tracks only)."""
    return [
        f"{RESULTS}/generators/{source}.pt"
        for source, spec in derived_generators(wildcards).items()
        if spec["generator"] == "autoencoder"
    ]


def neural_input(wildcards):
    """The trained autoencoder a ``neural`` robustness manipulation runs the clips through."""
    spec = variant(wildcards).manipulation or {}
    if spec.get("kind") != "neural":
        return []
    return [f"{RESULTS}/generators/{spec['source']}.pt"]
