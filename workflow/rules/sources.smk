"""Sources: corpora and downloads become candidate tables, then one manifest.

What a source needs depends on its kind; the registry (synthdetect.data.kinds) answers,
so no rule here tests a kind's name.
"""


rule demo_corpus:
    output:
        index=f"{DEMO}/index.parquet",
    log:
        f"{DEMO}/logs/demo_corpus.log",
    benchmark:
        f"{DEMO}/benchmarks/demo_corpus.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        n_per_class=config["demo"]["n_per_class"],
        seed=config["seed"],
        sample_rate=config["demo"]["sample_rate"],
        bitrate_kbps=config["demo"]["bitrate_kbps"],
        human_dirs=config["demo"]["human_dirs"],
        code=code("demo_corpus.py"),
    script:
        "../scripts/demo_corpus.py"


rule candidates:
    input:
        unpack(candidate_inputs),
    output:
        f"{RESULTS}/candidates/{{source}}.parquet",
    log:
        f"{RESULTS}/logs/candidates/{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/candidates/{{source}}.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        recipe=candidate_recipe,
        listing=source_listing,
        code=code("candidates.py"),
    script:
        "../scripts/candidates.py"


# Derived sources have no candidates: the manifest copies their parent's rows.
OWN_SOURCES = [s for s in SOURCES if s not in DERIVED]


checkpoint manifest:
    input:
        expand(f"{RESULTS}/candidates/{{source}}.parquet", source=OWN_SOURCES),
    output:
        manifest=f"{RESULTS}/manifest.parquet",
        excluded=f"{RESULTS}/excluded.parquet",
    log:
        f"{RESULTS}/logs/manifest.log",
    benchmark:
        f"{RESULTS}/benchmarks/manifest.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        names=OWN_SOURCES,
        sources={
            name: {
                k: config["sources"][name][k]
                for k in ("n", "crop", "windows_per_recording")
            }
            for name in OWN_SOURCES
        },
        derived={
            name: {k: config["sources"][name][k] for k in ("parent", "n")}
            for name in DERIVED
        },
        seed=config["seed"],
        clip=config["clip"],
        split=config["split"],
        balance=config["balance"],
        code=code("manifest.py"),
    script:
        "../scripts/manifest.py"
