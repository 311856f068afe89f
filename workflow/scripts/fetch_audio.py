"""A source's audio (FMA clips, AAM mixes, ...) out of its archives into the output folder."""

from synthdetect.data.kinds import KINDS
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
source = snakemake.wildcards.source
plan = snakemake.params.plan
KINDS[plan["kind"]].fetch_audio(
    plan,
    snakemake.output[0],
    source=source,
    inputs=dict(snakemake.input),
    download_dir=snakemake.params.download_dir,
    workers=snakemake.threads,
    # from the config, not params: a longer wait for the host must not refetch the folder
    retry_budget_s=snakemake.config["sources"][source]["retry_budget_s"],
)
