"""Candidate tracks of a source, before probing and sampling.

Each function returns the columns of :data:`CANDIDATE_COLUMNS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import soundfile as sf

#: Candidate tables (one per source) carry these columns; ``duration_s`` may be NaN.
CANDIDATE_COLUMNS = ["source", "track", "recording", "label", "path", "duration_s"]
AUDIO_SUFFIXES = {".mp3", ".flac", ".ogg", ".opus", ".wav", ".aif", ".aiff"}
_FMA_CLIP = re.compile(r"^(\d{6})\.mp3$")
_AAM_MIX = re.compile(r"(?:^|/)(\d{4})_mix\.flac$")


def safe_id(text: str) -> str:
    """A track id usable as a file name: path separators and spaces become '_'."""
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)


def header_duration(path: str | os.PathLike) -> float:
    """Duration from the file header; NaN when unreadable (probing later says why)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return float("nan")
    return info.frames / info.samplerate


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
        duration = header_duration(p)
        rows.append(
            {
                "source": name,
                "track": safe_id(rel),
                "recording": safe_id(rel),
                "label": label,
                "path": p.as_posix(),
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


def aam_track_id(member: str) -> str | None:
    """An AAM mix's song id: ``'0007_mix.flac'`` (possibly in a folder) -> ``'0007'``;
    ``None`` for any other file."""
    m = _AAM_MIX.search(member)
    return m.group(1) if m else None


def _track_id(kind: str, rel: str) -> str | None:
    if kind == "fma":
        m = _FMA_CLIP.match(Path(rel).name)
        return m.group(1) if m else None
    if kind == "aam":
        return aam_track_id(rel)
    raise ValueError(f"no archive layout for source kind {kind!r} (use 'fma' or 'aam')")


def archive_candidates(name: str, spec: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
    """Candidates of an FMA or AAM source: the clips its download rule fetched.

    ``inputs["audio"]`` is the folder the ``fetch_audio`` rule filled (FMA:
    ``fma_small/NNN/NNNNNN.mp3``, AAM: ``NNNN_mix.flac``); it may hold symbolic links
    into Snakemake's output cache, which are followed. The track id is FMA's 6-digit
    track id or AAM's 4-digit song id, the recording is the track itself. Paths stay
    as given, like :func:`folder_candidates`' (relative to the working directory, inside
    the resources folder even when that holds cache links). A file whose
    header cannot be read gets a NaN duration and is excluded with its reason when the
    manifest probes it (FMA's known empty and silent clips end up there).
    """
    kind = spec["kind"]
    root = Path(inputs["audio"])
    if not root.is_dir():
        raise FileNotFoundError(f"source {name!r}: audio folder {root} does not exist")
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(root, followlinks=True):
        for f in files:
            path = Path(folder, f)
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            track = _track_id(kind, path.relative_to(root).as_posix())
            if track is None or track in found:
                continue
            found[track] = path
    rows = []
    for track in sorted(found):
        path = found[track]
        duration = header_duration(path)
        rows.append(
            {
                "source": name,
                "track": track,
                "recording": track,
                "label": spec["label"],
                "path": path.as_posix(),
                "duration_s": duration,
            }
        )
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
