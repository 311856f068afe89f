"""SONICS's fake_songs.csv from the Hub (or a local copy), checked against the Hub's sha256."""

from pathlib import Path

from synthdetect.data.archives import FetchOptions, archive_ref
from synthdetect.data.sonics import HubChecksums, fetch_sonics_metadata
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
source = snakemake.wildcards.source
# from the config, not params: a longer wait for the host must not refetch the file
budget = snakemake.config["sources"][source]["retry_budget_s"]
fetch_sonics_metadata(
    archive_ref(snakemake.params.metadata, f"sources.{source}.metadata"),
    snakemake.output[0],
    FetchOptions(download_dir=Path(snakemake.params.download_dir), retry_budget_s=budget),
    HubChecksums(snakemake.params.hub, budget_s=budget),
)
