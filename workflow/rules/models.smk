"""Table 1's models (synthdetect.models.registry): train on the manifest's train split
(best epoch on val), then test. Two training rules, one per way a family trains: a
scikit-learn estimator is fitted once, a torch network trains for epochs."""


rule train_sklearn:
    input:
        unpack(training_inputs),
    output:
        model="{variant}/models/{model}.skops",
    log:
        "{variant}/logs/train/{model}.log",
    # its wall seconds (bench/scaling.py reads them; a `run:` job's memory and CPU
    # columns are those of Snakemake's whole process)
    benchmark:
        "{variant}/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model=registry.pattern(trainer="sklearn"),
        variant=folder_pattern("table1", "control", "cross"),
    # a forest grows its trees on two cores (threads that release the GIL); the
    # fakeprint's logistic regression on one. A `run:` block in Snakemake's process, as
    # `evaluate`: the fit is a second or two behind seconds of imports
    threads: lambda wildcards: 2 if registry.get(wildcards.model).family.name == "rf" else 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hp=hp,
        seed=config["seed"],
        sources=sources_param,
        covers=covered_sources,
        device=config["models"]["device"],
        code=code("synthdetect.models.run"),
    run:
        from synthdetect.models.run import train_job

        train_job(
            wildcards.model, input, output, params, threads=threads, log=log[0]
        )


rule train_torch:
    input:
        unpack(training_inputs),
    output:
        model="{variant}/models/{model}.pt",
        history="{variant}/models/{model}.history.parquet",
        curve=report(
            "{variant}/figures/loss_{model}.png",
            caption="../report/loss_curve.rst",
            category="Training",
        ),
    log:
        "{variant}/logs/train/{model}.log",
    benchmark:
        "{variant}/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model=registry.pattern(trainer="torch"),
        variant=folder_pattern("table1", "control", "cross"),
    conda:
        "../../envs/synthdetect.yaml"
    # an MLP's batches are too small for a second thread to pay (its CPU time equals its
    # wall time on two): the second core runs another job instead
    threads: lambda wildcards: 2 if registry.get(wildcards.model).images else 1
    resources:
        mem_mb=lambda wildcards: 8000 if registry.get(wildcards.model).images else 4000,
        runtime=lambda wildcards: 240 if registry.get(wildcards.model).images else 60,
        gpu=lambda wildcards: (
            device_resources() if registry.get(wildcards.model).images else 0
        ),
    params:
        hp=hp,
        seed=config["seed"],
        sources=sources_param,
        covers=covered_sources,
        device=config["models"]["device"],
        code=code("train.py"),
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        predictions="{variant}/predictions/{model}.parquet",
        metrics="{variant}/metrics/{model}.json",
        confusion=report(
            "{variant}/figures/confusion_{model}.png",
            caption="../report/confusion.rst",
            category="Test split",
        ),
    log:
        "{variant}/logs/evaluate/{model}.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control", "cross"),
    # a `run:` block in Snakemake's own process: the work is a second or two behind
    # seconds of imports, which this process pays once instead of once per job (80 jobs
    # in the demo); torch there runs on one thread, so a score never depends on which
    # jobs ran beside it
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        hp=hp,
        device=config["models"]["device"],
        sources=sources_param,
        covers=covered_sources,
        code=code("synthdetect.evaluation.evaluate"),
    run:
        from synthdetect.evaluation.evaluate import evaluate_job

        evaluate_job(
            wildcards.model, input, output, params, threads=threads, log=log[0]
        )
