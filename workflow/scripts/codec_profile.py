"""The human class's MP3 bitrates, which controls.codec_match draws the AI class's from."""

import json
import logging
from collections import Counter

import pandas as pd

from synthdetect.audio.codec import bitrate_profile
from synthdetect.logs import setup_logging

setup_logging(snakemake.log[0])
manifest = pd.read_parquet(snakemake.input.manifest)
human = manifest[manifest.label == "human"]
kbps = bitrate_profile(human.path)
counts = dict(sorted(Counter(kbps).items()))
logging.info("human bitrates (kbps: tracks): %s", counts)
with open(snakemake.output[0], "w") as f:
    json.dump({"kbps": kbps, "counts": counts, "n_human": len(human)}, f, indent=1)
