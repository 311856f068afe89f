"""The real workflow on a one-node SLURM cluster, checked against a local run.

A tiny generated corpus (3 tracks per class, workflow_helpers.TINY settings: 4 buckets,
only the two random forests) runs through ``snakemake --executor slurm --profile
workflow/profiles/slurm`` and, at the same time, locally with the default profile. The
SLURM run must make the same files with the same contents (every track's clip,
spectrogram PNG bytes and histograms in its bucket's folder, feature tables, manifest,
predictions, metrics JSON), and the per-track stages (group ``pertrack``, one job per
bucket and stage) must reach SLURM as one job per bucket, as the profile's
``group-components: pertrack=1`` arranges: the 6 tracks fall into 2 buckets (b0, b2),
so 6 bucket jobs go out as 2 SLURM jobs of 1 CPU each; 10 SLURM jobs for 14 Snakemake
jobs (before buckets: 26 Snakemake jobs, 18 of them per-track).

SLURM jobs are counted with squeue (no slurmdbd here: finished jobs stay visible for
MinJobAge, see scripts/slurm/up.sh) and cross-checked against the plugin's "submitted
with SLURM jobid" lines. Skipped only when the test cluster cannot be set up here (not
root and SLURM missing, no apt, a foreign /etc/slurm/slurm.conf); every command has a
timeout, and on a timeout the run's SLURM jobs are cancelled.

Wall time: the runs took 90 s and 134 s on a shared 2-core machine (load 2-4). Most of
it is the plugin's status polling (first check after
--slurm-init-seconds-before-status-checks, then 10 s later each time nothing finished:
2, 14, 36, 68 s after a submission) and the Snakemake starts inside
the bucket jobs (`srun` + a fresh Snakemake per stage; the test prints the figure).
``--cores 1`` makes every job ask for one CPU, so that pairs of jobs (candidates,
buckets, forests, evaluations) run side by side on the 2-CPU test node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from audio_fixtures import write_corpus
from slurm_cluster import REPO, SlurmCluster, slurm_cluster_fixture
from workflow_helpers import SNAKEMAKE, TINY, folder_config, jobs_run, write_config

from synthdetect.pipeline.buckets import bucket_of, track_file
from synthdetect.pipeline.stages import CLIP_SUFFIX, HISTOGRAM_SUFFIX, PNG_SUFFIX

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.xdist_group("slurm")]

slurm = slurm_cluster_fixture()

PROFILE = REPO / "workflow" / "profiles" / "slurm"
SNAKEFILE = REPO / "workflow" / "Snakefile"
N = 3  # tracks per class; with equal split fractions: one per class in each split
MODELS = ["rf_deriv", "rf_color"]
TARGETS = [f"results/metrics/{m}.json" for m in MODELS]
N_BUCKETS = TINY["buckets"]
# write_corpus names tracks human000.. and ai000..; their buckets (crc32 % 4): b0, b2
TRACKS = [(s, f"{s}{i:03d}") for s in ("human", "ai") for i in range(N)]
BUCKETS = sorted({bucket_of(s, t, N_BUCKETS) for s, t in TRACKS})
# Snakemake jobs: candidates x2, manifest, features, train_sklearn x2, evaluate x2, and
# clip, spectrogram, histograms per bucket. SLURM jobs: the same, with each bucket's
# three jobs as one group job (profile: group-components pertrack=1).
PER_TRACK_RULES = ("clip", "spectrogram", "histograms")
OTHER_JOBS = {"candidates": 2, "manifest": 1, "features": 1, "train_sklearn": 2, "evaluate": 2}
SNAKEMAKE_JOBS = sum(OTHER_JOBS.values()) + len(PER_TRACK_RULES) * len(BUCKETS)
SLURM_JOBS = sum(OTHER_JOBS.values()) + len(BUCKETS)
GROUP_LIMIT_S = 3 * 10 * 60  # the profile's runtime, 10 min per stage, added up
STATUS_INIT_S = "2"  # first squeue poll 2 s after a submission (plugin default 40 s)
RUN_TIMEOUT_S = 600
ENV = {"PYTHONHASHSEED": "0"}  # as workflow_helpers.snakemake: same hash order both runs


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Corpus and config; the runs work in copies of this folder (paths are relative)."""
    base = tmp_path_factory.mktemp("slurm-project")
    write_corpus(base / "corpus", N)
    config = folder_config(
        Path("corpus"),
        Path("results"),
        split={"train": 1.0, "val": 1.0, "test": 1.0},
        models={**TINY["models"], "enabled": MODELS},
    )
    write_config(base / "config.yaml", config)
    return base


def _text(stream) -> str:
    if stream is None:
        return ""
    return stream.decode(errors="replace") if isinstance(stream, bytes) else stream


def _slurm_logs(workdir: Path, limit: int = 4000) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-limit:]}" for p in logs[-6:])


def _cancel(slurm: SlurmCluster, workdir: Path) -> list[dict[str, str]]:
    jobs = slurm.jobs(workdir)
    for job in jobs:
        if job["state"] in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING"}:
            slurm.run(["scancel", job["id"]], check=False, timeout=30)
    return jobs


def _job_info(slurm: SlurmCluster, job_id: str) -> dict[str, float]:
    """A finished SLURM job's CPUs, RunTime and TimeLimit in seconds (from scontrol,
    which keeps it for MinJobAge)."""
    out = slurm.run(["scontrol", "show", "job", "-o", job_id]).stdout

    def seconds(key: str) -> float:
        match = re.search(rf"\b{key}=(?:(\d+)-)?(\d+):(\d+):(\d+)", out)
        assert match, (key, out)
        days, h, m, s = (int(g or 0) for g in match.groups())
        return float(((days * 24 + h) * 60 + m) * 60 + s)

    cpus = re.search(r"\bNumCPUs=(\d+)", out)
    assert cpus, out
    return {
        "cpus": int(cpus.group(1)),
        "run_s": seconds("RunTime"),
        "limit_s": seconds("TimeLimit"),
    }


def _assert_same_outputs(local: Path, remote: Path) -> int:
    """Both runs wrote the same result files with the same contents; returns how many."""

    def files(root: Path) -> set[Path]:
        skip = {"logs", "benchmarks"}
        return {
            p.relative_to(root)
            for p in (root / "results").rglob("*")
            if p.is_file() and not skip & set(p.relative_to(root / "results").parts)
        }

    names = files(local)
    assert names == files(remote), sorted(names ^ files(remote))
    for rel in sorted(names):
        a, b = local / rel, remote / rel
        if rel.suffix in {".png", ".wav"}:
            assert a.read_bytes() == b.read_bytes(), rel
        elif rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), obj=str(rel))
        elif rel.suffix == ".json":
            assert json.loads(a.read_text()) == json.loads(b.read_text()), rel
    kinds = {rel.parts[1] for rel in names}
    assert {"clips", "spectrograms", "histograms", "features", "metrics"} <= kinds, kinds
    # every track's file of every stage, in its bucket's folder, and nothing else
    for stage, suffix in (
        ("clips", CLIP_SUFFIX),
        ("spectrograms", PNG_SUFFIX),
        ("histograms", HISTOGRAM_SUFFIX),
    ):
        root = remote / "results" / stage
        want = {track_file(root, s, t, N_BUCKETS, suffix) for s, t in TRACKS}
        assert set(root.rglob(f"*{suffix}")) == want, stage
    return len(names)


def test_slurm_run_equals_local_run_with_one_job_per_bucket(
    slurm: SlurmCluster, project: Path, tmp_path: Path, capsys
):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    shutil.copytree(project, local)
    shutil.copytree(project, remote)
    common = ["-s", str(SNAKEFILE), "--configfile=config.yaml", *TARGETS]

    t0 = time.monotonic()
    # the local run (default profile only) overlaps with the SLURM run's waiting
    local_proc = subprocess.Popen(
        [str(SNAKEMAKE), "--directory", str(local), "--cores", "2", *common],
        cwd=local,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cmd = [
        str(SNAKEMAKE),
        "--executor",
        "slurm",
        "--profile",
        str(PROFILE),
        "--directory",
        str(remote),
        "--slurm-init-seconds-before-status-checks",
        STATUS_INIT_S,
        "--cores",
        "1",
        *common,
    ]
    try:
        res = subprocess.run(
            cmd,
            cwd=remote,
            env={**slurm.env, **ENV},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        jobs = _cancel(slurm, remote)
        pytest.fail(
            f"snakemake --executor slurm did not finish in {RUN_TIMEOUT_S}s; SLURM jobs: {jobs}\n"
            f"{_text(e.stdout)[-3000:]}\n{_text(e.stderr)[-5000:]}\n{_slurm_logs(remote)}"
        )
    finally:
        try:
            local_out, _ = local_proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            local_proc.kill()
            local_out, _ = local_proc.communicate()
            pytest.fail(f"the local run did not finish in {RUN_TIMEOUT_S}s:\n{local_out[-3000:]}")
    wall = time.monotonic() - t0
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"SLURM run failed:\n{log[-6000:]}\n{_slurm_logs(remote)}"
    assert local_proc.returncode == 0, f"local run failed:\n{local_out[-6000:]}"

    # the same files, the same bytes / tables / metrics
    n_files = _assert_same_outputs(local, remote)

    # every Snakemake job ran, on SLURM, each bucket's three as one SLURM job
    manifest = pd.read_parquet(remote / "results" / "manifest.parquet")
    assert sorted(zip(manifest.source, manifest.track, strict=True)) == sorted(TRACKS)
    per_rule = jobs_run(log)
    assert per_rule == {**OTHER_JOBS, **dict.fromkeys(PER_TRACK_RULES, len(BUCKETS))}, per_rule
    assert sum(per_rule.values()) == SNAKEMAKE_JOBS
    jobs = slurm.jobs(remote)
    assert {j["state"] for j in jobs} == {"COMPLETED"}, jobs
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    assert submitted == {j["id"] for j in jobs}, (submitted, jobs)
    assert len(jobs) == SLURM_JOBS < SNAKEMAKE_JOBS, sorted(j["comment"] for j in jobs)
    groups = [j for j in jobs if "pertrack" in j["comment"]]
    assert len(groups) == len(BUCKETS), sorted(j["comment"] for j in jobs)
    # a bucket's chain asks for one CPU and its three stages' runtimes added up
    infos = [_job_info(slurm, g["id"]) for g in groups]
    assert [i["cpus"] for i in infos] == [1] * len(BUCKETS), infos
    assert [i["limit_s"] for i in infos] == [GROUP_LIMIT_S] * len(BUCKETS), infos

    run_s = [i["run_s"] for i in infos]
    with capsys.disabled():
        print(
            f"\n[slurm] {len(jobs)} SLURM jobs for {SNAKEMAKE_JOBS} Snakemake jobs; "
            f"{n_files} result files equal to the local run's; wall {wall:.0f}s "
            f"(up.sh {slurm.up_seconds:.0f}s, {slurm.state}); bucket jobs "
            f"{' + '.join(f'{s:.0f}' for s in run_s)} s for {len(BUCKETS)} buckets of "
            f"{len(TRACKS)} tracks = {sum(run_s) / len(BUCKETS):.1f} s/bucket, "
            f"{sum(run_s) / (3 * len(BUCKETS)):.1f} s/stage job"
        )
