"""Derived sources' generators (synthdetect.data.derived): the autoencoders the workflow
trains itself, once per derived source, on its parent's train split. Griffin-Lim needs no
training; its settings are params of the source's clip jobs."""

AUTOENCODER_SOURCES = [
    s for s in DERIVED if config["sources"][s]["generator"] == "autoencoder"
]


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
