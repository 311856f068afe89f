"""Table 1's models: train on the manifest's train split (best epoch on val), then test."""


rule train_forest:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        features=features_input,
    output:
        model="{stem}/models/rf_{feat}.skops",
    log:
        "{stem}/logs/train/rf_{feat}.log",
    benchmark:
        "{stem}/benchmarks/train/rf_{feat}.tsv"
    wildcard_constraints:
        feat="color|deriv",
        stem=stem_pattern("base", "control", "cross"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hp=config["models"]["rf"],
        seed=config["seed"],
        sources=sources_param,
        code=code("train_forest.py"),
    script:
        "../scripts/train_forest.py"


rule train_mlp:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        features=features_input,
    output:
        model="{stem}/models/mlp_{feat}.pt",
        history="{stem}/models/mlp_{feat}.history.parquet",
        curve=report(
            "{stem}/figures/loss_mlp_{feat}.png",
            caption="../report/loss_curve.rst",
            category="Training",
        ),
    log:
        "{stem}/logs/train/mlp_{feat}.log",
    benchmark:
        "{stem}/benchmarks/train/mlp_{feat}.tsv"
    wildcard_constraints:
        feat="color|deriv",
        stem=stem_pattern("base", "control", "cross"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hp=config["models"]["mlp"],
        seed=config["seed"],
        sources=sources_param,
        device=config["models"]["device"],
        code=code("train_mlp.py"),
    script:
        "../scripts/train_mlp.py"


rule train_image_model:
    input:
        unpack(images_input("train", "val")),
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        model="{stem}/models/{net}.pt",
        history="{stem}/models/{net}.history.parquet",
        curve=report(
            "{stem}/figures/loss_{net}.png",
            caption="../report/loss_curve.rst",
            category="Training",
        ),
    log:
        "{stem}/logs/train/{net}.log",
    benchmark:
        "{stem}/benchmarks/train/{net}.tsv"
    wildcard_constraints:
        net="cnn|resnet18",
        stem=stem_pattern("base", "control", "cross"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=device_resources(),
    params:
        hp=lambda wildcards: config["models"][wildcards.net],
        seed=config["seed"],
        sources=sources_param,
        device=config["models"]["device"],
        code=code("train_image_model.py"),
    script:
        "../scripts/train_image_model.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        predictions="{stem}/predictions/{model}.parquet",
        metrics="{stem}/metrics/{model}.json",
        confusion=report(
            "{stem}/figures/confusion_{model}.png",
            caption="../report/confusion.rst",
            category="Test split",
        ),
    log:
        "{stem}/logs/evaluate/{model}.log",
    benchmark:
        "{stem}/benchmarks/evaluate/{model}.tsv"
    wildcard_constraints:
        stem=stem_pattern("base", "control", "cross"),
    conda:
        "../../envs/synthdetect.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        hp=lambda wildcards: config["models"][wildcards.model.partition("_")[0]],
        device=config["models"]["device"],
        sources=sources_param,
        code=code("evaluate.py"),
    script:
        "../scripts/evaluate.py"
