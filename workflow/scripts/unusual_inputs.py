"""Unusual but decodable copies of the test clips: 8 kHz, 6 channels, 3 s."""

import logging

from synthdetect.logs import setup_logging
from synthdetect.serving.unusual import test_clips, write_unusual_inputs

setup_logging(snakemake.log[0])
p = snakemake.params
clips = test_clips(snakemake.input.manifest, p.clips, p.buckets, p.sources)
n = write_unusual_inputs(clips, snakemake.output[0])
logging.info("wrote unusual copies of %d test clips to %s", n, snakemake.output[0])
