"""Know when to trust a score: calibrate each model, bound its metrics, export a bundle.

`calibrate` fits a temperature and a decision threshold on the validation split, measures
calibration error before and after, and bootstraps confidence intervals of Table 1's
metrics on the test split. `bundle` packs the weights with the exact preprocessing and
the calibration into {results}/bundles/{model}, which `synthdetect predict` loads.
"""

#: Reliability bins (ECE) and bootstrap settings: fixed, documented in the outputs.
CALIBRATION_BINS = 15
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


rule calibrate:
    input:
        predictions=f"{RESULTS}/predictions/{{model}}.parquet",
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        calibration=f"{RESULTS}/calibration/{{model}}.json",
        ci=f"{RESULTS}/metrics/{{model}}.ci.json",
        reliability=report(
            f"{RESULTS}/figures/reliability_{{model}}.png",
            caption="../report/reliability.rst",
            category="Calibration",
        ),
    log:
        f"{RESULTS}/logs/calibrate/{{model}}.log",
    # a `run:` block in Snakemake's process, as `evaluate`: a second of work behind
    # seconds of imports
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        hp=hp,
        seed=config["seed"],
        bins=CALIBRATION_BINS,
        resamples=BOOTSTRAP_RESAMPLES,
        level=CI_LEVEL,
        fprs=config["operating_points"]["fpr"],
        code=code("synthdetect.evaluation.calibration"),
    run:
        from synthdetect.evaluation.calibration import calibrate_job

        calibrate_job(wildcards.model, input, output, params, log=log[0])


rule operating_points_report:
    input:
        expand(f"{RESULTS}/calibration/{{model}}.json", model=MODELS),
    output:
        csv=report(
            f"{RESULTS}/report/operating_points.csv",
            caption="../report/operating_points.rst",
            category="Calibration",
        ),
        md=f"{RESULTS}/report/operating_points.md",
    log:
        f"{RESULTS}/logs/operating_points_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        models=MODELS,
        code=code("operating_points_report.py"),
    script:
        "../scripts/operating_points_report.py"


rule ood:
    input:
        unpack(lambda wildcards: model_input(wildcards.model, RESULTS, RESULTS)),
        model=lambda wildcards: weights(wildcards.model, RESULTS),
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        model=f"{RESULTS}/ood/{{model}}.npz",
        summary=f"{RESULTS}/ood/{{model}}.json",
        distances=f"{RESULTS}/ood/{{model}}.distances.parquet",
    log:
        f"{RESULTS}/logs/ood/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ood/{{model}}.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    # a feature model's scoring is milliseconds behind a process start (as `evaluate`)
    threads: lambda wildcards: 2 if registry.get(wildcards.model).images else 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        hp=hp,
        quantile=config["abstain"]["quantile"],
        device=config["models"]["device"],
        code=code("ood.py"),
    script:
        "../scripts/ood.py"


rule bundle:
    input:
        weights=lambda wildcards: weights(wildcards.model, RESULTS),
        ood=f"{RESULTS}/ood/{{model}}.npz",
        ood_summary=f"{RESULTS}/ood/{{model}}.json",
        calibration=f"{RESULTS}/calibration/{{model}}.json",
        ci=f"{RESULTS}/metrics/{{model}}.ci.json",
        metrics=f"{RESULTS}/metrics/{{model}}.json",
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        directory(f"{RESULTS}/bundles/{{model}}"),
    log:
        f"{RESULTS}/logs/bundle/{{model}}.log",
    # a `run:` block in Snakemake's process, as `evaluate`
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        hp=hp,
        seed=config["seed"],
        preprocessing=PREPROCESSING,
        # the sources Table 1's models learned from (no derived source)
        sources={
            name: {
                "kind": config["sources"][name]["kind"],
                "label": config["sources"][name]["label"],
            }
            for name in VARIANTS[RESULTS].train or config["sources"]
        },
        band=config["abstain"]["band"],
        code=code("synthdetect.serving.bundle"),
    run:
        from synthdetect.serving.bundle import bundle_job

        bundle_job(wildcards.model, input, output[0], params, log=log[0])


# ---- the human-only false-positive benchmark (synthdetect.serving.benchmark)


BENCHMARK = config["benchmark"]["collections"]


# a collection is decoded and turned into spectrograms once, for every bundle
rule benchmark_windows:
    output:
        directory(f"{RESULTS}/benchmark/windows/{{collection}}"),
    log:
        f"{RESULTS}/logs/benchmark_windows/{{collection}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/benchmark_windows/{{collection}}.tsv"
    wildcard_constraints:
        collection="|".join(re.escape(name) for name in BENCHMARK) or "(?!)",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        collection=lambda wildcards: BENCHMARK[wildcards.collection],
        # the collection's file names, sizes and times: a new file reruns its windows
        listing=lambda wildcards: KINDS["folder"].listing(
            BENCHMARK[wildcards.collection]
        ),
        preprocessing=PREPROCESSING,
        # the fakeprint model reads the clip, not the image
        clips=any(registry.get(m).input == "fakeprint" for m in MODELS),
        code=code("benchmark_windows.py"),
    script:
        "../scripts/benchmark_windows.py"


rule benchmark_scores:
    input:
        bundle=f"{RESULTS}/bundles/{{model}}",
        windows=expand(
            f"{RESULTS}/benchmark/windows/{{collection}}", collection=BENCHMARK
        ),
    output:
        f"{RESULTS}/benchmark/{{model}}.parquet",
    log:
        f"{RESULTS}/logs/benchmark_scores/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/benchmark_scores/{{model}}.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: lambda wildcards: 2 if registry.get(wildcards.model).images else 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        collections=list(BENCHMARK),
        code=code("benchmark_scores.py"),
    script:
        "../scripts/benchmark_scores.py"


rule false_positives_report:
    input:
        scores=expand(f"{RESULTS}/benchmark/{{model}}.parquet", model=MODELS),
        calibration=expand(f"{RESULTS}/calibration/{{model}}.json", model=MODELS),
    output:
        csv=report(
            f"{RESULTS}/report/false_positives.csv",
            caption="../report/false_positives.rst",
            category="False positives",
        ),
        md=f"{RESULTS}/report/false_positives.md",
    log:
        f"{RESULTS}/logs/false_positives_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=MODELS,
        seed=config["seed"],
        resamples=BOOTSTRAP_RESAMPLES,
        level=CI_LEVEL,
        code=code("false_positives_report.py"),
    script:
        "../scripts/false_positives_report.py"


# ---- abstaining: does the distance see unusual inputs? (synthdetect.serving.abstain)


rule unusual_inputs:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        clips=per_bucket(f"{RESULTS}/clips/{{bucket}}", split="test"),
    output:
        directory(f"{RESULTS}/unusual"),
    log:
        f"{RESULTS}/logs/unusual_inputs.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        clips=f"{RESULTS}/clips",
        buckets=BUCKETS,
        # Table 1's test tracks: what the bundles were trained to tell apart
        sources=VARIANTS[RESULTS].test,
        code=code("unusual_inputs.py"),
    script:
        "../scripts/unusual_inputs.py"


# the test clips and their unusual copies decoded and preprocessed once, for every bundle
rule abstain_inputs:
    input:
        unusual=f"{RESULTS}/unusual",
        manifest=f"{RESULTS}/manifest.parquet",
        clips=per_bucket(f"{RESULTS}/clips/{{bucket}}", split="test"),
    output:
        directory(f"{RESULTS}/abstain_inputs"),
    log:
        f"{RESULTS}/logs/abstain_inputs.log",
    benchmark:
        f"{RESULTS}/benchmarks/abstain_inputs.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        clips=f"{RESULTS}/clips",
        buckets=BUCKETS,
        sources=VARIANTS[RESULTS].test,
        preprocessing=PREPROCESSING,
        # the fakeprint model reads the clip, not the image
        fakeprints=any(registry.get(m).input == "fakeprint" for m in MODELS),
        code=code("abstain_inputs.py"),
    script:
        "../scripts/abstain_inputs.py"


rule abstain_scores:
    input:
        bundle=f"{RESULTS}/bundles/{{model}}",
        inputs=f"{RESULTS}/abstain_inputs",
    output:
        f"{RESULTS}/abstain/{{model}}.parquet",
    log:
        f"{RESULTS}/logs/abstain_scores/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/abstain_scores/{{model}}.tsv"
    conda:
        "../../envs/synthdetect.yaml"
    # a network's forward passes use two cores
    threads: lambda wildcards: 2 if registry.get(wildcards.model).images else 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=code("abstain_scores.py"),
    script:
        "../scripts/abstain_scores.py"


rule abstain_report:
    input:
        scores=expand(f"{RESULTS}/abstain/{{model}}.parquet", model=MODELS),
        summaries=expand(f"{RESULTS}/ood/{{model}}.json", model=MODELS),
        calibration=expand(f"{RESULTS}/calibration/{{model}}.json", model=MODELS),
        benchmark=(
            expand(f"{RESULTS}/benchmark/{{model}}.parquet", model=MODELS)
            if BENCHMARK
            else []
        ),
    output:
        csv=report(
            f"{RESULTS}/report/abstain.csv",
            caption="../report/abstain.rst",
            category="False positives",
        ),
        md=f"{RESULTS}/report/abstain.md",
    log:
        f"{RESULTS}/logs/abstain_report.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=MODELS,
        band=config["abstain"]["band"],
        code=code("abstain_report.py"),
    script:
        "../scripts/abstain_report.py"


# ---- the model cards: the reports that score a finished bundle, next to it (one job:
# a card is a few rows of JSON, and every report already covers every model)


# the reports a card collects: abstain rates always, the others where the config runs them
CARD_REPORTS = {
    "abstain": f"{RESULTS}/report/abstain.csv",
    **(
        {"false_positives": f"{RESULTS}/report/false_positives.csv"}
        if BENCHMARK
        else {}
    ),
}


rule model_cards:
    input:
        **CARD_REPORTS,
        robustness=(
            [f"{RESULTS}/report/robustness.csv"] if folders("robustness") else []
        ),
        bundles=expand(f"{RESULTS}/bundles/{{model}}", model=MODELS),
    output:
        expand(f"{RESULTS}/bundles/{{model}}.card.json", model=MODELS),
    log:
        f"{RESULTS}/logs/model_cards.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        models=MODELS,
        code=code("model_cards.py"),
    script:
        "../scripts/model_cards.py"
