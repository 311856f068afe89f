"""Fan-in: feature tables, histogram analysis and the per-split image caches.

The three fan-ins are `run:` blocks in Snakemake's own process (synthdetect.pipeline.gather):
seconds of reading small files each, a hundred of them in the demo, where a Python process
per job cost more than the work."""


rule features:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        histograms=per_bucket("{variant}/histograms/{bucket}"),
    output:
        color="{variant}/features/color.parquet",
        deriv="{variant}/features/deriv.parquet",
        raw="{variant}/features/raw.parquet",
    log:
        "{variant}/logs/features.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        features=HISTOGRAMS,
        split=lambda wildcards: variant(wildcards).split,
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("synthdetect.pipeline.gather"),
    run:
        from synthdetect.pipeline.gather import feature_tables

        feature_tables(
            covered(wildcards, params, "histograms", params.split),
            dict(output.items()),
            features=params.features,
            log=log[0],
        )


rule fakeprint_features:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        fakeprints=per_bucket("{variant}/fakeprints/{bucket}"),
    output:
        "{variant}/features/fakeprint.parquet",
    log:
        "{variant}/logs/fakeprint_features.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        split=lambda wildcards: variant(wildcards).split,
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("synthdetect.pipeline.gather"),
    run:
        from synthdetect.pipeline.gather import fakeprint_features

        fakeprint_features(
            covered(wildcards, params, "fakeprints", params.split),
            output[0],
            log=log[0],
        )


rule analysis:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        raw=f"{RESULTS}/features/raw.parquet",
    output:
        color=report(
            f"{RESULTS}/figures/color_histograms.png",
            caption="../report/color_histograms.rst",
            category="Histogram analysis",
        ),
        deriv=report(
            f"{RESULTS}/figures/derivative_histograms.png",
            caption="../report/derivative_histograms.rst",
            category="Histogram analysis",
        ),
        summary=f"{RESULTS}/figures/histogram_differences.json",
    log:
        f"{RESULTS}/logs/analysis.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        features=HISTOGRAMS,
        code=code("analysis.py"),
    script:
        "../scripts/analysis.py"


rule image_cache:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        images=per_bucket("{variant}/spectrograms/{bucket}"),
    output:
        "{variant}/images/{split}.npy",
    log:
        "{variant}/logs/image_cache/{split}.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        size=config["spectrogram"]["size"],
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("synthdetect.pipeline.gather"),
    run:
        from synthdetect.pipeline.gather import image_cache

        image_cache(
            covered(wildcards, params, "spectrograms", wildcards.split),
            output[0],
            size=params.size,
            log=log[0],
        )
