"""Table 1 and the figures, collected for `snakemake --report`."""


rule table1:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{model}}.json", model=MODELS),
        analysis=f"{RESULTS}/figures/histogram_differences.json",
    output:
        csv=report(
            f"{RESULTS}/report/table1.csv",
            caption="../report/table1.rst",
            category="Table 1",
        ),
        md=f"{RESULTS}/report/table1.md",
    log:
        f"{RESULTS}/logs/table1.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        models=MODELS,
        code=code("table1.py"),
    script:
        "../scripts/table1.py"


# ---- beyond Table 1: robustness, codec controls, cross-source (synthdetect.evaluation.robustness)

ROBUSTNESS_MODELS = next((VARIANTS[f].models for f in folders("robustness")), MODELS)
CONTROL_FOLDERS = folders("control")
CROSS_FOLDERS = [f for f in folders("cross") if VARIANTS[f].study is None]
STUDY_FOLDERS = [f for f in folders("cross") if VARIANTS[f].study]


rule robustness_scores:
    input:
        unpack(robustness_inputs),
        manifest=f"{RESULTS}/manifest.parquet",
        calibration=f"{RESULTS}/calibration/{{model}}.json",
    output:
        f"{RESULTS}/robustness_scores/{{model}}.parquet",
    log:
        f"{RESULTS}/logs/robustness_scores/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/robustness_scores/{{model}}.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    # a feature model's scoring is milliseconds behind a process start (as `evaluate`)
    threads: lambda wildcards: 2 if registry.get(wildcards.model).images else 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        manipulations=lambda wildcards: ["original"]
        + [VARIANTS[s].name for s in folders("robustness")],
        hp=hp,
        device=config["models"]["device"],
        # Table 1's test sources: no derived source (None: every source)
        sources=VARIANTS[RESULTS].test,
        # the sources each input holds: Table 1's folder every one, a manipulation's
        # Table 1's test sources
        covers=lambda wildcards: {"original": VARIANTS[RESULTS].sources}
        | {VARIANTS[s].name: VARIANTS[s].sources for s in folders("robustness")},
        code=code("robustness_scores.py"),
    script:
        "../scripts/robustness_scores.py"


rule robustness_report:
    input:
        expand(
            f"{RESULTS}/robustness_scores/{{model}}.parquet", model=ROBUSTNESS_MODELS
        ),
    output:
        csv=report(
            f"{RESULTS}/report/robustness.csv",
            caption="../report/robustness.rst",
            category="Robustness",
        ),
        md=f"{RESULTS}/report/robustness.md",
        heatmap=report(
            f"{RESULTS}/figures/robustness_heatmap.png",
            caption="../report/robustness.rst",
            category="Robustness",
        ),
    log:
        f"{RESULTS}/logs/robustness_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("robustness_report.py"),
    script:
        "../scripts/robustness_report.py"


rule controls_report:
    input:
        **variant_metrics([RESULTS, *CONTROL_FOLDERS]),
    output:
        csv=report(
            f"{RESULTS}/report/controls.csv",
            caption="../report/controls.rst",
            category="Codec controls",
        ),
        md=f"{RESULTS}/report/controls.md",
    log:
        f"{RESULTS}/logs/controls_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        controls={VARIANTS[s].name: VARIANTS[s].control for s in CONTROL_FOLDERS},
        code=code("controls_report.py"),
    script:
        "../scripts/controls_report.py"


rule cross_source_report:
    input:
        **variant_metrics(CROSS_FOLDERS),
    output:
        csv=report(
            f"{RESULTS}/report/cross_source.csv",
            caption="../report/cross_source.rst",
            category="Cross-source",
        ),
        md=f"{RESULTS}/report/cross_source.md",
        heatmap=report(
            f"{RESULTS}/figures/cross_source.png",
            caption="../report/cross_source.rst",
            category="Cross-source",
        ),
    log:
        f"{RESULTS}/logs/cross_source_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        settings={
            VARIANTS[s].name: {
                "train": VARIANTS[s].train,
                "test": VARIANTS[s].test,
            }
            for s in CROSS_FOLDERS
        },
        code=code("cross_source_report.py"),
    script:
        "../scripts/cross_source_report.py"


rule generators_report:
    input:
        **{
            f"{VARIANTS[f].name}::{m}": f"{f}/predictions/{m}.parquet"
            for f in STUDY_FOLDERS
            for m in VARIANTS[f].models
        },
    output:
        csv=report(
            f"{RESULTS}/report/generators.csv",
            caption="../report/generators.rst",
            category="Generators",
        ),
        md=f"{RESULTS}/report/generators.md",
        heatmap=report(
            f"{RESULTS}/figures/generator_matrix.png",
            caption="../report/generators.rst",
            category="Generators",
        ),
    log:
        f"{RESULTS}/logs/generators_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings={
            VARIANTS[f].name: {
                "study": VARIANTS[f].study,
                "train_generators": VARIANTS[f].train_generators,
                "test_generators": VARIANTS[f].test_generators,
            }
            for f in STUDY_FOLDERS
        },
        fpr=config["generators"]["fpr"],
        code=code("generators_report.py"),
    script:
        "../scripts/generators_report.py"
