#!/usr/bin/env bash
# Run by Snakemake inside the new environment (synthdetect.yaml), from a copy of this file
# under .snakemake/conda and in Snakemake's working directory: the checkout, as the README
# runs it.
set -euo pipefail
# The project itself, editable, so the jobs run this checkout's code. Neither this file's
# path nor a pip line in the env file can name it: both are copies under .snakemake/conda.
if ! grep -qs '^name = "synthdetect"$' pyproject.toml; then
  echo "envs/synthdetect.post-deploy.sh: run Snakemake from the synthdetect checkout" \
    "(the environment installs it from there); the working directory is $PWD" >&2
  exit 1
fi
pip install --no-deps -e .
# tinysoundfont's pyaudio dependency needs portaudio headers; rendering needs none of it
pip install --no-deps 'tinysoundfont>=0.3'
