"""Per-track stages: clip -> spectrogram PNG -> histograms.

Each is a `run:` job calling the library in-process: with `force-use-threads` (the
default profile) a job costs a thread, not a Python start and its imports, which would
cost more than the tens of milliseconds of work (see DESIGN.md). On a cluster the jobs
of group `pertrack` are submitted in batches (`--group-components`).
"""


rule clip:
    input:
        audio=lambda wildcards: track_row(wildcards).path,
    output:
        f"{RESULTS}/clips/{{source}}/{{track}}.flac",
    log:
        f"{RESULTS}/logs/clip/{{source}}/{{track}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=300,
        runtime=2,
    params:
        offset_s=lambda wildcards: float(track_row(wildcards).offset_s),
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
        code=code("stages", "audio"),
    run:
        from synthdetect.stages import clip_track

        clip_track(
            input.audio,
            output[0],
            offset_s=params.offset_s,
            seconds=params.seconds,
            sample_rate=params.sample_rate,
        )


rule spectrogram:
    input:
        f"{RESULTS}/clips/{{source}}/{{track}}.flac",
    output:
        f"{RESULTS}/spectrograms/{{source}}/{{track}}.png",
    log:
        f"{RESULTS}/logs/spectrogram/{{source}}/{{track}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=300,
        runtime=2,
    params:
        spectrogram=config["spectrogram"],
        code=code("stages", "audio", "spectrogram"),
    run:
        from synthdetect.stages import spectrogram_track

        spectrogram_track(input[0], output[0], spectrogram=params.spectrogram)


rule histograms:
    input:
        f"{RESULTS}/spectrograms/{{source}}/{{track}}.png",
    output:
        f"{RESULTS}/histograms/{{source}}/{{track}}.parquet",
    log:
        f"{RESULTS}/logs/histograms/{{source}}/{{track}}.log",
    group:
        "pertrack"
    resources:
        mem_mb=300,
        runtime=2,
    params:
        features=config["features"],
        code=code("stages", "spectrogram", "features", "histogram_io"),
    run:
        from synthdetect.stages import histogram_track

        histogram_track(
            input[0],
            output[0],
            source=wildcards.source,
            track=wildcards.track,
            features=params.features,
        )
