"""Score a trained model on every split; metrics on the test split only."""

from synthdetect.evaluation.evaluate import evaluate
from synthdetect.logs import setup_logging
from synthdetect.models.run import feature_splits, image_splits, select_sources

setup_logging(snakemake.log[0])
inp = snakemake.input
name = snakemake.wildcards.model
if hasattr(inp, "features"):
    data = feature_splits(inp.manifest, inp.features)
else:
    data = image_splits(inp.manifest, {s: inp[s] for s in ("train", "val", "test")})
data = select_sources(data, **snakemake.params.sources)
evaluate(
    name,
    inp.model,
    data,
    snakemake.output.predictions,
    snakemake.output.metrics,
    snakemake.output.confusion,
    hp=snakemake.params.hp,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
