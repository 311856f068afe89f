"""FMA's tracks.csv out of fma_metadata.zip (selectively, or from the whole archive)."""

from pathlib import Path

from synthdetect.data import archives as acquire
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
source = snakemake.wildcards.source
acquire.fetch_fma_metadata(
    acquire.archive_ref(snakemake.params.metadata, f"sources.{source}.metadata"),
    snakemake.output[0],
    acquire.FetchOptions(
        selective=snakemake.params.selective, download_dir=Path(snakemake.params.download_dir)
    ),
)
