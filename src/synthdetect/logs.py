"""Logging for workflow scripts: the rule's log file, and the terminal for progress."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path


def setup_logging(log_path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    """Send library log records to the job's log file (created) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=level,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def log_bucket(log_path: str | os.PathLike, stage: str, bucket: str, n_tracks: int):
    """The log of one per-track bucket job (a `run:` block in a thread of Snakemake's own
    process, where reconfiguring the logging module would reach every other job)."""
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(path, "w") as log:
        log.write(f"{stage} {bucket}: {n_tracks} tracks\n")
        try:
            yield log
        except BaseException as exc:
            log.write(f"{stage} {bucket}: failed after {time.perf_counter() - started:.2f} s\n")
            log.write(f"{type(exc).__name__}: {exc}\n")
            raise
        log.write(f"{stage} {bucket}: done in {time.perf_counter() - started:.2f} s\n")


@contextmanager
def thread_log(log_path: str | os.PathLike, level: int = logging.INFO):
    """The log of a `run:` job that calls the library: the records this thread logs go to
    the job's log file, and no other job's (Snakemake runs `run:` blocks in threads of its
    own process, where :func:`setup_logging` would reach every job). A failure is logged
    with its traceback before it propagates."""
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    me = threading.get_ident()
    handler.addFilter(lambda record: record.thread == me)
    handler.setLevel(level)
    library = logging.getLogger("synthdetect")
    if library.getEffectiveLevel() > level:
        library.setLevel(level)
    library.addHandler(handler)
    try:
        yield
    except BaseException:
        library.exception("the job failed")
        raise
    finally:
        library.removeHandler(handler)
        handler.close()
