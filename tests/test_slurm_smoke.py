"""Smoke test: the real Snakemake CLI with workflow/profiles/slurm on a one-node SLURM cluster.

A tiny standalone Snakefile (3 tracks x 2 chained rules in group "pertrack", one
fan-in rule) runs through `snakemake --executor slurm`. With the profile's
`group-components: pertrack=1` each track's chain (one connected component, as a
bucket's clip -> spectrogram -> histograms chain is in the real workflow) goes to SLURM
as ONE job, so four SLURM jobs are submitted in all instead of 7 (the ungrouped
baseline, run with SYNTHDETECT_SLURM_BASELINE=1, submits 7).
SLURM jobs are counted with squeue, which keeps finished jobs for MinJobAge seconds
(no slurmdbd here, so no sacct).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from slurm_cluster import REPO, SlurmCluster, slurm_cluster_fixture

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

slurm = slurm_cluster_fixture()

PROFILE = REPO / "workflow" / "profiles" / "slurm"
TRACKS = 3
# The plugin polls squeue this many seconds after a submission, then 10 s later than
# the previous interval while nothing finishes (2, 14, 36, ... s; default 40, 90, ...).
# A track's group job (2 jobs, each `srun` + a Snakemake start, ~3.5 s here) ends well
# within 14 s; the three run two at a time on the 2-CPU test node.
STATUS_INIT_S = "2"
RUN_TIMEOUT_S = 400

SNAKEFILE = textwrap.dedent(
    """\
    TRACKS = [f"t{{i}}" for i in range({tracks})]
    GROUP = "pertrack" if config.get("grouped", True) else None

    localrules: all

    rule all:
        input: "summary.txt"

    rule clip:
        output: "clips/{{track}}.txt"
        group: GROUP
        threads: 1
        shell: "echo clip {{wildcards.track}} slurm_job=$SLURM_JOB_ID > {{output}}"

    rule spectrogram:
        input: "clips/{{track}}.txt"
        output: "spectrograms/{{track}}.txt"
        group: GROUP
        threads: 1
        shell: "cat {{input}} > {{output}}; echo spectrogram slurm_job=$SLURM_JOB_ID >> {{output}}"

    rule fanin:
        input: expand("spectrograms/{{track}}.txt", track=TRACKS)
        output: "summary.txt"
        threads: 1
        shell: "cat {{input}} > {{output}}"
    """
).format(tracks=TRACKS)


def snakemake_cmd(workdir: Path, cores: int, *extra: str) -> list[str]:
    exe = Path(sys.executable).with_name("snakemake")
    return [
        str(exe) if exe.exists() else "snakemake",
        "--executor",
        "slurm",
        "--profile",
        str(PROFILE),
        "--directory",
        str(workdir),
        "--snakefile",
        str(workdir / "Snakefile"),
        "--cores",
        str(cores),
        "--slurm-init-seconds-before-status-checks",
        STATUS_INIT_S,
        *extra,
    ]


def run_workflow(slurm: SlurmCluster, workdir: Path, *extra: str) -> tuple[float, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Snakefile").write_text(SNAKEFILE)
    cmd = snakemake_cmd(workdir, min(slurm.cpus(), 2), *extra)
    t0 = time.monotonic()
    try:
        res = subprocess.run(
            cmd,
            cwd=workdir,
            env=slurm.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        jobs = slurm.jobs(workdir)
        for job in jobs:  # leave nothing behind in the queue
            if job["state"] in {"PENDING", "RUNNING"}:
                slurm.run(["scancel", job["id"]], check=False)
        pytest.fail(
            f"snakemake did not finish in {RUN_TIMEOUT_S}s; SLURM jobs: {jobs}\n{out[-3000:]}\n"
            f"{err[-5000:]}"
        )
    wall = time.monotonic() - t0
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"snakemake failed ({res.returncode}):\n{log[-6000:]}"
    for t in range(TRACKS):
        assert (workdir / "clips" / f"t{t}.txt").exists()
        assert (workdir / "spectrograms" / f"t{t}.txt").exists()
    summary = (workdir / "summary.txt").read_text()
    assert summary.count("spectrogram slurm_job=") == TRACKS
    # every job ran inside a SLURM allocation, not on the submitting host
    ids = re.findall(r"slurm_job=(\S*)", summary)
    assert len(ids) == 2 * TRACKS and all(i.isdigit() for i in ids), summary
    return wall, log


def submitted(slurm: SlurmCluster, workdir: Path, log: str) -> list[dict[str, str]]:
    jobs = slurm.jobs(workdir)
    assert jobs, "squeue shows no jobs for this workdir (MinJobAge too low?)"
    assert {j["state"] for j in jobs} == {"COMPLETED"}, jobs
    # cross-check squeue against what snakemake says it submitted
    ids = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    assert ids == {j["id"] for j in jobs}, (ids, jobs)
    return jobs


def test_slurm_grouped_chain_is_one_submission(slurm: SlurmCluster, tmp_path, capsys):
    workdir = tmp_path / "grouped"
    wall, log = run_workflow(slurm, workdir)
    jobs = submitted(slurm, workdir, log)

    dag_jobs = TRACKS * 2 + 1  # clip + spectrogram per track, fanin; `all` is local
    comments = sorted(j["comment"] for j in jobs)
    assert len(jobs) == TRACKS + 1 < dag_jobs, comments
    assert comments == ["rule_fanin"] + ["rule_pertrack_clip_spectrogram"] * TRACKS, comments
    # a track's two jobs ran in the same SLURM job, each track in its own
    ids = [
        re.findall(r"slurm_job=(\d+)", (workdir / "spectrograms" / f"t{t}.txt").read_text())
        for t in range(TRACKS)
    ]
    assert all(len(set(i)) == 1 for i in ids), ids
    assert len({i[0] for i in ids}) == TRACKS, ids
    with capsys.disabled():
        print(
            f"\n[slurm smoke] grouped: {len(jobs)} SLURM jobs for {dag_jobs} snakemake jobs, "
            f"snakemake wall {wall:.1f}s, up.sh {slurm.up_seconds:.1f}s ({slurm.state})"
        )


def test_slurm_ungrouped_submits_one_job_per_rule_instance(slurm: SlurmCluster, tmp_path, capsys):
    # The baseline for the grouped test's numbers: ~1 min more, so only on request.
    if os.environ.get("SYNTHDETECT_SLURM_BASELINE") != "1":
        pytest.skip("set SYNTHDETECT_SLURM_BASELINE=1 to also run the ungrouped baseline")
    workdir = tmp_path / "ungrouped"
    wall, log = run_workflow(slurm, workdir, "--config", "grouped=False")
    jobs = submitted(slurm, workdir, log)
    dag_jobs = TRACKS * 2 + 1
    assert len(jobs) == dag_jobs, sorted(j["comment"] for j in jobs)
    with capsys.disabled():
        print(
            f"\n[slurm smoke] ungrouped: {len(jobs)} SLURM jobs for {dag_jobs} snakemake jobs, "
            f"snakemake wall {wall:.1f}s"
        )
