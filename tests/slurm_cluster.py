"""A private single-node SLURM cluster for tests (scripts/slurm/up.sh and down.sh).

Not a conftest: import it where needed::

    from slurm_cluster import slurm_cluster_fixture
    slurm = slurm_cluster_fixture()          # session-scoped pytest fixture

    def test_x(slurm):
        slurm.run(["sinfo"])                 # env has SLURM_CONF, timeout always set

or, outside pytest, ``with slurm_cluster() as cluster: ...``.

The cluster is started with up.sh (which installs munge/SLURM with apt when root and
they are missing) and stopped with down.sh when the last user is done -- but only if
a test started it: a cluster that was already running (someone ran up.sh by hand)
is left running, and SYNTHDETECT_SLURM_KEEP=1 keeps a test-started one up too.
Several pytest-xdist workers may use it at once: each holds a shared flock on
``<runtime dir>/.users`` while using it, and teardown happens only when an exclusive
lock can be had. Tests are skipped (never failed) only when the cluster cannot be
set up here at all: no SLURM and no way to install it (not root, apt fails, not
Linux), or a foreign /etc/slurm/slurm.conf that snakemake's jobs would use.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UP_SH = REPO / "scripts" / "slurm" / "up.sh"
DOWN_SH = REPO / "scripts" / "slurm" / "down.sh"
DEFAULT_DIR = Path(os.environ.get("SYNTHDETECT_SLURM_DIR", "/tmp/synthdetect-slurm"))
UP_TIMEOUT_S = 900  # a cold apt install included
DOWN_TIMEOUT_S = 120
EXIT_UNAVAILABLE = 77  # up.sh: SLURM missing and cannot be installed
_MARKER = ".started-by-tests"


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be set up on this machine (the reason is the message)."""


@dataclass(frozen=True)
class SlurmCluster:
    runtime_dir: Path
    conf: Path
    env: dict[str, str] = field(repr=False)  # os.environ + SLURM_CONF + this venv's bin on PATH
    state: str  # "started" (by this call) or "running" (found running)
    up_seconds: float  # wall time of up.sh

    def run(
        self, cmd: Sequence[str | os.PathLike], *, timeout: float = 60, check: bool = True, **kw
    ) -> subprocess.CompletedProcess[str]:
        """Run a command against the cluster (env set, output captured, always a timeout)."""
        kw.setdefault("capture_output", True)
        return subprocess.run(
            [str(c) for c in cmd], env=self.env, text=True, timeout=timeout, check=check, **kw
        )

    def cpus(self) -> int:
        """CPUs of the (only) node."""
        return int(self.run(["sinfo", "-h", "-N", "-o", "%c"]).stdout.split()[0])

    def jobs(self, workdir: str | os.PathLike | None = None) -> list[dict[str, str]]:
        """Jobs slurmctld still knows (finished ones stay MinJobAge s), optionally by workdir.

        Each: {"id", "state", "workdir", "comment", "cpus", "mem"}. The executor plugin
        puts "rule_<name>" or "rule_<group>_<rules>" into the comment.
        """
        out = self.run(
            ["squeue", "--states=all", "--noheader", "--format=%i|%T|%Z|%k|%C|%m"]
        ).stdout
        keys = ("id", "state", "workdir", "comment", "cpus", "mem")
        rows = [dict(zip(keys, line.split("|", 5), strict=True)) for line in out.splitlines()]
        if workdir is not None:
            want = os.path.realpath(workdir)
            rows = [r for r in rows if os.path.realpath(r["workdir"]) == want]
        return rows


def _parse_up_output(stdout: str) -> dict[str, str]:
    info = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in {"SLURM_CONF", "SYNTHDETECT_SLURM_STATE", "SYNTHDETECT_SLURM_ETC_LINK"}:
            info[key] = value.strip()
    return info


def _env(runtime_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SYNTHDETECT_SLURM_DIR"] = str(runtime_dir)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", ""), "/usr/sbin", "/sbin"]
    )
    return env


def _down(runtime_dir: Path, env: dict[str, str]) -> None:
    res = subprocess.run(
        ["bash", str(DOWN_SH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=DOWN_TIMEOUT_S,
    )
    if res.returncode != 0:
        raise RuntimeError(f"scripts/slurm/down.sh failed ({res.returncode}):\n{res.stderr}")


@contextlib.contextmanager
def slurm_cluster(runtime_dir: str | os.PathLike | None = None) -> Iterator[SlurmCluster]:
    """Start (or reuse) the cluster, yield it, stop it if tests started it and nobody else uses it.

    Raises SlurmUnavailable when SLURM cannot be set up here, RuntimeError when
    up.sh fails otherwise (its message carries the daemons' logs).
    """
    if not sys.platform.startswith("linux"):
        raise SlurmUnavailable("the test SLURM cluster needs Linux")
    if shutil.which("bash") is None or shutil.which("flock") is None:
        raise SlurmUnavailable("scripts/slurm/up.sh needs bash and flock")
    rt = Path(runtime_dir) if runtime_dir is not None else DEFAULT_DIR
    rt.mkdir(parents=True, exist_ok=True)
    env = _env(rt)

    users = open(rt / ".users", "a+")  # noqa: SIM115 -- held for the whole session
    try:
        fcntl.flock(users, fcntl.LOCK_SH)
        t0 = time.monotonic()
        try:
            res = subprocess.run(
                ["bash", str(UP_SH)],
                env=env,
                capture_output=True,
                text=True,
                timeout=UP_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"scripts/slurm/up.sh did not finish in {UP_TIMEOUT_S}s") from e
        up_seconds = time.monotonic() - t0
        info = _parse_up_output(res.stdout)
        if res.returncode == EXIT_UNAVAILABLE:
            reasons = [ln for ln in res.stderr.splitlines() if "UNAVAILABLE" in ln]
            raise SlurmUnavailable(reasons[-1] if reasons else res.stderr.strip()[-500:])
        if res.returncode != 0 or "SLURM_CONF" not in info:
            raise RuntimeError(
                f"scripts/slurm/up.sh failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        state = info.get("SYNTHDETECT_SLURM_STATE", "running")
        if state == "started":
            (rt / _MARKER).touch()
        env["SLURM_CONF"] = info["SLURM_CONF"]
        cluster = SlurmCluster(
            runtime_dir=rt,
            conf=Path(info["SLURM_CONF"]),
            env=env,
            state=state,
            up_seconds=up_seconds,
        )
        if info.get("SYNTHDETECT_SLURM_ETC_LINK") != "yes":
            # Raised after the bookkeeping above so that the cluster still gets stopped.
            raise SlurmUnavailable(
                "/etc/slurm/slurm.conf is not the test cluster's config and the "
                "slurm-jobstep executor strips SLURM_CONF inside jobs (see scripts/slurm/up.sh)"
            )
        yield cluster
    finally:
        fcntl.flock(users, fcntl.LOCK_UN)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another process still uses the cluster; the last one stops it
        else:
            if (rt / _MARKER).exists() and os.environ.get("SYNTHDETECT_SLURM_KEEP") != "1":
                (rt / _MARKER).unlink()
                _down(rt, env)
        finally:
            users.close()


def slurm_cluster_fixture(scope: str = "session", runtime_dir: str | os.PathLike | None = None):
    """Make a pytest fixture yielding a SlurmCluster (skips when SLURM is unavailable)."""

    @pytest.fixture(scope=scope)
    def _slurm_cluster() -> Iterator[SlurmCluster]:
        try:
            with slurm_cluster(runtime_dir) as cluster:
                yield cluster
        except SlurmUnavailable as e:
            pytest.skip(f"no SLURM test cluster: {e}")

    return _slurm_cluster
