#!/usr/bin/env bash
# Run by Snakemake inside the new environment (synthdetect.yaml), from this file's path.
set -euo pipefail
# The project itself, editable, so the jobs run this checkout's code. A pip line in the
# env file could not name it: Snakemake creates the environment from a copy of that file
# under .snakemake/conda, where a relative path points elsewhere.
pip install --no-deps -e "$(dirname "$0")/.."
# tinysoundfont's pyaudio dependency needs portaudio headers; rendering needs none of it
pip install --no-deps 'tinysoundfont>=0.3'
