"""SONICS (Rahman et al., ICLR 2025): songs made with Suno and Udio, on the Hugging Face Hub
(``awsaf49/sonics``; CC BY-NC 4.0, and not for research competing with Suno or Udio).

The fake songs are MP3s in ten zips, ``fake_songs/part_01.zip`` ... ``part_10.zip``, as
``fake_songs/fake_<id>_<suno|udio>_<0|1>.mp3``; ``fake_songs.csv`` says which ``algorithm``
made each (``chirp-v2-xxl-alpha``, ``chirp-v3``, ``chirp-v3.5`` on Suno; ``udio-30s``,
``udio-120s`` on Udio), its ``source`` (suno/udio) and the dataset's ``split``
(train/valid/test). The real songs are YouTube ids only (``real_songs.csv``): this module
never downloads them; :func:`real_songs_covered` reports which of them a folder you already
have holds, so a ``folder`` source can be the human class. Sources and what could not be
verified: ``docs/data.md``.

The source kind (:class:`SonicsKind`) reads ``fake_songs.csv`` first (its own rule, like
FMA's ``tracks.csv``), keeps the songs of the asked ``platform``/``algorithm`` that the
configured parts hold (their central directories say which), and fetches all of them or the
first ``n + spares`` in the manifest's seeded rank order. Each song's generator, platform and
dataset split go into the candidate table; with ``split: dataset`` the manifest keeps the
dataset's split. Whole downloads are checked against the sha256 the Hub's tree API lists
(``lfs.oid``), the configured checksums being the fallback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from synthdetect.data.archives import (
    ArchiveKind,
    ArchiveRef,
    FetchOptions,
    _locked,
    fetch_from,
    open_archive,
)
from synthdetect.data.candidates import AUDIO_SUFFIXES, DATASET_SPLIT, write_track_info
from synthdetect.data.http import (
    RETRY_BUDGET_S,
    ChecksumError,
    fetch_file,
    open_url,
    verify,
    with_retries,
)
from synthdetect.data.zenodo import ZenodoChecksums
from synthdetect.data.zipfetch import FetchStats
from synthdetect.seeds import track_key

__all__ = [
    "PLATFORMS",
    "SONICS_ALGORITHMS",
    "HubChecksums",
    "SonicsKind",
    "coverage_summary",
    "fetch_hub_checksums",
    "fetch_sonics_audio",
    "fetch_sonics_metadata",
    "read_fake_songs",
    "real_songs_covered",
    "select_songs",
    "sonics_members",
    "youtube_ids_in",
]

log = logging.getLogger(__name__)

#: ``fake_songs.csv``'s ``algorithm`` values, by platform.
SONICS_ALGORITHMS = {
    "chirp-v2-xxl-alpha": "suno",
    "chirp-v3": "suno",
    "chirp-v3.5": "suno",
    "udio-30s": "udio",
    "udio-120s": "udio",
}
PLATFORMS = ("suno", "udio")
#: the dataset's split names -> the manifest's
_SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}
_NAME = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------- metadata


def _track(filename: str) -> str:
    """A song's track id from fake_songs.csv's ``filename`` (no extension, no folder)."""
    name = PurePosixPath(str(filename).strip()).name
    return name[: -len(".mp3")] if name.lower().endswith(".mp3") else name


def read_fake_songs(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """``fake_songs.csv`` as ``track, generator, platform, dataset_split, fake_type``.

    ``generator`` is the ``algorithm``, ``platform`` the ``source`` (suno/udio),
    ``dataset_split`` the ``split`` in the manifest's names (``valid`` -> ``val``) and
    ``fake_type`` the ``label`` (full/half/mostly fake). Only those columns are parsed (the
    real file is ~130 MB, mostly lyrics).
    """
    wanted = {"filename", "algorithm", "source", "split", "label"}
    raw = pd.read_csv(csv_path, usecols=lambda c: c in wanted, dtype=str, keep_default_na=False)
    missing = sorted({"filename", "algorithm", "source"} - set(raw.columns))
    if missing:
        raise ValueError(f"{csv_path}: not SONICS's fake_songs.csv (no column {missing[0]!r})")
    split = raw["split"] if "split" in raw else pd.Series("", index=raw.index)
    unknown = sorted(set(split.str.strip().str.lower()) - set(_SPLITS) - {""})
    if unknown:
        raise ValueError(f"{csv_path}: unknown split values {unknown}")
    out = pd.DataFrame(
        {
            "track": raw["filename"].map(_track),
            "generator": raw["algorithm"].str.strip(),
            "platform": raw["source"].str.strip().str.lower(),
            DATASET_SPLIT: split.str.strip().str.lower().map(_SPLITS),
            "fake_type": raw["label"].str.strip() if "label" in raw else None,
        }
    )
    return out.drop_duplicates("track").sort_values("track").reset_index(drop=True)


def select_songs(
    songs: pd.DataFrame, *, platform: str | None = None, algorithms: Iterable[str] | None = None
) -> pd.DataFrame:
    """The songs of one platform and/or some algorithms (``None``: any). An algorithm the
    table does not have is an error naming the ones it has."""
    pool = songs
    if platform is not None:
        pool = pool[pool.platform == platform]
    if algorithms:
        algorithms = list(algorithms)
        absent = [a for a in algorithms if a not in set(songs.generator)]
        if absent:
            raise ValueError(
                f"fake_songs.csv has no algorithm {', '.join(map(repr, absent))}; it has "
                f"{', '.join(sorted(set(songs.generator)))}"
            )
        pool = pool[pool.generator.isin(algorithms)]
    return pool.reset_index(drop=True)


def sonics_members(names: Iterable[str]) -> dict[str, str]:
    """``{track: member}`` of the MP3s among a part's member names (macOS resource forks and
    names that are not plain ids skipped)."""
    out: dict[str, str] = {}
    for name in names:
        parts = PurePosixPath(name).parts
        if name.endswith("/") or not parts or not parts[-1].lower().endswith(".mp3"):
            continue
        if "__MACOSX" in parts or parts[-1].startswith("._"):
            continue
        track = parts[-1][: -len(".mp3")]
        if _NAME.fullmatch(track) and track not in out:
            out[track] = name
    return out


# --------------------------------------------------------------------------- Hub checksums


def _next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (the tree API pages its listing)."""
    for part in (header or "").split(","):
        m = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


def _get_json(url: str, timeout_s: float) -> tuple[object, str | None]:
    with open_url(url, headers={"Accept": "application/json"}, timeout_s=timeout_s) as r:
        return json.loads(r.read().decode("utf-8")), r.headers.get("Link")


def fetch_hub_checksums(
    api_url: str,
    *,
    retries: int = 3,
    timeout_s: float = 30,
    backoff_s: float = 1.0,
    budget_s: float = RETRY_BUDGET_S,
    max_pages: int = 50,
) -> dict[str, str]:
    """``{file name: 'sha256:...'}`` of a Hub repository's LFS files from its tree API
    (``GET <api_url>?recursive=true``; ``lfs.oid`` is the file's sha256), every page.

    Keyed by path in the repository and by base name (an archive's name in the config).
    Small files kept in git have no sha256 there (their ``oid`` is a git blob id).
    """
    url: str | None = api_url + ("&" if "?" in api_url else "?") + "recursive=true"
    out: dict[str, str] = {}
    pages = 0
    while url and pages < max_pages:
        entries, link = with_retries(
            lambda page=url: _get_json(page, timeout_s),
            url=url,
            retries=retries,
            backoff_s=backoff_s,
            budget_s=budget_s,
        )
        if not isinstance(entries, list):
            raise ValueError(f"{url}: not a tree listing (a JSON list)")
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("type") != "file":
                continue
            sha = str((entry.get("lfs") or {}).get("oid") or "")
            if re.fullmatch(r"[0-9a-f]{64}", sha):
                path = str(entry.get("path", ""))
                out[path] = out[PurePosixPath(path).name] = f"sha256:{sha}"
        url, pages = _next_link(link), pages + 1
    return out


class HubChecksums(ZenodoChecksums):
    """A file's checksum: the sha256 the Hub's tree API lists (``api_url``, asked once,
    lazily, only when a checksum is needed), else the configured one. ``api_url=None``
    means "configured checksums only". The same interface as the Zenodo record's, so the
    archive ladder takes either."""

    def __init__(
        self,
        api_url: str | None,
        *,
        fetch: Callable[..., dict[str, str]] = fetch_hub_checksums,
        retries: int = 2,
        timeout_s: float = 30.0,
        budget_s: float = RETRY_BUDGET_S,
    ):
        super().__init__(
            api_url or None,
            api_url or "",
            fetch=lambda _record, api_url, **kw: fetch(api_url, **kw),
            retries=retries,
            timeout_s=timeout_s,
            budget_s=budget_s,
        )

    @property
    def described(self) -> str:
        return str(self.api_url)

    def for_download(self, ref) -> str | None:
        live = self.live().get(ref.name)
        same_algo = live and ref.checksum and live.split(":")[0] == ref.checksum.split(":")[0]
        if same_algo and live.lower() != ref.checksum.lower():
            log.warning(
                "%s: the Hub lists %s, the config says %s; using the Hub's",
                ref.name,
                live,
                ref.checksum,
            )
        return live or ref.checksum


# --------------------------------------------------------------------------- fetching


def fetch_sonics_metadata(
    ref: ArchiveRef,
    dest: str | os.PathLike[str],
    options: FetchOptions | None = None,
    hub: HubChecksums | None = None,
) -> int:
    """``fake_songs.csv`` (a plain file, not in a zip) into ``dest``: from a local ``path``
    (checked, copied) or downloaded (resumable, checked against the Hub's sha256 or the
    configured checksum; a download is saved at ``path`` too when one is configured).
    Returns the bytes downloaded."""
    options = options or FetchOptions()
    hub = hub or HubChecksums(None)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    local = Path(ref.path) if ref.path else None
    got = 0
    if local is None or not local.exists():
        if not ref.url:
            raise FileNotFoundError(
                f"config {ref.where}.path: {local} does not exist and there is no 'url'"
            )
        checksum = hub.for_download(ref)
        if checksum is None:
            log.warning("%s has no checksum to verify it against (config %s)", ref.url, ref.where)
        target = local or dest
        # sources sharing one `path` download it once (the others wait, then find it there)
        with _locked(target) if local else contextlib.nullcontext():
            _, got = fetch_file(
                ref.url, target, checksum=checksum, progress=options.progress, **options.http()
            )
        if local is None:
            return got
    else:
        checksum = hub.for_local(ref)
        if checksum is not None:
            try:
                verify(local, checksum, url=ref.url)
            except ChecksumError as exc:
                exc.add_note(f"config {ref.where}.path points at this file; replace or remove it")
                raise
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as f:
        tmp = Path(f.name)
    try:
        shutil.copyfile(local, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return got


def fetch_sonics_audio(
    refs: Sequence[ArchiveRef],
    songs_csv: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    source: str,
    platform: str | None,
    algorithms: Sequence[str] | None,
    take: int | None,
    seed: int,
    options: FetchOptions | None = None,
    hub: HubChecksums | None = None,
) -> list[FetchStats]:
    """Fetch the SONICS songs of ``platform``/``algorithms`` that the parts ``refs`` hold
    into ``dest``: all, or the first ``take`` in the manifest's rank order
    (``track_key(seed, source, track)``). The parts' central directories say which part
    holds which song (listing fewer parts narrows the pool). Each fetched song's generator,
    platform, dataset split and fake type go into ``dest``'s track info, and the two takes
    of a prompt one recording."""
    options = options or FetchOptions()
    pool = select_songs(read_fake_songs(songs_csv), platform=platform, algorithms=algorithms)
    opened = [open_archive(ref, options, hub) for ref in refs]
    where: dict[str, tuple[int, str]] = {}
    for i, archive in enumerate(opened):
        for track, name in sonics_members(archive.index.names()).items():
            if track in where:
                log.warning(
                    "SONICS song %s is in two parts; using %s", track, refs[where[track][0]].name
                )
            else:
                where[track] = (i, name)
    listed = pool[pool.track.isin(where)]
    what = f"platform {platform or 'any'}, algorithm {', '.join(algorithms or []) or 'any'}"
    if listed.empty:
        raise KeyError(
            f"none of the {len(pool)} SONICS songs of {what} is in "
            f"{', '.join(r.where for r in refs)} ({len(where)} songs there)"
        )
    if len(listed) < len(pool):
        log.info(
            "SONICS: %d of the %d songs of %s are in none of the configured parts",
            len(pool) - len(listed),
            len(pool),
            what,
        )
    tracks = sorted(listed.track)
    if take is not None and take < len(tracks):
        tracks = sorted(tracks, key=lambda t: (track_key(seed, source, t), t))[:take]
    log.info("SONICS (%s): fetching %d of %d songs", what, len(tracks), len(listed))
    out = []
    for i, archive in enumerate(opened):
        names = [where[t][1] for t in tracks if where[t][0] == i]
        if names:
            out.append(fetch_from(archive, names, dest, options=options, zenodo=hub))
    chosen = listed[listed.track.isin(set(tracks))]
    # the two takes of a prompt (``_0``, ``_1``) share a recording, so a seeded split keeps
    # them together
    write_track_info(
        dest, chosen.assign(recording=chosen.track.str.replace(r"_\d+$", "", regex=True))
    )
    return out


def _subset(platform: str | None, algorithms: Sequence[str] | None) -> str:
    """The audio folder's name for a selection: ``suno``, ``udio-30s``, ``all``..."""
    tokens = ([platform] if platform else []) + sorted(algorithms or [])
    name = "_".join(tokens) or "all"
    if len(name) > 40:
        name = "alg" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


def _algorithms(spec: Mapping) -> list[str] | None:
    value = spec.get("algorithm")
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class SonicsKind(ArchiveKind):
    """``kind: sonics``: SONICS's fake songs, by platform and/or algorithm, from the Hub."""

    name = "sonics"
    label = "ai"
    track_pattern = r"(?:^|/)([A-Za-z0-9_-]+)\.mp3$"
    fetch_runtime = 720  # ~32 GB when every part is fetched whole

    def archives(self, name, spec):
        named = super().archives(name, spec)
        if spec.get("metadata"):
            named.append(("metadata", spec["metadata"]))
        return named

    def check(self, name, spec):
        super().check(name, spec)
        for a in _algorithms(spec) or []:
            platform = SONICS_ALGORITHMS.get(a)
            if platform is None:
                raise ValueError(
                    f"config sources.{name}.algorithm: {a!r} is not one of "
                    f"{', '.join(SONICS_ALGORITHMS)}"
                )
            if spec.get("platform") not in (None, platform):
                raise ValueError(
                    f"config sources.{name}.algorithm: {a!r} is a {platform} algorithm, "
                    f"but platform is {spec['platform']}"
                )

    def plan(self, name, spec, seed):
        plan = super().plan(name, spec, seed)
        algorithms = _algorithms(spec)
        plan["subset"] = _subset(spec.get("platform"), algorithms)
        plan["source"] = name if plan["take"] is not None else None
        plan["platform"] = spec.get("platform")
        plan["algorithms"] = sorted(algorithms) if algorithms else None
        plan["hub"] = spec.get("hf_api")
        return plan

    def fetch_inputs(self, name, spec, paths):
        return {"metadata": f"{paths.resources}/{name}/fake_songs.csv"}

    def recipe(self, name, spec):
        recipe = super().recipe(name, spec)
        if spec.get("split") == "dataset":
            recipe["split"] = "dataset"
        return recipe

    def fetch(self, plan, refs, dest, *, source, inputs, options, zenodo):
        if "metadata" not in inputs:
            raise ValueError(f"source {source!r}: a SONICS fetch needs its fake_songs.csv")
        return fetch_sonics_audio(
            refs,
            inputs["metadata"],
            dest,
            source=source,
            platform=plan["platform"],
            algorithms=plan["algorithms"],
            take=plan["take"],
            seed=plan["seed"] or 0,
            options=options,
            hub=HubChecksums(plan["hub"], budget_s=options.retry_budget_s),
        )


# --------------------------------------------------------------------------- real songs


def youtube_ids_in(stem: str) -> set[str]:
    """The YouTube ids a file name may carry: the whole name (``<id>.mp3``), a ``[<id>]``
    or ``(<id>)`` tag (yt-dlp's default is ``<title> [<id>].<ext>``), or an id after the
    last space."""
    ids = {stem.strip(), stem.rsplit(" ", 1)[-1]}
    ids.update(re.findall(r"[\[(]([A-Za-z0-9_-]{11})[\])]", stem))
    return ids


def real_songs_covered(
    folder: str | os.PathLike[str], real_songs_csv: str | os.PathLike[str], *, glob: str = "**/*"
) -> pd.DataFrame:
    """Which of SONICS's real songs (``real_songs.csv``) the audio files under ``folder``
    are, matched by YouTube id in the file name (:func:`youtube_ids_in`).

    One row per song of the CSV: ``youtube_id``, ``filename`` (SONICS's name for it),
    ``split`` (the dataset's, in the manifest's names) and ``path`` (the matching file, or
    ``None``). Nothing is downloaded; :func:`coverage_summary` says it in a few lines.
    """
    wanted = {"youtube_id", "filename", "split"}
    songs = pd.read_csv(
        real_songs_csv, usecols=lambda c: c in wanted, dtype=str, keep_default_na=False
    )
    if "youtube_id" not in songs:
        raise ValueError(f"{real_songs_csv}: not SONICS's real_songs.csv (no youtube_id)")
    found: dict[str, str] = {}
    for path in sorted(Path(folder).glob(glob)):
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            for yid in youtube_ids_in(path.stem):
                found.setdefault(yid, path.as_posix())
    ids = songs["youtube_id"].str.strip()
    split = songs["split"] if "split" in songs else pd.Series("", index=songs.index)
    return pd.DataFrame(
        {
            "youtube_id": ids,
            "filename": songs.get("filename"),
            "split": split.str.strip().str.lower().map(_SPLITS),
            "path": [found.get(i) for i in ids],
        }
    )


def coverage_summary(table: pd.DataFrame) -> str:
    """A few lines on a :func:`real_songs_covered` table: songs found, per split."""
    have = table.path.notna()
    share = f" ({have.mean():.1%})" if len(table) else ""
    lines = [f"{int(have.sum())} of {len(table)} SONICS real songs found{share}"]
    for split, group in table.groupby(table.split.fillna("none"), sort=True):
        lines.append(f"  {split}: {int(group.path.notna().sum())} of {len(group)}")
    return "\n".join(lines)
