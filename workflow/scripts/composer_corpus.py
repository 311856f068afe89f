"""Build one composer source's corpus (composed songs rendered with its SoundFont)."""

from pathlib import Path

from synthdetect.corpora.composer_corpus import build_composer_corpus
from synthdetect.logs import setup_logging

# The builder's worker processes are spawned: they import this file again, and must
# not run the build themselves (nor look for the `snakemake` object they lack).
if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    p = snakemake.params
    build_composer_corpus(
        Path(snakemake.output.index).parent,
        source=snakemake.wildcards.source,
        soundfont=p.soundfont,
        n=p.n,
        seed=p.seed,
        sample_rate=p.sample_rate,
        bitrate_kbps=p.bitrate_kbps,
        jobs=snakemake.threads,
    )
