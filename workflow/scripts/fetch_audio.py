"""A source's audio (FMA clips or AAM mixes) out of its archives into the output folder."""

from synthdetect.data import archives as acquire
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
plan = snakemake.params.plan
acquire.fetch_audio(
    plan["kind"],
    plan["archives"],
    snakemake.output[0],
    source=snakemake.wildcards.source,
    take=plan["take"],
    seed=plan["seed"],
    selective=plan["selective"],
    download_dir=snakemake.params.download_dir,
    tracks_csv=snakemake.input.get("tracks"),
    subset=plan["subset"] or "small",
    zenodo=plan["zenodo"],
    workers=snakemake.threads,
)
