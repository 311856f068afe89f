"""FMA's tracks.csv out of fma_metadata.zip (selectively, or from the whole archive)."""

from pathlib import Path

from synthdetect.data.archives import FetchOptions, archive_ref
from synthdetect.data.fma import fetch_fma_metadata
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
source = snakemake.wildcards.source
fetch_fma_metadata(
    archive_ref(snakemake.params.metadata, f"sources.{source}.metadata"),
    snakemake.output[0],
    FetchOptions(
        selective=snakemake.params.selective,
        download_dir=Path(snakemake.params.download_dir),
        retry_budget_s=snakemake.config["sources"][source]["retry_budget_s"],
    ),
)
