"""The example configurations (``config/examples/``) plan with the network cut off.

Each is dry-run (``snakemake -n``) as ``make lint`` dry-runs the paper config: with
``.test/offline`` on ``PYTHONPATH``, whose ``sitecustomize`` refuses every socket
connection, so a plan that reached for Zenodo or the Hub fails instead of passing online.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from workflow_helpers import REPO, job_counts, snakemake

EXAMPLES = REPO / "config" / "examples"
OFFLINE = REPO / ".test" / "offline"


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


@pytest.fixture
def offline(monkeypatch):
    path = os.pathsep.join([str(OFFLINE), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    # the guard is in place: a connection from a Python started now is refused
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert "network connections are blocked" in probe.stderr


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("example", "jobs"),
    [
        ("fma_vs_fakemusiccaps.yaml", {"fetch_audio": 6, "fetch_fma_metadata": 1}),
        (
            "fma_vs_sonics.yaml",
            {"fetch_audio": 3, "fetch_fma_metadata": 1, "fetch_sonics_metadata": 2},
        ),
        ("fma_vs_aam.yaml", {"fetch_audio": 2, "fetch_fma_metadata": 1}),
    ],
)
def test_example_plans_offline(example, jobs, offline, tmp_path):
    proc = snakemake(
        tmp_path, "-n", "--cores", "8", "--configfile", str(EXAMPLES / example), timeout=300
    )
    counts = job_counts(proc.stdout)
    for rule, n in jobs.items():
        assert counts.get(rule) == n, (rule, counts)
    assert counts["candidates"] == len(load(example)["sources"])
    assert not (tmp_path / "resources").exists()  # nothing fetched while planning
    if load(example)["cross_source"]:
        assert counts.get("cross_source_report") == 1


def test_fakemusiccaps_example_has_one_source_per_generator_and_10_s_clips():
    config = load("fma_vs_fakemusiccaps.yaml")
    assert config["clip"]["seconds"] == 10
    gens = {n: s["generator"] for n, s in config["sources"].items() if s["kind"] == "fakemusiccaps"}
    assert sorted(gens.values()) == sorted(
        ["musicgen_medium", "musicldm", "audioldm2", "stable_audio_open", "mustango"]
    )
    # leave one generator out: each setting tests on the one generator its training lacks
    for setting in config["cross_source"]:
        (held_out,) = set(gens) - set(setting["train"])
        assert setting["test"] == ["fma", held_out]


def test_sonics_example_has_suno_and_udio_as_two_ai_sources():
    config = load("fma_vs_sonics.yaml")
    sources = config["sources"]
    assert {sources["suno"]["platform"], sources["udio"]["platform"]} == {"suno", "udio"}
    assert len(sources["suno"]["archives"]) == 10
    assert sources["suno"]["archives"] == sources["udio"]["archives"]


def test_aam_example_is_the_paper_config():
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert load("fma_vs_aam.yaml") == paper
