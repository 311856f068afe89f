"""Score any audio file with a model bundle: slide the training preprocessing over it.

Each window goes through exactly the workflow's per-track functions with the bundle's
parameters: the clip stage (:func:`synthdetect.audio.io.make_clip`: the window, mono,
resampled to the configured rate, written as a 16-bit WAV and read back with
:func:`~synthdetect.audio.io.read_clip`), the spectrogram stage
(:func:`~synthdetect.features.spectrogram.spectrogram_image`) and, for the histogram models, the
histogram stage and the feature normalisation
(:func:`~synthdetect.features.histograms.track_histograms`,
:func:`~synthdetect.features.histogram_io.feature_table`). A window's model logit is divided by
the bundle's temperature; a file's score aggregates its windows' calibrated logits
(mean by default, or max) and is labelled AI at the bundle's threshold.

Windows start every ``hop`` seconds (default: the window length, i.e. no overlap); when
the regular windows leave more than ``tail_s`` of the end uncovered, one more window is
aligned to the end of the file. A file shorter than one window is zero-padded into a
single window (``padded``), as the clip stage pads a short track.

With an ``abstain`` section in the bundle, each window's model vector (its feature row,
or an image model's penultimate embedding) also gets its distance from the training
split (:mod:`synthdetect.evaluation.ood`); the file's distance is the mean over its
windows. The file is labelled ``uncertain`` when that distance exceeds the bundle's
cut-off (fitted on the validation split), or when P(AI) lies within the band around the
threshold in use; ``reason`` says which.

Every file is first decoded whole by :func:`synthdetect.audio.io.inspect`: one that cannot
be scored (empty, not audio, NaN samples, silent, ...) gets ``status="error"`` and the
reason; one that can, but unlike anything training saw (padded, truncated and scored on
what decodes, sampled below the model's rate, more than two channels, a decoder that
complained), is ``ok`` with a ``warning``. The decoder's own stderr lines become that
warning instead of reaching the terminal.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import soundfile as sf

from synthdetect.audio.io import (
    AudioError,
    decoder_messages,
    describe_decoder,
    inspect,
    make_clip,
    read_clip,
)
from synthdetect.evaluation.calibration import clip_logits, logits_from_proba, sigmoid
from synthdetect.features.fakeprint import check_settings as check_fakeprint
from synthdetect.features.fakeprint import fakeprint
from synthdetect.features.histogram_io import feature_table
from synthdetect.features.histograms import feature_names, track_histograms
from synthdetect.features.spectrogram import spectrogram_image
from synthdetect.models.registry import FAMILIES
from synthdetect.serving.bundle import Bundle, read_bundle, recorded_preprocessing

log = logging.getLogger(__name__)

__all__ = [
    "AGGREGATES",
    "FileScore",
    "Plan",
    "Prepared",
    "Preprocessor",
    "Scorer",
    "Window",
    "WindowScore",
    "check_preprocessing",
    "describe_error",
    "plan_windows",
    "save_inputs",
]

AGGREGATES = ("mean", "max")


@dataclass(frozen=True)
class Window:
    """One analysis window of a file, in seconds of the original file."""

    start_s: float
    end_s: float
    padded: bool = False


@dataclass(frozen=True)
class WindowScore:
    start_s: float
    end_s: float
    logit: float  # calibrated: the model's logit / temperature
    p_ai: float
    padded: bool
    distance: float | None = None  # from the training split (None: no OOD model)


@dataclass
class FileScore:
    """One file's result; ``status`` is ``"ok"`` or ``"error"`` (then ``message`` says
    why); ``warnings`` say why an ``ok`` score deserves less trust."""

    path: str
    status: str
    p_ai: float | None = None
    label: str | None = None
    n_windows: int = 0
    duration_s: float | None = None
    padded: bool = False
    distance: float | None = None
    reason: str = ""
    message: str = ""
    windows: list[WindowScore] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str:
        return "; ".join(self.warnings)

    def as_dict(self, windows: bool = False) -> dict[str, Any]:
        out = {
            "file": self.path,
            "status": self.status,
            "p_ai": self.p_ai,
            "label": self.label,
            "windows": self.n_windows,
            "duration_s": self.duration_s,
            "padded": self.padded,
            "distance": self.distance,
            "reason": self.reason,
            "message": self.message,
            "warning": self.warning,
        }
        if windows:
            out["window_scores"] = [w.__dict__.copy() for w in self.windows]
        return out


@dataclass
class Prepared:
    """A file decoded and through the preprocessing, before any model: what every bundle
    with that preprocessing scores (:meth:`Scorer.score_prepared`). ``images`` (uint8
    NHWC) and ``fakeprints`` hold one row per window, where they were made; ``status``
    is ``"error"`` (``message`` says why) for a file that cannot be scored."""

    path: str
    status: str
    message: str = ""
    duration_s: float | None = None
    windows: list[Window] = field(default_factory=list)
    images: np.ndarray | None = None
    fakeprints: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


def plan_windows(
    duration_s: float, seconds: float, hop_s: float | None = None, *, tail_s: float = 1.0
) -> list[Window]:
    """Window starts every ``hop_s`` (default ``seconds``) over ``duration_s``.

    A file shorter than ``seconds`` gets one zero-padded window; more than ``tail_s``
    left uncovered at the end gets one extra window aligned to the end.
    """
    if seconds <= 0:
        raise ValueError("window length must be > 0")
    hop = seconds if hop_s is None else float(hop_s)
    if hop <= 0:
        raise ValueError("hop must be > 0")
    if duration_s <= 0:
        return []
    if duration_s < seconds:
        return [Window(0.0, seconds, padded=True)]
    n = int(np.floor((duration_s - seconds) / hop + 1e-9)) + 1
    windows = [Window(round(i * hop, 6), round(i * hop + seconds, 6)) for i in range(n)]
    if duration_s - windows[-1].end_s > tail_s:
        start = round(duration_s - seconds, 6)
        windows.append(Window(start, start + seconds))
    return windows


def describe_error(err: Exception) -> str:
    """One line saying why a file could not be scored."""
    if isinstance(err, sf.LibsndfileError):
        # libsndfile's own words can mislead (a corrupt MP3 reads "does not exist")
        text = f"cannot decode as audio (libsndfile: {err.error_string})"
    elif isinstance(err, FileNotFoundError | IsADirectoryError | PermissionError):
        text = f"cannot read: {err.strerror or err}"
    else:
        text = f"{type(err).__name__}: {err}"
    return " ".join(text.split())


#: The file, in a folder of stored inputs, that says which preprocessing made them.
PREPROCESSING_FILE = "preprocessing.json"


def save_inputs(
    folder: str | os.PathLike,
    preprocessing: Mapping[str, Any],
    images: Sequence[np.ndarray],
    fakeprints: Sequence[np.ndarray] | None = None,
) -> None:
    """Store windows' model inputs in ``folder``: ``images.npy`` (the blocks of
    ``images`` stacked, uint8 NHWC), ``fakeprints.npy`` where ``fakeprints`` is given,
    and the preprocessing that made them (:func:`check_preprocessing` reads it)."""
    folder = Path(folder)
    height, width = (int(v) for v in preprocessing["spectrogram"]["size"])
    empty = np.zeros((0, height, width, 3), np.uint8)
    np.save(folder / "images.npy", np.concatenate(images) if len(images) else empty)
    if fakeprints is not None:
        stacked = np.concatenate(fakeprints) if len(fakeprints) else np.zeros((0, 0))
        np.save(folder / "fakeprints.npy", stacked)
    recorded = recorded_preprocessing(preprocessing)
    text = json.dumps(recorded, sort_keys=True, indent=2)
    (folder / PREPROCESSING_FILE).write_text(text)


def check_preprocessing(
    folder: str | os.PathLike, preprocessing: Mapping[str, Any], rule: str
) -> None:
    """Refuse stored inputs made with other preprocessing than ``preprocessing`` (a
    bundle's), naming the keys that differ and the ``rule`` that remakes them."""
    folder = Path(folder)
    made = json.loads((folder / PREPROCESSING_FILE).read_text())
    wanted = recorded_preprocessing(preprocessing)
    if made != wanted:
        differ = sorted(_differences(made, wanted))
        raise ValueError(
            f"{folder}: inputs made with other preprocessing than the bundle's "
            f"({', '.join(differ)} differ); rerun the {rule} rule"
        )


def _differences(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    """The dotted keys where two nested mappings differ."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            out += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out


def _is_torch(model: Any) -> bool:
    return not hasattr(model, "predict_proba")


class Preprocessor:
    """The workflow's per-track stages with a bundle's preprocessing, in memory: what a
    window of a file becomes before any model sees it."""

    def __init__(self, preprocessing: Mapping[str, Any], *, batch_windows: int = 32) -> None:
        pre = preprocessing
        self.preprocessing = pre
        self.seconds = float(pre["clip"]["seconds"])
        self.sample_rate = int(pre["clip"]["sample_rate"])
        self.silence_dbfs = float(pre["clip"].get("silence_dbfs", -60.0))
        self.spectrogram = dict(pre["spectrogram"])
        self.features = pre["features"]
        self.batch_windows = max(1, int(batch_windows))
        self._tmp = tempfile.TemporaryDirectory(prefix="synthdetect-")

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the workflow's stages, in memory ------------------------------------------

    def clip(
        self, path: str | os.PathLike, start_s: float, *, frames: int | None = None
    ) -> np.ndarray:
        """The clip stage for one window: the same function, a scratch WAV, read back.

        ``frames``: how much of a truncated file decodes (the rest is padding)."""
        scratch = Path(self._tmp.name) / "clip.wav"
        make_clip(
            path,
            scratch,
            offset_s=start_s,
            seconds=self.seconds,
            samplerate=self.sample_rate,
            frames=frames,
        )
        y, sr = read_clip(scratch)
        if sr != self.sample_rate:  # pragma: no cover - make_clip writes this rate
            raise RuntimeError(f"clip came back at {sr} Hz, expected {self.sample_rate}")
        return y

    def image(self, y: np.ndarray) -> np.ndarray:
        """The spectrogram stage: the RGB image the image models see (PNG is lossless)."""
        return spectrogram_image(y, sample_rate=self.sample_rate, **self.spectrogram)

    def fakeprints(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """The fakeprint stage: one row per window clip."""
        settings = check_fakeprint(self.features.get("fakeprint"))
        return np.stack([fakeprint(y, self.sample_rate, **settings) for y in clips])

    def histogram_rows(self, images: Sequence[np.ndarray], kind: str) -> np.ndarray:
        """The histogram stage and the feature normalisation: one ``kind`` row per image."""
        color, deriv = self.features["color"], self.features["deriv"]
        hists = [track_histograms(im, color=color, deriv=deriv) for im in images]
        raw = pd.DataFrame(
            {
                "source": ["score"] * len(hists),
                "track": [str(i) for i in range(len(hists))],
                kind: [h[kind] for h in hists],
            }
        )
        names = feature_names(kind, color=color, deriv=deriv)
        groups = len(color["channels"]) if kind == "color" else 1
        table = feature_table(raw, kind, names, groups=groups)
        return table[names].to_numpy(np.float32, copy=True)

    # -- files -----------------------------------------------------------------------

    def plan(self, path: str | os.PathLike, hop_s: float | None = None) -> Plan:
        """Decode the whole file once (:func:`~synthdetect.audio.io.inspect`) and lay its
        windows; ``found.ok`` False: the file cannot be scored (``found.reason``)."""
        found = inspect(path, seconds=None, silence_dbfs=self.silence_dbfs)
        if not found.ok:
            return Plan(found, [], None)
        truncated = any(w.startswith("truncated") for w in found.warnings)
        frames = int(round(found.duration_s * found.samplerate)) if truncated else None
        return Plan(found, plan_windows(found.duration_s, self.seconds, hop_s), frames)

    def batches(
        self, path: str | os.PathLike, plan: Plan
    ) -> Iterator[tuple[list[Window], list[np.ndarray]]]:
        """The plan's windows and their clips, ``batch_windows`` at a time; raises
        :class:`~synthdetect.audio.io.AudioError` where a window decodes worse than the
        whole file did."""
        for a in range(0, len(plan.windows), self.batch_windows):
            batch = plan.windows[a : a + self.batch_windows]
            yield batch, [self.clip(path, w.start_s, frames=plan.frames) for w in batch]

    def prepare(
        self,
        path: str | os.PathLike,
        hop_s: float | None = None,
        *,
        images: bool = True,
        fakeprints: bool = False,
    ) -> Prepared:
        """Decode a file once and run each window through the preprocessing: its
        spectrogram images and/or fakeprints, and the warnings its decoding earned. A
        file that cannot be scored is ``status="error"`` with the reason; no raise."""
        prep = Prepared(path=str(path), status="error")
        plan = self.plan(path, hop_s)
        found = plan.found
        if found.duration_s > 0:
            prep.duration_s = round(found.duration_s, 3)
        if not found.ok:
            prep.message = found.reason
            return prep
        image_rows, print_rows = [], []
        try:
            with decoder_messages() as chatter:
                for _, clips in self.batches(path, plan):
                    if images:
                        image_rows += [self.image(y) for y in clips]
                    if fakeprints:
                        print_rows.append(self.fakeprints(clips))
        except AudioError as err:  # the file changed, or a window decodes worse than the whole
            prep.message = err.reason
            return prep
        except Exception as err:  # any undecodable input is a per-file result, not a crash
            prep.message = describe_error(err)
            log.debug("decoding %s failed", path, exc_info=True)
            return prep
        prep.status = "ok"
        prep.windows = plan.windows
        prep.images = np.stack(image_rows) if images else None
        prep.fakeprints = np.concatenate(print_rows) if fakeprints else None
        padded = any(w.padded for w in plan.windows)
        prep.warnings = self._warnings(found, padded, describe_decoder(chatter))
        return prep

    def _warnings(self, found, padded: bool, decoder: str) -> list[str]:
        """Why a score that could be computed deserves less trust, in words."""
        out, decoders = [], [w for w in found.warnings if w.startswith("decoder: ")]
        for w in found.warnings:
            if w.startswith("truncated"):
                out.append(f"{w}; scored on what decodes")
            elif w not in decoders:
                out.append(w)
        if padded:
            out.append(
                f"shorter than one {self.seconds:g} s window: zero-padded into one window "
                "(training never saw padding; trust the score less)"
            )
        if found.samplerate < self.sample_rate:
            out.append(
                f"sampled at {found.samplerate} Hz, below the model's {self.sample_rate} Hz: "
                f"nothing above {found.samplerate / 2000:g} kHz, where training audio had "
                "content (trust the score less)"
            )
        if found.channels > 2:
            out.append(
                f"{found.channels} channels downmixed to mono (training audio was mono or stereo)"
            )
        for note in [*decoders, decoder]:  # the decoder's own words last
            if note and note not in out:
                out.append(note)
        return out


@dataclass(frozen=True)
class Plan:
    """A decoded file's inspection and the windows it is scored on."""

    found: Any  # synthdetect.audio.io.Inspection
    windows: list[Window]
    frames: int | None  # decodable frames of a truncated file (None: all)


class Scorer(Preprocessor):
    """A loaded bundle that scores files window by window."""

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_windows: int = 32,
    ) -> None:
        bundle = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
        super().__init__(bundle.preprocessing, batch_windows=batch_windows)
        self.bundle = bundle
        if FAMILIES[bundle.family].torch:  # a forest scores without importing torch
            from synthdetect.models import training

            training.set_threads(threads)
        self.device = device
        self.model = bundle.load_model(device)
        if hasattr(self.model, "n_jobs"):
            # a forest scores a file's few windows at a time: starting threads for each
            # call costs more than its 300 small trees (bench/README.md)
            self.model.n_jobs = 1
        spec = bundle.meta["model"]
        self.input = spec["input"]
        self.kind = spec.get("feature_kind")
        self.ood = bundle.load_ood()
        ab = bundle.abstain or {}
        self.cutoff = ab.get("cutoff")
        self.band = float(ab.get("band", 0.0))

    def window_inputs(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Model input rows for a batch of window clips: the fakeprints of the clips, or
        the rows :meth:`model_inputs` makes of their spectrogram images."""
        if self.input == "clip":
            return self.fakeprints(clips)
        return self.model_inputs([self.image(y) for y in clips])

    def model_inputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Model input rows for a batch of window images: uint8 NHWC or feature rows."""
        if self.input == "image":
            return np.stack(images).astype(np.uint8, copy=False)
        return self.histogram_rows(images, self.kind)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Calibrated logits (model logit, clipped as in calibration, / temperature)."""
        return self.predict(X)[0]

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated logits and, with an OOD model, each row's distance from training."""
        eps = self.bundle.logit_clip_eps
        vectors = None
        if _is_torch(self.model):
            from synthdetect.models.training import predict_logits

            if self.ood is not None and self.input == "image":
                from synthdetect.models.embeddings import logits_and_embeddings

                raw, vectors = logits_and_embeddings(self.model, X, device=self.device)
            else:
                raw = predict_logits(self.model, X, device=self.device)
            z = clip_logits(raw, eps)
        else:
            col = list(self.model.classes_).index(1)
            z = logits_from_proba(self.model.predict_proba(X)[:, col], eps)
        distance = None
        if self.ood is not None:
            distance = self.ood.score(X if vectors is None else vectors)
        return z / self.bundle.temperature, distance

    # -- files -----------------------------------------------------------------------

    def score_file(
        self,
        path: str | os.PathLike,
        *,
        hop_s: float | None = None,
        aggregate: str = "mean",
        threshold: float | None = None,
        band: float | None = None,
    ) -> FileScore:
        """Score one file; a file that cannot be read gives ``status="error"``, no raise.

        ``band`` (default: the bundle's) is the abstain band around ``threshold``."""
        clip = self.input == "clip"
        prep = self.prepare(path, hop_s, images=not clip, fakeprints=clip)
        return self.score_prepared(prep, aggregate=aggregate, threshold=threshold, band=band)

    def score_prepared(
        self,
        prep: Prepared,
        *,
        aggregate: str = "mean",
        threshold: float | None = None,
        band: float | None = None,
    ) -> FileScore:
        """Score a file already through the preprocessing (:meth:`prepare`), as
        :meth:`score_file` would: the same windows, batches and decision."""
        from synthdetect.evaluation.ood import decide

        band = self.band if band is None else float(band)
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, not {aggregate!r}")
        threshold = self.bundle.threshold if threshold is None else float(threshold)
        result = FileScore(
            path=prep.path, status="error", duration_s=prep.duration_s, message=prep.message
        )
        if prep.status != "ok":
            return result
        clip = self.input == "clip"
        rows = prep.fakeprints if clip else prep.images
        if rows is None:
            what = "fakeprints" if clip else "spectrogram images"
            raise ValueError(
                f"{prep.path} was prepared without the {what} a {self.bundle.family} bundle "
                "scores; prepare it with them"
            )
        scores: list[WindowScore] = []
        try:
            for a in range(0, len(prep.windows), self.batch_windows):
                batch = prep.windows[a : a + self.batch_windows]
                part = rows[a : a + self.batch_windows]
                z, dist = self.predict(part if clip else self.model_inputs(list(part)))
                dist = [None] * len(batch) if dist is None else [float(d) for d in dist]
                scores += [
                    WindowScore(w.start_s, w.end_s, float(zi), float(sigmoid(zi)), w.padded, di)
                    for w, zi, di in zip(batch, z, dist, strict=True)
                ]
        except Exception as err:  # a per-file result, as a file that does not decode
            result.message = describe_error(err)
            log.debug("scoring %s failed", prep.path, exc_info=True)
            return result
        z = np.array([s.logit for s in scores])
        agg = float(z.mean() if aggregate == "mean" else z.max())
        p = float(sigmoid(agg))
        result.status = "ok"
        result.message = ""
        result.p_ai = p
        if self.ood is not None:
            result.distance = float(np.mean([s.distance for s in scores]))
        result.label, result.reason = decide(p, result.distance, threshold, self.cutoff, band)
        result.n_windows = len(scores)
        result.padded = any(s.padded for s in scores)
        result.windows = scores
        result.warnings = list(prep.warnings)
        return result
