"""Per-track stages: clip -> spectrogram PNG -> histograms, one job per bucket of tracks.

A track's bucket is a stable hash of its source and id (synthdetect.pipeline.buckets), and each
bucket's job writes one file per track into the bucket's folder. Per-track work is tens
of milliseconds; a job per track cost Snakemake more than the work (DAG building, and
on a cluster a SLURM job or a fresh Snakemake each). Three rules, not one, so that a
spectrogram setting reruns no clip and a histogram setting no spectrogram. The jobs are
`run:` blocks calling the library in-process (threads under the default profile's
`force-use-threads`). On a cluster the three jobs of a bucket go out as one SLURM job
(group `pertrack`, see workflow/profiles/slurm).

The spectrogram and histogram stages serve Table 1's clips and a control's clips
(`control_clip`; each a variant or "stem" of the experiment, see common.smk). The
robustness suite's `manipulate` makes a manipulated test clip's spectrogram and
histograms in one job per bucket: the manipulated clip is not kept.
"""


rule clip:
    input:
        audio=lambda wildcards: [row.path for row in batch_rows(wildcards)],
    output:
        directory(f"{RESULTS}/clips/{{batch}}"),
    log:
        f"{RESULTS}/logs/clip/{{batch}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        # every track's source file and crop: a change to one reruns its bucket only
        tracks=lambda wildcards: [
            (row.source, row.track, row.path, float(row.offset_s))
            for row in batch_rows(wildcards)
        ],
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import clip_batch

        clip_batch(
            params.tracks,
            output[0],
            seconds=params.seconds,
            sample_rate=params.sample_rate,
            log=log[0],
        )


rule spectrogram:
    input:
        bucket_folder("{stem}/clips/{batch}"),
    output:
        directory("{stem}/spectrograms/{batch}"),
    log:
        "{stem}/logs/spectrogram/{batch}.log",
    wildcard_constraints:
        stem=stem_pattern("base", "control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=batch_tracks,
        spectrogram=config["spectrogram"],
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import spectrogram_batch

        spectrogram_batch(
            params.tracks,
            input[0],
            output[0],
            spectrogram=params.spectrogram,
            log=log[0],
        )


rule histograms:
    input:
        bucket_folder("{stem}/spectrograms/{batch}"),
    output:
        directory("{stem}/histograms/{batch}"),
    log:
        "{stem}/logs/histograms/{batch}.log",
    wildcard_constraints:
        stem=stem_pattern("base", "control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=batch_tracks,
        features=config["features"],
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import histogram_batch

        histogram_batch(
            params.tracks, input[0], output[0], features=params.features, log=log[0]
        )


rule codec_profile:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
    output:
        f"{RESULTS}/controls/codec_profile.json",
    log:
        f"{RESULTS}/logs/codec_profile.log",
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        code=code("codec_profile.py"),
    script:
        "../scripts/codec_profile.py"


rule control_clip:
    input:
        audio=lambda wildcards: [row.path for row in batch_rows(wildcards)],
        profile=lambda wildcards: (
            [f"{RESULTS}/controls/codec_profile.json"]
            if variant(wildcards)["control"]["kind"] == "codec_match"
            else []
        ),
    output:
        directory("{stem}/clips/{batch}"),
    log:
        "{stem}/logs/clip/{batch}.log",
    wildcard_constraints:
        stem=stem_pattern("control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=lambda wildcards: [
            (row.source, row.track, row.path, float(row.offset_s))
            for row in batch_rows(wildcards)
        ],
        settings=lambda wildcards: {
            "labels": {
                (row.source, row.track): row.label for row in batch_rows(wildcards)
            },
            "control": variant(wildcards)["control"],
            "seed": config["seed"],
            "seconds": config["clip"]["seconds"],
            "sample_rate": config["clip"]["sample_rate"],
        },
        code=code("synthdetect.pipeline.variants"),
    run:
        from synthdetect.pipeline.variants import control_clip_batch

        control_clip_batch(
            params.tracks,
            output[0],
            profile_path=input.profile[0] if input.profile else None,
            log=log[0],
            **params.settings,
        )


rule manipulate:
    input:
        bucket_folder(f"{RESULTS}/clips/{{batch}}"),
    output:
        spectrograms=directory("{stem}/spectrograms/{batch}"),
        histograms=directory("{stem}/histograms/{batch}"),
    log:
        "{stem}/logs/manipulate/{batch}.log",
    wildcard_constraints:
        stem=stem_pattern("robustness"),
    group:
        "pertrack"
    resources:
        mem_mb=600,
        runtime=60,
    params:
        tracks=batch_tracks,
        settings=lambda wildcards: {
            "name": variant(wildcards)["name"],
            "spec": variant(wildcards)["spec"],
            "seed": config["seed"],
            "spectrogram": config["spectrogram"],
            "features": config["features"],
        },
        code=code("synthdetect.pipeline.variants"),
    run:
        from synthdetect.pipeline.variants import manipulation_batch

        manipulation_batch(
            params.tracks, input[0], *output, log=log[0], **params.settings
        )
