"""Decode one collection of the false-positive benchmark once: every window's inputs."""

from synthdetect.logs import setup_logging
from synthdetect.serving.benchmark import collection_windows

setup_logging(snakemake.log[0])
collection_windows(
    snakemake.wildcards.collection,
    snakemake.params.collection,
    snakemake.params.preprocessing,
    snakemake.output[0],
    clips=snakemake.params.clips,
)
