"""Composer sources: the composer's songs rendered with a SoundFont of the config's."""

COMPOSER_SOURCES = [s for s in SOURCES if config["sources"][s]["kind"] == "composer"]

# A missing SoundFont stops the run at startup, naming the source, the key and the fix.
for _name in COMPOSER_SOURCES:
    if not Path(config["sources"][_name]["soundfont"]).is_file():
        from synthdetect.corpora.composer_corpus import missing_soundfont_message

        raise ValueError(
            missing_soundfont_message(_name, config["sources"][_name]["soundfont"])
        )


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
