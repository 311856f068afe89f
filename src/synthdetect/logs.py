"""Logging for workflow scripts: the rule's log file, and the terminal for progress."""

from __future__ import annotations

import logging
import os
import sys
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
