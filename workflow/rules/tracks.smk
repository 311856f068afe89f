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
        code=code("audio"),
    run:
        from synthdetect.audio import make_clip

        make_clip(
            input.audio,
            output[0],
            offset_s=params.offset_s,
            seconds=params.seconds,
            samplerate=params.sample_rate,
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
        code=code("audio", "spectrogram"),
    run:
        from synthdetect.audio import read_clip
        from synthdetect.spectrogram import save_png, spectrogram_image

        y, sr = read_clip(input[0])
        save_png(
            spectrogram_image(y, sample_rate=sr, **params.spectrogram), output[0]
        )


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
        code=code("features", "histogram_io"),
    run:
        from synthdetect.features import track_histograms
        from synthdetect.histogram_io import write_track_histograms
        from synthdetect.spectrogram import load_png

        hists = track_histograms(
            load_png(input[0]),
            colour=params.features["color"],
            deriv=params.features["deriv"],
        )
        write_track_histograms(output[0], wildcards.source, wildcards.track, hists)
