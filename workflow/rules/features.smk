"""Fan-in: feature tables, histogram analysis and the per-split image caches."""


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
    benchmark:
        "{variant}/benchmarks/features.tsv"
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        features=HISTOGRAMS,
        root=lambda wildcards: f"{wildcards.variant}/histograms",
        split=lambda wildcards: variant(wildcards).split,
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("features.py"),
    script:
        "../scripts/features.py"


rule fakeprint_features:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        fakeprints=per_bucket("{variant}/fakeprints/{bucket}"),
    output:
        "{variant}/features/fakeprint.parquet",
    log:
        "{variant}/logs/fakeprint_features.log",
    benchmark:
        "{variant}/benchmarks/fakeprint_features.tsv"
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        root=lambda wildcards: f"{wildcards.variant}/fakeprints",
        split=lambda wildcards: variant(wildcards).split,
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("fakeprint_features.py"),
    script:
        "../scripts/fakeprint_features.py"


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
    benchmark:
        "{variant}/benchmarks/image_cache/{split}.tsv"
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "robustness"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        size=config["spectrogram"]["size"],
        root=lambda wildcards: f"{wildcards.variant}/spectrograms",
        buckets=BUCKETS,
        derived=DERIVED,
        sources=covered_sources,
        code=code("image_cache.py"),
    script:
        "../scripts/image_cache.py"
