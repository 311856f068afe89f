"""Table 1's models: train on the manifest's train split (best epoch on val), then test."""


rule train_forest:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        features=f"{RESULTS}/features/{{feat}}.parquet",
    output:
        model=f"{RESULTS}/models/rf_{{feat}}.skops",
    log:
        f"{RESULTS}/logs/train/rf_{{feat}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/rf_{{feat}}.tsv"
    wildcard_constraints:
        feat="color|deriv",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hp=config["models"]["rf"],
        seed=config["seed"],
        code=code("experiment", "forest"),
    script:
        "../scripts/train_forest.py"


rule train_mlp:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        features=f"{RESULTS}/features/{{feat}}.parquet",
    output:
        model=f"{RESULTS}/models/mlp_{{feat}}.pt",
        history=f"{RESULTS}/models/mlp_{{feat}}.history.parquet",
        curve=report(
            f"{RESULTS}/figures/loss_mlp_{{feat}}.png",
            caption="../report/loss_curve.rst",
            category="Training",
        ),
    log:
        f"{RESULTS}/logs/train/mlp_{{feat}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/mlp_{{feat}}.tsv"
    wildcard_constraints:
        feat="color|deriv",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hp=config["models"]["mlp"],
        seed=config["seed"],
        device=config["models"]["device"],
        code=code("experiment", "training", "models"),
    script:
        "../scripts/train_mlp.py"


rule train_image_model:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        train=f"{RESULTS}/images/train.npy",
        val=f"{RESULTS}/images/val.npy",
    output:
        model=f"{RESULTS}/models/{{net}}.pt",
        history=f"{RESULTS}/models/{{net}}.history.parquet",
        curve=report(
            f"{RESULTS}/figures/loss_{{net}}.png",
            caption="../report/loss_curve.rst",
            category="Training",
        ),
    log:
        f"{RESULTS}/logs/train/{{net}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{net}}.tsv"
    wildcard_constraints:
        net="cnn|resnet18",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=device_resources(),
    params:
        hp=lambda wildcards: config["models"][wildcards.net],
        seed=config["seed"],
        device=config["models"]["device"],
        code=code("experiment", "training", "models", "images"),
    script:
        "../scripts/train_image_model.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        predictions=f"{RESULTS}/predictions/{{model}}.parquet",
        metrics=f"{RESULTS}/metrics/{{model}}.json",
        confusion=report(
            f"{RESULTS}/figures/confusion_{{model}}.png",
            caption="../report/confusion.rst",
            category="Test split",
        ),
    log:
        f"{RESULTS}/logs/evaluate/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        hp=lambda wildcards: config["models"][wildcards.model.partition("_")[0]],
        device=config["models"]["device"],
        code=code("experiment", "training", "models", "metrics"),
    script:
        "../scripts/evaluate.py"
