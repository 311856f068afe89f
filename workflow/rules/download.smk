"""Downloads: archive datasets (FMA, AAM, FakeMusicCaps, SONICS) -> the audio a source's
candidate table lists.

Nothing here touches the network while the DAG is built: which members to fetch is
decided inside the jobs (FMA's selection needs tracks.csv, SONICS's fake_songs.csv; AAM's
and FakeMusicCaps' the archives' listings), so `snakemake -n` plans offline. The rules are
`cache: "omit-software"`: with `--cache` and SNAKEMAKE_OUTPUT_CACHE set, other result
folders, configs and projects reuse one copy.
The audio folder's name carries what decides its contents (subset, seed, count; see
`synthdetect.data.archives.ArchiveKind.plan`), so configs that select differently keep
separate folders side by side in `resources/`. What a kind fetches, which extra inputs it
needs and how long its job may run come from its registry entry (synthdetect.data.kinds).

The rules have no `benchmark:` (Snakemake refuses one on a cached rule); the log says
what each archive cost. They carry no code fingerprint on purpose: the bytes they write
are checked against the archives' CRC-32s and checksums, so an edit of the transfer code
must not re-download gigabytes. What selects the members belongs in the folder name. The
scripts read a source's `retry_budget_s` from the config, not from params, for the same
reason: waiting longer for a host must not refetch what is there.
"""

from synthdetect.data.archives import ArchiveKind

DOWNLOADS = f"{RESOURCES}/archives"
ARCHIVE_SOURCES = [s for s in SOURCES if isinstance(source_kind(s), ArchiveKind)]


if config["downloads_local"]:

    localrules:
        fetch_fma_metadata,
        fetch_sonics_metadata,
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


# SONICS's fake_songs.csv (a plain file on the Hub): which algorithm made each song, and
# the dataset's split; its fetch_audio chooses the songs from it.
rule fetch_sonics_metadata:
    output:
        f"{RESOURCES}/{{source}}/fake_songs.csv",
    log:
        f"{RESOURCES}/logs/fetch_sonics_metadata/{{source}}.log",
    wildcard_constraints:
        source="|".join(ARCHIVE_SOURCES) or "(?!)",
    cache: "omit-software"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        metadata=lambda wildcards: config["sources"][wildcards.source]["metadata"],
        hub=lambda wildcards: config["sources"][wildcards.source]["hf_api"],
        download_dir=DOWNLOADS,
    script:
        "../scripts/fetch_sonics_metadata.py"


rule fetch_audio:
    input:
        unpack(
            lambda wildcards: source_kind(wildcards.source).fetch_inputs(
                wildcards.source, config["sources"][wildcards.source], PATHS
            )
        ),
    output:
        directory(f"{RESOURCES}/{{source}}/audio-{{selection}}"),
    log:
        f"{RESOURCES}/logs/fetch_audio/{{source}}-{{selection}}.log",
    wildcard_constraints:
        source="|".join(ARCHIVE_SOURCES) or "(?!)",
        selection=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    cache: "omit-software"
    conda:
        "../../envs/synthdetect.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=lambda wildcards: source_kind(wildcards.source).fetch_runtime,
    params:
        plan=lambda wildcards: source_kind(wildcards.source).folder_plan(
            wildcards.source,
            config["sources"][wildcards.source],
            config["seed"],
            wildcards.selection,
        ),
        download_dir=DOWNLOADS,
    script:
        "../scripts/fetch_audio.py"
