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
(`control_clip`; each a variant of the experiment, see synthdetect.pipeline.plan). The
robustness suite's `manipulate` makes a manipulated test clip's spectrogram and
histograms in one job per bucket: the manipulated clip is not kept.
"""


rule clip:
    input:
        audio=lambda wildcards: [row.path for row in bucket_rows(wildcards)],
    output:
        directory(f"{RESULTS}/clips/{{bucket}}"),
    log:
        f"{RESULTS}/logs/clip/{{bucket}}.log",
    wildcard_constraints:
        bucket=r"b\d+",  # a derived source's buckets are the `derive` rule's
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        # every track's source file and crop: a change to one reruns its bucket only
        tracks=lambda wildcards: [
            (row.source, row.track, row.path, float(row.offset_s))
            for row in bucket_rows(wildcards)
        ],
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import clip_bucket

        clip_bucket(
            params.tracks,
            output[0],
            seconds=params.seconds,
            sample_rate=params.sample_rate,
            log=log[0],
        )


rule spectrogram:
    input:
        bucket_folder("{variant}/clips/{bucket}"),
    output:
        directory("{variant}/spectrograms/{bucket}"),
    log:
        "{variant}/logs/spectrogram/{bucket}.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=bucket_tracks,
        spectrogram=config["spectrogram"],
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import spectrogram_bucket

        spectrogram_bucket(
            params.tracks,
            input[0],
            output[0],
            spectrogram=params.spectrogram,
            log=log[0],
        )


rule histograms:
    input:
        bucket_folder("{variant}/spectrograms/{bucket}"),
    output:
        directory("{variant}/histograms/{bucket}"),
    log:
        "{variant}/logs/histograms/{bucket}.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=bucket_tracks,
        features=HISTOGRAMS,
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import histogram_bucket

        histogram_bucket(
            params.tracks, input[0], output[0], features=params.features, log=log[0]
        )


rule fakeprints:
    input:
        bucket_folder("{variant}/clips/{bucket}"),
    output:
        directory("{variant}/fakeprints/{bucket}"),
    log:
        "{variant}/logs/fakeprints/{bucket}.log",
    wildcard_constraints:
        variant=folder_pattern("table1", "control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=bucket_tracks,
        settings=FAKEPRINT,
        code=code("synthdetect.pipeline.stages"),
    run:
        from synthdetect.pipeline.stages import fakeprint_bucket

        fakeprint_bucket(
            params.tracks, input[0], output[0], settings=params.settings, log=log[0]
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
        audio=lambda wildcards: [row.path for row in bucket_rows(wildcards)],
        profile=lambda wildcards: (
            [f"{RESULTS}/controls/codec_profile.json"]
            if variant(wildcards).control["type"] == "codec_match"
            else []
        ),
    output:
        directory("{variant}/clips/{bucket}"),
    log:
        "{variant}/logs/clip/{bucket}.log",
    wildcard_constraints:
        variant=folder_pattern("control"),
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=lambda wildcards: [
            (row.source, row.track, row.path, float(row.offset_s))
            for row in bucket_rows(wildcards)
        ],
        settings=lambda wildcards: {
            "labels": {
                (row.source, row.track): row.label for row in bucket_rows(wildcards)
            },
            "control": variant(wildcards).control,
            "seed": config["seed"],
            "seconds": config["clip"]["seconds"],
            "sample_rate": config["clip"]["sample_rate"],
        },
        code=code("synthdetect.pipeline.variants"),
    run:
        from synthdetect.pipeline.variants import control_clip_bucket

        control_clip_bucket(
            params.tracks,
            output[0],
            profile_path=input.profile[0] if input.profile else None,
            log=log[0],
            **params.settings,
        )


rule manipulate:
    input:
        clips=bucket_folder(f"{RESULTS}/clips/{{bucket}}"),
        autoencoder=neural_input,
    output:
        spectrograms=directory("{variant}/spectrograms/{bucket}"),
        histograms=directory("{variant}/histograms/{bucket}"),
        fakeprints=directory("{variant}/fakeprints/{bucket}"),
    log:
        "{variant}/logs/manipulate/{bucket}.log",
    wildcard_constraints:
        variant=folder_pattern("robustness"),
    group:
        "pertrack"
    resources:
        mem_mb=600,
        runtime=60,
    params:
        tracks=bucket_tracks,
        settings=lambda wildcards: {
            "name": variant(wildcards).name,
            "spec": variant(wildcards).manipulation,
            "seed": config["seed"],
            "spectrogram": config["spectrogram"],
            # the fakeprints only where a scored model reads them
            "features": HISTOGRAMS
            | (
                {"fakeprint": FAKEPRINT}
                if any(
                    registry.get(m).input == "fakeprint"
                    for m in variant(wildcards).models
                )
                else {}
            ),
        },
        code=code("synthdetect.pipeline.variants"),
    run:
        from synthdetect.pipeline.variants import manipulation_bucket

        manipulation_bucket(
            params.tracks,
            input.clips,
            *output,
            autoencoder=input.autoencoder[0] if input.autoencoder else None,
            log=log[0],
            **params.settings,
        )
