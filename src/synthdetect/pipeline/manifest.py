"""The manifest: which tracks, their label, crop window and split.

One table decides everything downstream, so every model is trained and tested on the
same split and a reader can audit it. Random choices are derived per track from
(seed, source, track) -- never from global RNG state -- so adding a track does not move
any other track's crop or sampling rank.

A source whose usable tracks fall short of its ``n`` continues with what is usable (a
dataset of exactly 3,000 songs must not stop the run over one bad file); every exclusion
is listed with its reason, and with ``balance`` the other classes are trimmed to keep the
proportions the config asks for.

A derived source (:mod:`synthdetect.data.derived`) takes no part in sampling, balance or
the split: its tracks are copies of its parent's admitted rows (:func:`derive_tracks`),
so a recording and its re-generation always sit in the same split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

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
        # an unknown duration keeps one window, so the probe can say why it is unusable
        n = int(rec.duration_s // clip_s) if np.isfinite(rec.duration_s) else 1
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
    """Pick ``n`` usable tracks of one source (all usable ones when ``n`` is None) in seeded
    rank order.

    Candidates are probed in rank order until ``n`` pass, so a corrupt, short or silent
    track is replaced by the next one. When fewer pass, the source goes on with those (a
    warning says how many); only ``n`` beyond the source's candidates, or no usable track
    at all, is an error. A candidate its fetch left out (a ``rejected`` reason) is
    excluded without probing. Returns the chosen rows (with ``offset_s``) and the excluded
    ones with their ``reason``.
    """
    name = candidates.source.iat[0]
    if n is not None and n > len(candidates):
        raise ValueError(
            f"source {name!r}: n={n}, but it has only {len(candidates)} candidate tracks; "
            f"lower its 'n' or add tracks"
        )
    cands = candidates.copy()
    cands["rank"] = [track_key(seed, s, t) for s, t in zip(cands.source, cands.track, strict=True)]
    cands = cands.sort_values(["rank", "track"], kind="stable").reset_index(drop=True)
    if "offset_s" not in cands:
        cands["offset_s"] = [
            crop_offset(crop, d if np.isfinite(d) else 0.0, clip_s, seed, s, t)
            for s, t, d in zip(cands.source, cands.track, cands.duration_s, strict=True)
        ]
    chosen, excluded = [], []
    if "rejected" in cands:
        gone = cands.rejected.notna()
        for row in cands[gone].itertuples(index=False):
            log.warning("excluded %s/%s (%s): %s", row.source, row.track, row.path, row.rejected)
            excluded.append({**row._asdict(), "reason": row.rejected})
        cands = cands[~gone].drop(columns="rejected").reset_index(drop=True)
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
    if not chosen:
        raise ValueError(
            f"source {name!r}: none of its {len(candidates)} candidate tracks is usable "
            f"({len(excluded)} excluded, with reasons in the log)"
        )
    if n is not None and len(chosen) < n:
        log.warning(
            "source %r: only %d usable tracks of %d asked for (%d excluded); going on with %d",
            name,
            len(chosen),
            n,
            len(excluded),
            len(chosen),
        )
    picked = pd.DataFrame(chosen, columns=cands.columns).drop(columns="rank")
    dropped = pd.DataFrame(
        [{k: v for k, v in row.items() if k != "rejected"} for row in excluded],
        columns=[*cands.columns, "reason"],
    ).drop(columns="rank")
    return picked, dropped


def balance_classes(
    tracks: pd.DataFrame, asked: Mapping[str, int], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trim classes so that they keep the proportions ``asked`` (label -> tracks asked for).

    Each class keeps ``floor(f * asked)`` tracks, where ``f`` is the smallest fraction of
    its ask that any class got; the tracks cut are a class's last in the seeded rank order
    (``track_key(seed, source, track)``, the order the tracks were chosen in), across its
    sources. A run where no class came up short is returned unchanged. Returns the kept
    tracks and the cut ones with their ``reason``.
    """
    got = tracks.groupby("label").size().to_dict()
    share = {label: Fraction(int(got.get(label, 0)), want) for label, want in asked.items()}
    least = min(share.values())
    if all(s == least for s in share.values()):
        return tracks, tracks.iloc[:0].assign(reason=pd.Series(dtype=object))
    short = min(share, key=lambda label: (share[label], label))
    keep = {label: math.floor(least * want) for label, want in asked.items()}
    rank = [track_key(seed, s, t) for s, t in zip(tracks.source, tracks.track, strict=True)]
    order = tracks.assign(_rank=rank).sort_values(["label", "_rank", "track"], kind="stable")
    position = order.groupby("label").cumcount()
    cut = position >= order.label.map(keep)
    for label in asked:
        if keep[label] < got.get(label, 0):
            log.warning(
                "balance: %s has %d usable tracks of %d asked for; %s keeps %d of its %d "
                "(set balance: false to keep every usable track)",
                short,
                got.get(short, 0),
                asked[short],
                label,
                keep[label],
                got[label],
            )
    reason = (
        f"balance: {short} has only {got.get(short, 0)} usable tracks of {asked[short]} "
        f"asked for; the other classes are trimmed in proportion"
    )
    trimmed = order[cut].drop(columns="_rank").assign(reason=reason)
    kept = tracks.loc[order.index[~cut.to_numpy()]].sort_index()
    return kept, trimmed


def assign_splits(tracks: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Split by recording, stratified by label and source, seeded: no recording in two
    splits.

    Within each (label, source), recordings are ordered by a seeded per-recording key and
    cut at the cumulative clip counts closest to the requested fractions (test first,
    then val). Stratifying by source too gives every source its share of each split, so
    a cross-source setting always has test tracks of every source (with one source per
    label, as in the paper, this is the same split as by label alone).

    A source whose tracks already carry a ``split`` (a dataset's own train/val/test lists,
    copied in by its candidate table: SONICS with ``split: dataset``) keeps it.
    """
    total = sum(fractions.values())
    split = pd.Series(index=tracks.index, dtype=object)
    keys = ["label", "source"] if "source" in tracks else ["label"]
    given = tracks.get("split")
    for key, group in tracks.groupby(keys, sort=True):
        if given is not None and given.loc[group.index].notna().any():
            split.loc[group.index] = _given_split(given.loc[group.index], key)
            continue
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


def _given_split(given: pd.Series, group) -> pd.Series:
    """A source's own split, checked: every track has one of :data:`SPLITS`."""
    bad = sorted(set(given.dropna()) - set(SPLITS))
    if given.isna().any() or bad:
        what = f"unknown splits {bad}" if bad else f"{int(given.isna().sum())} tracks without one"
        raise ValueError(f"{group}: the tracks' own split has {what}; expected {SPLITS}")
    return given


def derive_tracks(
    manifest: pd.DataFrame, derived: Mapping[str, Mapping], seed: int
) -> pd.DataFrame:
    """The rows of each derived source (name -> ``{parent, n}``): copies of its parent's
    rows in ``manifest`` with the same track id, recording, window and split, labelled ai.

    ``n`` (None: every parent track) is a seeded subset, ranked by ``(seed, source, track)``
    and spread over the splits in the parent's proportions (largest remainders), so every
    split the parent has keeps tracks of the child. ``n`` beyond what the parent admitted
    takes them all, with a warning.
    """
    frames = []
    for name, spec in sorted(derived.items()):
        parent = manifest[manifest.source == spec["parent"]]
        if parent.empty:
            raise ValueError(
                f"derived source {name!r}: its parent {spec['parent']!r} has no track in "
                "the manifest"
            )
        n = spec.get("n")
        if n is not None and n > len(parent):
            log.warning(
                "derived source %r: n=%d, but its parent %r admitted %d tracks; taking all",
                name,
                n,
                spec["parent"],
                len(parent),
            )
        if n is not None and n < len(parent):
            sizes = parent.split.value_counts().sort_index()
            share = sizes * n / len(parent)
            take = np.floor(share).astype(int)
            extra = (share - take).sort_values(ascending=False, kind="stable")
            take[extra.index[: n - int(take.sum())]] += 1
            rank = [track_key(seed, name, t) for t in parent.track]
            ranked = parent.assign(_rank=rank).sort_values(["_rank", "track"], kind="stable")
            parent = pd.concat(
                [ranked[ranked.split == s].head(int(k)) for s, k in take.items()]
            ).drop(columns="_rank")
        frames.append(parent.assign(source=name, label="ai", y=np.int8(LABELS["ai"])))
        log.info("derived source %s: %d tracks of %s", name, len(frames[-1]), spec["parent"])
    return pd.concat(frames, ignore_index=True) if frames else manifest.iloc[:0]


def build_manifest(
    sources: Iterable[tuple[dict, pd.DataFrame]],
    *,
    derived: Mapping[str, Mapping] | None = None,
    seed: int,
    clip_s: float,
    split: dict[str, float],
    silence_dbfs: float = -60.0,
    threads: int = 1,
    prober: Callable[..., Probe] = probe,
    balance: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest and exclusions from (source config, candidate table) pairs.

    ``balance`` trims the other classes when one comes up short (:func:`balance_classes`);
    what a source asks for is its ``n``, or every candidate when ``n`` is None. The log
    gives each source's and each class's final count. ``derived`` (name -> ``{parent, n}``)
    adds the derived sources' copies once the split is made (:func:`derive_tracks`).
    """
    picked, dropped = [], []
    asked: dict[str, int] = {}
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
        want = len(cands) if spec.get("n") is None else spec["n"]
        log.info(
            "source %s: %d usable of %d asked for, %d excluded",
            spec["name"],
            len(chosen),
            want,
            len(excluded),
        )
        label = cands.label.iat[0]
        asked[label] = asked.get(label, 0) + want
        picked.append(chosen)
        dropped.append(excluded)
    manifest = pd.concat(picked, ignore_index=True)
    if balance:
        manifest, trimmed = balance_classes(manifest, asked, seed)
        if len(trimmed):
            dropped.append(trimmed)
            manifest = manifest.reset_index(drop=True)
    log.info(
        "classes: %s",
        ", ".join(
            f"{label} {count} of {asked[label]} asked for"
            for label, count in manifest.groupby("label").size().items()
        ),
    )
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
    if derived:
        manifest = pd.concat([manifest, derive_tracks(manifest, derived, seed)], ignore_index=True)
    manifest = manifest.sort_values(["source", "track"], kind="stable").reset_index(drop=True)
    excluded = pd.concat(dropped, ignore_index=True)
    return manifest[MANIFEST_COLUMNS], excluded
