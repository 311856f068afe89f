"""The model registry is the one list of models: the schema and the rules follow it."""

from __future__ import annotations

import re

import pytest
import yaml
from workflow_helpers import REPO

from synthdetect.models import registry

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def test_schema_model_enum_is_the_registry():
    assert SCHEMA["$defs"]["model"]["enum"] == list(registry.MODELS)
    enabled = SCHEMA["properties"]["models"]["properties"]["enabled"]
    assert enabled["default"] == list(registry.PAPER_ORDER)


def test_every_family_has_a_hyperparameter_section():
    sections = SCHEMA["properties"]["models"]["properties"]
    for family in registry.FAMILIES:
        assert family in sections, f"models.{family} is missing from the schema"


def test_entries():
    rf = registry.get("rf_deriv")
    assert (rf.family.name, rf.input, rf.weights_file) == ("rf", "deriv", "rf_deriv.skops")
    cnn = registry.get("cnn")
    assert cnn.images and cnn.family.torch and cnn.weights_file == "cnn.pt"
    assert registry.names(trainer="sklearn") == ["rf_deriv", "rf_color", "fakeprint"]
    assert registry.get("fakeprint").family.name == "logreg" and not registry.get("fakeprint").paper
    assert registry.names(images=True) == ["cnn", "resnet18"]


def test_pattern_matches_exactly_the_names():
    pat = re.compile(f"^(?:{registry.pattern(trainer='torch')})$")
    assert all(pat.match(n) for n in ("mlp_deriv", "mlp_color", "cnn", "resnet18"))
    assert not any(pat.match(n) for n in ("rf_deriv", "cnn_x", "mlp"))
    assert registry.pattern(family="nope") == "(?!)"


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'svm'.*rf_deriv, rf_color"):
        registry.get("svm")


def test_paper_rank_orders_unknown_names_last():
    names = ["zeta", "cnn", "rf_color", "alpha", "rf_deriv"]
    assert sorted(names, key=registry.paper_rank) == [
        "rf_deriv",
        "rf_color",
        "cnn",
        "alpha",
        "zeta",
    ]
