"""Derived sources (synthdetect.data.derived): the autoencoders the workflow trains itself,
once per derived source, on its parent's train split, and the clips of a derived source's
own buckets (`derive`, in place of `clip`): the parent's windows re-generated. Griffin-Lim
needs no training; its settings are params of the source's `derive` jobs."""

AUTOENCODER_SOURCES = autoencoder_sources(config)


rule train_autoencoder:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        model=f"{RESULTS}/generators/{{source}}.pt",
        history=f"{RESULTS}/generators/{{source}}.json",
    log:
        f"{RESULTS}/logs/train_autoencoder/{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_autoencoder/{{source}}.tsv"
    wildcard_constraints:
        source="|".join(AUTOENCODER_SOURCES) or "(?!)",
    conda:
        "../../envs/synthdetect.yaml"
    # one thread: torch's thread count changes its sums, and the weights must not
    # depend on how many cores the run was given
    threads: 1
    resources:
        mem_mb=3000,
        runtime=lambda wildcards: 10
        + int(GENERATOR_SETTINGS[wildcards.source]["max_seconds"] // 60),
    params:
        parent=lambda wildcards: config["sources"][wildcards.source]["parent"],
        settings=lambda wildcards: GENERATOR_SETTINGS[wildcards.source],
        seed=config["seed"],
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
        code=code("train_autoencoder.py"),
    script:
        "../scripts/train_autoencoder.py"


rule derive:
    input:
        autoencoder=autoencoder_input,
        audio=lambda wildcards: [row.path for row in bucket_rows(wildcards)],
    output:
        directory(f"{RESULTS}/clips/{{bucket}}"),
    log:
        f"{RESULTS}/logs/derive/{{bucket}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/derive/{{bucket}}.tsv"
    wildcard_constraints:
        bucket="|".join(rf"{re.escape(s)}-b\d+" for s in DERIVED) or "(?!)",
    group:
        "pertrack"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        # the parent's file and window of every track
        tracks=lambda wildcards: [
            (row.source, row.track, row.path, float(row.offset_s))
            for row in bucket_rows(wildcards)
        ],
        generators=derived_generators,
        seed=config["seed"],
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
        code=code("synthdetect.pipeline.derive"),
    run:
        from synthdetect.pipeline.derive import derive_bucket, generator_for

        derive_bucket(
            params.tracks,
            output[0],
            generators={
                source: generator_for(
                    spec,
                    seed=params.seed,
                    source=source,
                    model=input.autoencoder[0] if input.autoencoder else None,
                )
                for source, spec in params.generators.items()
            },
            seconds=params.seconds,
            sample_rate=params.sample_rate,
            log=log[0],
        )
