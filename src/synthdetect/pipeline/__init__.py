"""The workflow's library side: the manifest, buckets of tracks, the per-track stages,
variants and code fingerprints."""
