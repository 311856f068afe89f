"""Build the offline demo corpus (Debian human music vs the algorithmic composer)."""

from pathlib import Path

from synthdetect.corpora.demo import build_demo_corpus
from synthdetect.logs import setup_logging

# The builder's worker processes are spawned: they import this file again, and must
# not run the build themselves (nor look for the `snakemake` object they lack).
if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    p = snakemake.params
    build_demo_corpus(
        Path(snakemake.output.index).parent,
        n_per_class=p.n_per_class,
        seed=p.seed,
        sample_rate=p.sample_rate,
        bitrate_kbps=p.bitrate_kbps,
        human_dirs=p.human_dirs or None,
        jobs=snakemake.threads,
    )
