"""Downloads: FMA and AAM archives -> the audio a source's candidate table lists.

Nothing here touches the network while the DAG is built: which members to fetch is
decided inside the jobs (FMA's selection needs tracks.csv; AAM's the archives' listings),
so `snakemake -n` plans offline. Both rules are `cache: "omit-software"`: with `--cache`
and SNAKEMAKE_OUTPUT_CACHE set, other result folders, configs and projects reuse one copy.
The audio folder's name carries what decides its contents (subset, seed, count; see
`synthdetect.data.archives.archive_plan`), so configs that select differently keep separate
folders side by side in `resources/`.

The rules have no `benchmark:` (Snakemake refuses one on a cached rule); the log says
what each archive cost. They carry no code fingerprint on purpose: the bytes they write
are checked against the archives' CRC-32s and checksums, so an edit of the transfer code
must not re-download gigabytes. What selects the members belongs in the folder name.
"""

from functools import partial

from synthdetect.data import archives as acquire

DOWNLOADS = f"{RESOURCES}/archives"

acquire.check_archive_sources(config["sources"])

# called by sources.smk's candidate_inputs for kinds fma and aam
source_archive_inputs = partial(acquire.archive_inputs, RESOURCES, config["seed"])


if config["downloads_local"]:

    localrules:
        fetch_fma_metadata,
        fetch_audio,


rule fetch_fma_metadata:
    output:
        f"{RESOURCES}/{{source}}/tracks.csv",
    log:
        f"{RESOURCES}/logs/fetch_fma_metadata/{{source}}.log",
    cache: "omit-software"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        metadata=lambda wildcards: config["sources"][wildcards.source]["metadata"],
        selective=lambda wildcards: config["sources"][wildcards.source]["selective"],
        download_dir=DOWNLOADS,
    script:
        "../scripts/fetch_fma_metadata.py"


rule fetch_audio:
    input:
        unpack(
            lambda wildcards: (
                {"tracks": f"{RESOURCES}/{wildcards.source}/tracks.csv"}
                if config["sources"][wildcards.source]["kind"] == "fma"
                else {}
            )
        ),
    output:
        directory(f"{RESOURCES}/{{source}}/audio-{{selection}}"),
    log:
        f"{RESOURCES}/logs/fetch_audio/{{source}}-{{selection}}.log",
    wildcard_constraints:
        selection=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    cache: "omit-software"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=lambda wildcards: (
            1440 if config["sources"][wildcards.source]["kind"] == "aam" else 360
        ),
    params:
        plan=lambda wildcards: acquire.folder_plan(
            wildcards.source,
            config["sources"][wildcards.source],
            config["seed"],
            wildcards.selection,
        ),
        download_dir=DOWNLOADS,
    script:
        "../scripts/fetch_audio.py"
