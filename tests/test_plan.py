"""Variant planning from the config: folders, types and every validation it does."""

from __future__ import annotations

import copy

import pytest
from snakemake.utils import validate
from workflow_helpers import REPO

from synthdetect.pipeline.plan import plan_variants

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
SOURCES = {
    "human": {"kind": "folder", "label": "human", "path": "h"},
    "ai": {"kind": "folder", "label": "ai", "path": "a"},
    "ai2": {"kind": "folder", "label": "ai", "path": "b"},
}


def config(**extra) -> dict:
    cfg = {"results": "res", "sources": copy.deepcopy(SOURCES), **extra}
    validate(cfg, SCHEMA, set_default=True)
    return cfg


def test_table1_alone():
    variants = plan_variants(config())
    assert list(variants) == ["res"]
    v = variants["res"]
    assert (v.type, v.name, v.split, v.data, v.retrains) == ("table1", "table1", None, "res", True)
    assert v.models == ("rf_deriv", "rf_color", "mlp_deriv", "mlp_color", "cnn", "resnet18")


def test_controls_robustness_and_cross_source():
    cfg = config(
        controls={"codec_match": True, "lowpass_hz": 4000, "models": ["rf_deriv"]},
        robustness={"enabled": True, "manipulations": {"n30": {"kind": "noise", "snr_db": 30}}},
        cross_source=[{"name": "x", "train": ["human", "ai"], "test": ["human", "ai2"]}],
    )
    variants = plan_variants(cfg)
    assert list(variants) == [
        "res",
        "res/controls/codec_match",
        "res/controls/lowpass",
        "res/robustness/n30",
        "res/cross/x",
    ]
    lowpass = variants["res/controls/lowpass"]
    assert lowpass.control == {"type": "lowpass", "hz": 4000} and lowpass.models == ("rf_deriv",)
    assert lowpass.data == "res/controls/lowpass"
    n30 = variants["res/robustness/n30"]
    assert (n30.split, n30.retrains, n30.manipulation["snr_db"]) == ("test", False, 30)
    cross = variants["res/cross/x"]
    assert (cross.train, cross.test, cross.data) == (("human", "ai"), ("human", "ai2"), "res")


def test_cross_source_unknown_source_names_it():
    cfg = config(cross_source=[{"name": "x", "train": ["human", "nope"], "test": ["ai"]}])
    with pytest.raises(ValueError, match=r"cross_source x: train source\(s\) \['nope'\]"):
        plan_variants(cfg)


def test_cross_source_side_needs_both_labels():
    cfg = config(cross_source=[{"name": "x", "train": ["human", "ai"], "test": ["ai", "ai2"]}])
    with pytest.raises(ValueError, match=r"cross_source x: the test sources .* hold only \['ai'\]"):
        plan_variants(cfg)


def test_cross_source_names_are_unique():
    setting = {"name": "x", "train": ["human", "ai"], "test": ["human", "ai2"]}
    with pytest.raises(ValueError, match="'x' is used twice"):
        plan_variants(config(cross_source=[setting, dict(setting)]))


def test_bad_manipulation_names_entry_and_key():
    cfg = config(robustness={"enabled": True, "manipulations": {"bad": {"kind": "noise"}}})
    with pytest.raises(ValueError, match="bad"):
        plan_variants(cfg)


def test_the_built_in_suite_gets_a_neural_round_trip_per_trained_autoencoder():
    derived = {"kind": "derived", "label": "ai", "parent": "human", "generator": "autoencoder"}
    gl = {"kind": "derived", "label": "ai", "parent": "human", "generator": "griffinmel"}
    cfg = config(robustness={"enabled": True})
    cfg["sources"] |= {"ae": derived, "gl": gl}
    variants = plan_variants(cfg)
    neural = [v for v in variants.values() if (v.manipulation or {}).get("kind") == "neural"]
    assert [(v.name, v.manipulation["source"]) for v in neural] == [("neural_ae", "ae")]
    cfg["robustness"]["manipulations"] = {"rt": {"kind": "neural", "source": "gl"}}
    with pytest.raises(ValueError, match=r"robustness.manipulations.rt.source: 'gl' is not"):
        plan_variants(cfg)


def test_settings_with_the_same_train_sources_share_one_training():
    cfg = config(
        cross_source=[
            {"name": "x", "train": ["human", "ai"], "test": ["human", "ai2"]},
            {"name": "y", "train": ["ai", "human"], "test": ["human", "ai"]},
        ],
        generators={"human": ["human"], "ai": ["ai", "ai2"]},
    )
    variants = plan_variants(cfg)
    # y tests on what it trains on, so it trains; x and the matrix row of ai score its models
    assert variants["res/cross/y"].models_from == "res/cross/y"
    assert variants["res/cross/y"].retrains
    for name in ("x", "gen_ai__ai", "gen_ai__ai2"):
        v = variants[f"res/cross/{name}"]
        assert (v.models_from, v.retrains) == ("res/cross/y", False), name
    assert variants["res/cross/gen_ai2__ai"].models_from == "res/cross/gen_ai2__ai2"
    trainers = {v.models_from for v in variants.values() if v.type == "cross"}
    assert trainers == {"res/cross/y", "res/cross/gen_ai2__ai2"}
    # Table 1, controls and robustness keep their own folders
    assert variants["res"].models_from == "res"
