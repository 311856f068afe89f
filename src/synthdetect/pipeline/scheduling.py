"""A fix for Snakemake's scheduler loop, applied by the Snakefile.

Snakemake 9's job scheduler (9.27.1, the newest release on 2026-12-02) enforces
``--max-jobs-per-timespan`` (default ``100/1s``, so always on) by starting a
:class:`threading.Timer` at the end of every scheduling round that leaves jobs ready:
the timer wakes the scheduler for another round after the timespan. That round leaves
jobs ready too and starts another timer, so every wake-up -- each finished job is one --
starts a chain of timers that lasts while any job waits for a core. On a 2-core machine
with hundreds of ready jobs, a thousand finished jobs make a thousand chains: the
scheduler runs hundreds of rounds a second, each starting a thread, and Snakemake's own
process takes most of a core from the jobs (measured in bench/scheduler.py and
docs/cluster.md). A non-daemon timer also holds the process open at the end.

One pending timer is enough for what the timer is for (a round after the rate limit
frees a slot); :func:`one_pending_timer` makes the scheduler keep at most one, as a
daemon thread. Where a Snakemake release no longer has the method, nothing is changed.
"""

from __future__ import annotations

import threading

__all__ = ["one_pending_timer"]

_MARK = "_synthdetect_one_pending_timer"


def one_pending_timer(scheduler_class=None) -> bool:
    """Make ``scheduler_class`` (Snakemake's ``JobScheduler``) start a re-evaluation timer
    only when none is pending. Returns whether the class is patched (again: a no-op)."""
    if scheduler_class is None:
        try:
            from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
        except ImportError:  # another layout: nothing to fix
            return False
    if getattr(scheduler_class, _MARK, False):
        return True
    if not callable(getattr(scheduler_class, "_schedule_reevalutation", None)):
        return False

    def _schedule_reevalutation(self, delay) -> None:
        if getattr(self, "_synthdetect_timer", None) is not None:
            return

        def wake():
            # cleared before the wake-up, so the round it starts may start the next one
            self._synthdetect_timer = None
            self._open_jobs.release()

        self._synthdetect_timer = timer = threading.Timer(delay, wake)
        timer.daemon = True
        timer.start()

    scheduler_class._schedule_reevalutation = _schedule_reevalutation
    setattr(scheduler_class, _MARK, True)
    return True
