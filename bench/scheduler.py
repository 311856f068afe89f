"""What Snakemake's scheduler loop costs with and without the one-pending-timer fix.

Writes a workflow of N jobs that each wait ``--seconds`` (a `run:` block: no process
start), so that jobs queue for ``--cores`` as the demo's do, and runs it through the real
CLI twice in the same invocation, in alternating order over ``--repeat`` pairs: stock
Snakemake, and with synthdetect.pipeline.scheduling.one_pending_timer applied by the
Snakefile (as workflow/rules/common.smk does). Measures the Snakemake process's CPU
seconds (its children's rusage) and the threads it started (the last thread's number,
written at the end of the run). The jobs' own work is the same idle wait in both, so the
CPU difference is the scheduler's.

    python bench/scheduler.py [--jobs 120] [--seconds 1] [--cores 2] [--repeat 1]

Last line: ``scheduler_cpu_ratio=<fixed/stock CPU seconds> threads_stock=… threads_fixed=…``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """\
import os, threading
if os.environ.get("ONE_PENDING_TIMER"):
    from synthdetect.pipeline.scheduling import one_pending_timer
    one_pending_timer()
rule all:
    input: expand("o/{{i}}.txt", i=range({jobs}))
rule wait:
    output: "o/{{i}}.txt"
    run:
        import time
        time.sleep({seconds})
        open(output[0], "w").close()
onsuccess:
    open("threads.txt", "w").write(str(threading._counter()))
"""


def run(folder: Path, cores: int, fixed: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and threads started of one run from scratch."""
    for stale in (folder / "o", folder / ".snakemake"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    env = {**os.environ, "ONE_PENDING_TIMER": "1" if fixed else ""}
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"]
    cmd += ["--force-use-threads"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"snakemake failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int((folder / "threads.txt").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=120)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        folder = Path(tmp)
        (folder / "Snakefile").write_text(SNAKEFILE.format(jobs=args.jobs, seconds=args.seconds))
        results: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for i in range(args.repeat):
            for fixed in (False, True) if i % 2 == 0 else (True, False):
                results[fixed].append(run(folder, args.cores, fixed))
    for fixed, name in ((False, "stock"), (True, "fixed")):
        wall, cpu, threads = (min(r[k] for r in results[fixed]) for k in range(3))
        print(f"{name}: wall_s={wall:.2f} cpu_s={cpu:.2f} threads={threads}")
    stock_cpu = min(r[1] for r in results[False])
    fixed_cpu = min(r[1] for r in results[True])
    print(
        f"scheduler_cpu_ratio={fixed_cpu / stock_cpu:.3f} "
        f"threads_stock={min(r[2] for r in results[False])} "
        f"threads_fixed={min(r[2] for r in results[True])}"
    )


if __name__ == "__main__":
    main()
