"""Does abstaining work? Each bundle scores the test clips and unusual copies of them.

``predict`` answers ``uncertain`` when an input lies outside what the model was trained
on. To show that the distance behind it sees what a user would hand it, the workflow
makes unusual but decodable files from the test clips (:mod:`synthdetect.serving.unusual`:
8 kHz, 6 channels, 3 s). Each bundle then scores the test clips and these files exactly
as ``predict`` does (:class:`~synthdetect.serving.scoring.Scorer`): one row per file with
its P(AI), distance, label and reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import pandas as pd

from synthdetect.serving.scoring import Scorer
from synthdetect.serving.unusual import UNUSUAL, test_clips

log = logging.getLogger(__name__)

__all__ = ["ABSTAIN_COLUMNS", "UNUSUAL", "score_groups", "test_clips"]

ABSTAIN_COLUMNS = ["group", "file", "status", "p_ai", "label", "distance", "reason", "warning"]


def score_groups(
    bundle: str | os.PathLike,
    groups: Mapping[str, Sequence[str | os.PathLike]],
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per file of each group (``ABSTAIN_COLUMNS``), scored as ``predict`` does."""
    rows = []
    with Scorer(bundle, threads=threads) as scorer:
        for group, files in groups.items():
            for path in files:
                r = scorer.score_file(path)
                rows.append(
                    {
                        "group": group,
                        "file": str(path),
                        "status": r.status,
                        "p_ai": r.p_ai,
                        "label": r.label,
                        "distance": r.distance,
                        "reason": r.reason or r.message,
                        "warning": r.warning,
                    }
                )
            log.info("%s: %d files", group, len(files))
    return pd.DataFrame(rows, columns=ABSTAIN_COLUMNS)
