"""The workflow's default settings, read from its config schema (shared by the benches)."""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def _defaults(node: dict) -> dict:
    out = {}
    for key, spec in node.get("properties", {}).items():
        if spec.get("type") == "object" and "properties" in spec:
            out[key] = _defaults(spec)
        elif "default" in spec:
            out[key] = spec["default"]
    return out


def schema_defaults(*sections: str) -> dict:
    """Default values of the named top-level config sections, nested ones included."""
    props = yaml.safe_load(SCHEMA.read_text())["properties"]
    return {k: _defaults(props[k]) for k in sections}
