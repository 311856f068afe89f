"""Candidate tracks of a source, before probing and sampling.

Each function returns the columns of :data:`synthdetect.manifest.CANDIDATE_COLUMNS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import soundfile as sf

from synthdetect.manifest import CANDIDATE_COLUMNS

AUDIO_SUFFIXES = {".mp3", ".flac", ".ogg", ".opus", ".wav", ".aif", ".aiff"}


def safe_id(text: str) -> str:
    """A track id usable as a file name: path separators and spaces become '_'."""
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)


def folder_candidates(
    name: str, root: str | os.PathLike, label: str, glob: str = "**/*"
) -> pd.DataFrame:
    """Audio files under ``root`` matching ``glob``; the recording is the file itself.

    Durations come from the header (``soundfile.info``); a file whose header cannot be
    read gets NaN and is excluded with its reason when the manifest probes it. Paths stay
    as given (relative to the working directory when the config's are), so a project
    folder can move without its clips looking stale.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"source {name!r}: folder {root} does not exist; fix its 'path'")
    files = sorted(p for p in root.glob(glob) if p.suffix.lower() in AUDIO_SUFFIXES)
    rows = []
    for p in files:
        rel = p.relative_to(root).with_suffix("").as_posix()
        try:
            info = sf.info(str(p))
            duration = info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError):
            duration = float("nan")
        rows.append(
            {
                "source": name,
                "track": safe_id(rel),
                "recording": safe_id(rel),
                "label": label,
                "path": str(p.resolve()),
                "duration_s": duration,
            }
        )
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)


def index_candidates(
    name: str, index_path: str | os.PathLike, label: str | None = None
) -> pd.DataFrame:
    """Candidates listed in a corpus index (the demo corpus writes one).

    The index has ``track, label, recording, path, duration_s`` with ``path`` relative to
    the index's folder; ``label`` filters it to one class.
    """
    index_path = Path(index_path)
    table = pd.read_parquet(index_path)
    if label is not None:
        table = table[table.label == label]
    return pd.DataFrame(
        {
            "source": name,
            "track": table.track.map(safe_id),
            "recording": table.recording.astype(str),
            "label": table.label,
            "path": [(index_path.parent / p).as_posix() for p in table.path],
            "duration_s": table.duration_s.astype(float),
        },
        columns=CANDIDATE_COLUMNS,
    ).reset_index(drop=True)
