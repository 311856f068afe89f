"""Candidate tracks of a source, before probing and sampling.

Each builder returns the columns of :data:`CANDIDATE_COLUMNS`. The workflow's
``candidates`` job runs :func:`build` on a *recipe* -- a small dict a source kind makes from
its config (``SourceKind.recipe``) -- so the job's code fingerprint covers this module only,
not the download code of every kind, and a kind's own choices (its track-id pattern) are
the job's params.

This module is light on purpose (no network code): the corpora import the audio suffixes.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import soundfile as sf

#: Candidate tables (one per source) carry these columns; ``duration_s`` may be NaN.
CANDIDATE_COLUMNS = ["source", "track", "recording", "label", "path", "duration_s"]
#: File endings taken as audio wherever a folder is searched: folder sources, the demo
#: corpus's human recordings, the command line. A fixed list (not whatever the installed
#: libsndfile reads), so a folder gives the same candidates on every machine.
AUDIO_SUFFIXES = frozenset(
    {
        ".aif",
        ".aifc",
        ".aiff",
        ".au",
        ".caf",
        ".flac",
        ".mp3",
        ".oga",
        ".ogg",
        ".opus",
        ".rf64",
        ".snd",
        ".w64",
        ".wav",
    }
)
#: Written into an archive source's audio folder by its fetch: members it left out on
#: purpose (``member<TAB>reason``), which reach the manifest's exclusions with that reason.
REJECTED = "rejected.tsv"
#: Written into an archive source's audio folder by a fetch whose dataset says more about
#: each track (``track<TAB>column...``: its generator, the dataset's own split): joined onto
#: the candidate table, so those columns reach the manifest's inputs and exclusions.
TRACK_INFO = "tracks.tsv"
#: The column of :data:`TRACK_INFO` holding a dataset's own split (``train``/``val``/``test``);
#: a recipe with ``split: dataset`` copies it into ``split``, which the manifest keeps.
DATASET_SPLIT = "dataset_split"


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


def read_rejected(folder: str | os.PathLike) -> dict[str, str]:
    """``{member: reason}`` from a fetched folder's :data:`REJECTED` list (empty if none)."""
    path = Path(folder) / REJECTED
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["member"]: row["reason"] for row in csv.DictReader(f, delimiter="\t")}


def write_rejected(folder: str | os.PathLike, rejected: Mapping[str, str]) -> None:
    """Write (or, with nothing rejected, remove) a folder's :data:`REJECTED` list."""
    path = Path(folder) / REJECTED
    if not rejected:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, delimiter="\t", lineterminator="\n")
        out.writerow(["member", "reason"])
        for member in sorted(rejected):
            out.writerow([member, " ".join(rejected[member].split())])


def read_track_info(folder: str | os.PathLike) -> pd.DataFrame | None:
    """A fetched folder's :data:`TRACK_INFO` table (strings; ``None`` when there is none)."""
    path = Path(folder) / TRACK_INFO
    if not path.is_file():
        return None
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])


def write_track_info(folder: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a fetched folder's :data:`TRACK_INFO` table (a ``track`` column first)."""
    if "track" not in table:
        raise ValueError("a track info table needs a 'track' column")
    cols = ["track", *[c for c in table.columns if c != "track"]]
    table[cols].sort_values("track").to_csv(
        Path(folder) / TRACK_INFO, sep="\t", index=False, lineterminator="\n"
    )


def archive_candidates(
    name: str, root: str | os.PathLike, label: str, track_pattern: str
) -> pd.DataFrame:
    """Candidates of an archive source: the clips its download rule fetched into ``root``.

    ``track_pattern`` (the kind's) finds the track id in a file's path relative to
    ``root`` (its first group); other files are not candidates. ``root`` may hold symbolic
    links into Snakemake's output cache, which are followed. The recording is the track
    itself. Paths stay as given, like :func:`folder_candidates`' (relative to the working
    directory, inside the resources folder even when that holds cache links). A file whose
    header cannot be read gets a NaN duration and is excluded with its reason when the
    manifest probes it (FMA's known empty and silent clips end up there).

    Members the fetch left out (:data:`REJECTED`) are listed too, with their reason in the
    ``rejected`` column, so the manifest records why they are missing; every other row has
    ``None`` there. What the fetch recorded about each track (:data:`TRACK_INFO`, e.g. its
    generator) is joined on as further columns; a ``recording`` there groups tracks that
    must share a split (two takes of one prompt).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"source {name!r}: audio folder {root} does not exist")
    pattern = re.compile(track_pattern)
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(root, followlinks=True):
        for f in files:
            path = Path(folder, f)
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            m = pattern.search(path.relative_to(root).as_posix())
            if m is None or m.group(1) in found:
                continue
            found[m.group(1)] = path
    rejected: dict[str, tuple[Path, str]] = {}
    for member, reason in read_rejected(root).items():
        m = pattern.search(member)
        if m is not None and m.group(1) not in found:
            rejected[m.group(1)] = (root / member, reason)
    rows = []
    for track in sorted([*found, *rejected]):
        if track in found:
            path, duration, why = found[track], header_duration(found[track]), None
        else:
            (path, why), duration = rejected[track], float("nan")
        rows.append(
            {
                "source": name,
                "track": track,
                "recording": track,
                "label": label,
                "path": path.as_posix(),
                "duration_s": duration,
                "rejected": why,
            }
        )
    table = pd.DataFrame(rows, columns=[*CANDIDATE_COLUMNS, "rejected"])
    info = read_track_info(root)
    if info is not None:
        same = [c for c in table.columns if c not in ("track", "recording") and c in info]
        extra = info.drop(columns=same).drop_duplicates("track")
        table = table.merge(extra, on="track", how="left", suffixes=("", "_info"))
        if "recording_info" in table:
            given = table.pop("recording_info")
            table["recording"] = given.where(given.notna(), table["recording"])
    return table


def _index(name: str, recipe: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
    return index_candidates(name, inputs["index"], recipe["label"])


def _files(name: str, recipe: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
    return folder_candidates(name, recipe["path"], recipe["label"], recipe["glob"])


def _archive(name: str, recipe: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
    table = archive_candidates(name, inputs["audio"], recipe["label"], recipe["track"])
    if recipe.get("split") == "dataset":
        # the dataset's own lists decide the split (the manifest keeps a given split)
        if DATASET_SPLIT not in table or table[DATASET_SPLIT].isna().any():
            raise ValueError(
                f"source {name!r}: split: dataset, but {inputs['audio']} does not say the "
                f"dataset's split of every track ({TRACK_INFO}); set split: seeded"
            )
        table["split"] = table[DATASET_SPLIT]
        # the dataset splits song by song: each is its own recording, so none is in two
        table["recording"] = table["track"]
    return table


BUILDERS: dict[str, Callable[[str, Mapping, Mapping[str, str]], pd.DataFrame]] = {
    "index": _index,
    "files": _files,
    "archive": _archive,
}


def build(name: str, recipe: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
    """The candidate table of source ``name`` from its kind's recipe and the job's inputs."""
    try:
        builder = BUILDERS[recipe["builder"]]
    except KeyError:
        raise ValueError(
            f"source {name!r}: unknown candidate builder {recipe.get('builder')!r} "
            f"(one of {', '.join(BUILDERS)})"
        ) from None
    return builder(name, recipe, inputs)
