"""Decode one split's spectrogram PNGs once into a uint8 array the trainers memory-map."""

import logging

from synthdetect.images import write_image_cache
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
write_image_cache(snakemake.input.images, snakemake.output[0], tuple(snakemake.params.size))
logging.info("split %s: %d images", snakemake.wildcards.split, len(snakemake.input.images))
