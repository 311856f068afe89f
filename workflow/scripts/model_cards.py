"""The model card of every bundle: its rows of the reports that score it."""

from synthdetect.logs import setup_logging
from synthdetect.serving.bundle import write_card

setup_logging(snakemake.log[0])
inp = snakemake.input
reports = {}
for section, path in inp.items():
    if section != "bundles" and path:  # a report the config does not run is an empty list
        reports[section] = path if isinstance(path, str) else path[0]
for model, bundle, card in zip(snakemake.params.models, inp.bundles, snakemake.output, strict=True):
    write_card(card, model, bundle=bundle, reports=reports)
