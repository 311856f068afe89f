"""Per-track stages: clip -> spectrogram PNG -> histograms, one job per bucket of tracks.

A track's bucket is a stable hash of its source and id (synthdetect.batches), and each
bucket's job writes one file per track into the bucket's folder. Per-track work is tens
of milliseconds; a job per track cost Snakemake more than the work (DAG building, and
on a cluster a SLURM job or a fresh Snakemake each). Three rules, not one, so that a
spectrogram setting reruns no clip and a histogram setting no spectrogram. The jobs are
`run:` blocks calling the library in-process (threads under the default profile's
`force-use-threads`). On a cluster the three jobs of a bucket go out as one SLURM job
(group `pertrack`, see workflow/profiles/slurm).
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
        code=code("stages", "batches", "audio"),
    run:
        from synthdetect.logs import log_batch
        from synthdetect.stages import clip_batch

        with log_batch(log[0], "clip", wildcards.batch, len(params.tracks)):
            clip_batch(
                params.tracks,
                output[0],
                seconds=params.seconds,
                sample_rate=params.sample_rate,
            )


rule spectrogram:
    input:
        bucket_folder(f"{RESULTS}/clips/{{batch}}"),
    output:
        directory(f"{RESULTS}/spectrograms/{{batch}}"),
    log:
        f"{RESULTS}/logs/spectrogram/{{batch}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=batch_tracks,
        spectrogram=config["spectrogram"],
        code=code("stages", "audio", "spectrogram"),
    run:
        from synthdetect.logs import log_batch
        from synthdetect.stages import spectrogram_batch

        with log_batch(log[0], "spectrogram", wildcards.batch, len(params.tracks)):
            spectrogram_batch(
                params.tracks, input[0], output[0], spectrogram=params.spectrogram
            )


rule histograms:
    input:
        bucket_folder(f"{RESULTS}/spectrograms/{{batch}}"),
    output:
        directory(f"{RESULTS}/histograms/{{batch}}"),
    log:
        f"{RESULTS}/logs/histograms/{{batch}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        tracks=batch_tracks,
        features=config["features"],
        code=code("stages", "spectrogram", "features", "histogram_io"),
    run:
        from synthdetect.logs import log_batch
        from synthdetect.stages import histogram_batch

        with log_batch(log[0], "histograms", wildcards.batch, len(params.tracks)):
            histogram_batch(
                params.tracks, input[0], output[0], features=params.features
            )
