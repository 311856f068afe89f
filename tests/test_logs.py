"""Job logs of `run:` blocks: threads of one process, each job's records in its own file."""

from __future__ import annotations

import logging
import threading

import pytest

from synthdetect.logs import thread_log

log = logging.getLogger("synthdetect.test")


def test_each_thread_writes_only_its_own_records(tmp_path):
    ready = threading.Barrier(2)

    def job(name: str) -> None:
        with thread_log(tmp_path / f"{name}.log"):
            ready.wait()  # both handlers are attached while both jobs log
            for i in range(50):
                log.info("%s record %d", name, i)
            ready.wait()

    threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for mine, other in (("a", "b"), ("b", "a")):
        text = (tmp_path / f"{mine}.log").read_text()
        assert text.count(f"{mine} record") == 50
        assert f"{other} record" not in text
    assert not logging.getLogger("synthdetect").handlers  # detached after the jobs


def test_a_failure_is_logged_with_its_traceback(tmp_path):
    with pytest.raises(ValueError, match="bad split"), thread_log(tmp_path / "job.log"):
        raise ValueError("bad split")
    text = (tmp_path / "job.log").read_text()
    assert "the job failed" in text and "ValueError: bad split" in text
