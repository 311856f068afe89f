"""Composer sources: the composer's songs rendered with a SoundFont of the config's."""

from synthdetect.data.sourcekind import ComposerKind

# A missing SoundFont already stopped the run at startup (the kind's check, sources.smk).
COMPOSER_SOURCES = [s for s in SOURCES if isinstance(source_kind(s), ComposerKind)]


rule composer_corpus:
    output:
        index=f"{RESOURCES}/composer/{{source}}/index.parquet",
    log:
        f"{RESOURCES}/composer/{{source}}/logs/composer_corpus.log",
    benchmark:
        f"{RESOURCES}/composer/{{source}}/benchmarks/composer_corpus.tsv"
    wildcard_constraints:
        source="|".join(COMPOSER_SOURCES) or "(?!)",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        n=lambda wildcards: config["sources"][wildcards.source]["n"],
        soundfont=lambda wildcards: config["sources"][wildcards.source]["soundfont"],
        seed=config["seed"],
        sample_rate=config["demo"]["sample_rate"],
        bitrate_kbps=config["demo"]["bitrate_kbps"],
        code=code("composer_corpus.py"),
    script:
        "../scripts/composer_corpus.py"
