"""The scheduler fix (synthdetect.pipeline.scheduling): at most one pending re-evaluation
timer, a daemon, and the next one possible as soon as it has fired."""

import threading

from synthdetect.pipeline.scheduling import one_pending_timer


class Scheduler:
    """Enough of Snakemake's JobScheduler: a semaphore the timer releases, and the
    method the stock scheduler calls after every round that leaves jobs ready."""

    def __init__(self):
        self._open_jobs = threading.Semaphore(0)

    def _schedule_reevalutation(self, delay):  # the stock behaviour: a timer per call
        threading.Timer(delay, self._open_jobs.release).start()


def test_rounds_share_one_pending_timer_and_the_wake_up_frees_the_next():
    assert one_pending_timer(Scheduler)
    s = Scheduler()
    for _ in range(100):  # a hundred scheduling rounds within the timespan
        s._schedule_reevalutation(0.2)
    timer = s._synthdetect_timer
    assert timer.daemon, "a pending timer must not hold the process open at its end"
    assert s._open_jobs.acquire(timeout=5), "the timer never woke the scheduler"
    assert not s._open_jobs.acquire(timeout=0.4), "more than one timer was started"
    assert s._synthdetect_timer is None
    s._schedule_reevalutation(0.01)  # the round the wake-up started may start the next
    assert s._synthdetect_timer is not timer
    assert s._open_jobs.acquire(timeout=5)


def test_patching_twice_is_a_no_op_and_other_classes_are_left_alone():
    assert one_pending_timer(Scheduler)
    method = Scheduler._schedule_reevalutation
    assert one_pending_timer(Scheduler)
    assert Scheduler._schedule_reevalutation is method

    class Other:
        pass

    assert not one_pending_timer(Other)
    assert not hasattr(Other, "_schedule_reevalutation")


def test_the_installed_snakemake_has_the_method_the_fix_replaces():
    """When a Snakemake release renames it, this fails: check whether the release still
    starts a timer per round (synthdetect.pipeline.scheduling's docstring)."""
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert one_pending_timer()
    assert getattr(JobScheduler, "_synthdetect_one_pending_timer", False)
