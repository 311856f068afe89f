"""The manifest: which tracks, their label, crop window and split.

One table decides everything downstream, so every model is trained and tested on the
same split and a reader can audit it. Random choices are derived per track from
(seed, source, track) -- never from global RNG state -- so adding a track does not move
any other track's crop or sampling rank.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from synthdetect.audio.io import Probe, probe
from synthdetect.seeds import track_key, track_rng

log = logging.getLogger(__name__)

LABELS = {"human": 0, "ai": 1}
SPLITS = ("train", "val", "test")

MANIFEST_COLUMNS = [
    "source",
    "track",
    "recording",
    "label",
    "y",
    "path",
    "offset_s",
    "clip_s",
    "split",
]


def crop_offset(
    policy: str, duration_s: float, clip_s: float, seed: int, source: str, track: str
) -> float:
    """Start of the clip window: 0 for ``start``, seeded uniform for ``random``."""
    if policy == "start" or duration_s <= clip_s:
        return 0.0
    if policy == "random":
        rng = track_rng(seed, "crop", source, track)
        return round(float(rng.uniform(0.0, duration_s - clip_s)), 3)
    raise ValueError(f"unknown crop policy {policy!r} (use 'start', 'random' or 'windows')")


def expand_windows(
    candidates: pd.DataFrame, clip_s: float, max_windows: int | None
) -> pd.DataFrame:
    """One row per consecutive ``clip_s`` window of each recording (crop policy ``windows``).

    Windows of one recording share its ``recording`` id, so the split keeps them together.
    """
    rows = []
    for rec in candidates.itertuples(index=False):
        n = int(rec.duration_s // clip_s)
        for k in range(n if max_windows is None else min(n, max_windows)):
            rows.append(
                {
                    **rec._asdict(),
                    "track": f"{rec.track}-w{k:03d}",
                    "recording": rec.recording,
                    "offset_s": k * clip_s,
                }
            )
    return pd.DataFrame(rows, columns=[*candidates.columns, "offset_s"])


def select_tracks(
    candidates: pd.DataFrame,
    n: int | None,
    *,
    seed: int,
    crop: str,
    clip_s: float,
    prober: Callable[..., Probe] = probe,
    silence_dbfs: float = -60.0,
    threads: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pick ``n`` usable tracks of one source in seeded rank order.

    Candidates are probed in rank order until ``n`` pass, so a corrupt, short or silent
    track is replaced by the next one and the classes stay balanced. Returns the chosen
    rows (with ``offset_s``) and the excluded ones with their ``reason``.
    """
    cands = candidates.copy()
    cands["rank"] = [track_key(seed, s, t) for s, t in zip(cands.source, cands.track, strict=True)]
    cands = cands.sort_values(["rank", "track"], kind="stable").reset_index(drop=True)
    if "offset_s" not in cands:
        cands["offset_s"] = [
            crop_offset(crop, d if np.isfinite(d) else 0.0, clip_s, seed, s, t)
            for s, t, d in zip(cands.source, cands.track, cands.duration_s, strict=True)
        ]
    chosen, excluded = [], []
    want = len(cands) if n is None else n
    batch = max(threads * 8, 16)
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        start = 0
        while len(chosen) < want and start < len(cands):
            block = cands.iloc[start : start + batch]
            start += batch
            probes = pool.map(
                lambda row: prober(
                    row.path, offset_s=row.offset_s, seconds=clip_s, silence_dbfs=silence_dbfs
                ),
                block.itertuples(index=False),
            )
            for row, result in zip(block.itertuples(index=False), probes, strict=True):
                if result.ok and len(chosen) < want:
                    chosen.append(row._replace(duration_s=result.duration_s))
                elif not result.ok:
                    log.warning(
                        "excluded %s/%s (%s): %s", row.source, row.track, row.path, result.reason
                    )
                    excluded.append({**row._asdict(), "reason": result.reason})
    if len(chosen) < want:
        raise ValueError(
            f"source {cands.source.iat[0]!r}: only {len(chosen)} usable tracks of {want} "
            f"asked for ({len(excluded)} excluded); lower its 'n' or add tracks"
        )
    picked = pd.DataFrame(chosen, columns=cands.columns).drop(columns="rank")
    dropped = pd.DataFrame(excluded, columns=[*cands.columns, "reason"]).drop(columns="rank")
    return picked, dropped


def assign_splits(tracks: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Split by recording, stratified by label and source, seeded: no recording in two
    splits.

    Within each (label, source), recordings are ordered by a seeded per-recording key and
    cut at the cumulative clip counts closest to the requested fractions (test first,
    then val). Stratifying by source too gives every source its share of each split, so
    a cross-source setting always has test tracks of every source (with one source per
    label, as in the paper, this is the same split as by label alone).
    """
    total = sum(fractions.values())
    split = pd.Series(index=tracks.index, dtype=object)
    keys = ["label", "source"] if "source" in tracks else ["label"]
    for _, group in tracks.groupby(keys, sort=True):
        recs = group.groupby("recording").size()
        order = sorted(recs.index, key=lambda r: (track_key(seed, "split", str(r)), str(r)))
        counts = recs.loc[order].to_numpy()
        cum = np.cumsum(counts) / counts.sum()
        bounds = np.cumsum([fractions["test"], fractions["val"]]) / total
        cut_test, cut_val = (int(np.argmin(np.abs(np.r_[0.0, cum] - b))) for b in bounds)
        names = (
            ["test"] * cut_test
            + ["val"] * (cut_val - cut_test)
            + ["train"] * (len(order) - cut_val)
        )
        by_rec = dict(zip(order, names, strict=True))
        split.loc[group.index] = group.recording.map(by_rec)
    return split


def build_manifest(
    sources: Iterable[tuple[dict, pd.DataFrame]],
    *,
    seed: int,
    clip_s: float,
    split: dict[str, float],
    silence_dbfs: float = -60.0,
    threads: int = 1,
    prober: Callable[..., Probe] = probe,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest and exclusions from (source config, candidate table) pairs."""
    picked, dropped = [], []
    for spec, cands in sources:
        if cands.empty:
            raise ValueError(f"source {spec['name']!r} has no candidate tracks")
        if spec.get("crop", "start") == "windows":
            cands = expand_windows(cands, clip_s, spec.get("windows_per_recording"))
        chosen, excluded = select_tracks(
            cands,
            spec.get("n"),
            seed=seed,
            crop=spec.get("crop", "start"),
            clip_s=clip_s,
            prober=prober,
            silence_dbfs=silence_dbfs,
            threads=threads,
        )
        picked.append(chosen)
        dropped.append(excluded)
    manifest = pd.concat(picked, ignore_index=True)
    duplicated = manifest.duplicated(["source", "track"])
    if duplicated.any():
        first = manifest[duplicated].iloc[0]
        raise ValueError(f"track id {first.source}/{first.track} appears twice")
    unknown = set(manifest.label) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown label(s) {sorted(unknown)}: use 'human' or 'ai'")
    manifest["y"] = manifest.label.map(LABELS).astype("int8")
    manifest["clip_s"] = float(clip_s)
    manifest["recording"] = manifest.source + ":" + manifest.recording.astype(str)
    manifest["split"] = assign_splits(manifest, split, seed)
    manifest = manifest.sort_values(["source", "track"], kind="stable").reset_index(drop=True)
    excluded = pd.concat(dropped, ignore_index=True)
    return manifest[MANIFEST_COLUMNS], excluded
