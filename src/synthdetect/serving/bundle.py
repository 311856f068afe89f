"""Model bundles: everything needed to score new audio with a trained model.

A bundle is a directory the workflow exports per model (``{results}/bundles/{model}/``)::

    bundle.json     format, versions, preprocessing, model, calibration, metrics, abstain
    model.pt        torch state dict (loaded with ``weights_only=True``), or
    model.skops     a scikit-learn model in skops' safe format
    ood.npz         the out-of-distribution distance (evaluation.ood), when abstaining

``abstain`` in ``bundle.json`` holds the distance's cut-off (fitted on the validation
split) and the band around the threshold within which ``predict`` answers ``uncertain``.
The reports that score a finished bundle (the false-positive benchmark, robustness,
abstain rates) cannot be inside it; the workflow writes them as the bundle's model card
``<bundle>.card.json`` next to the directory (or ``card.json`` inside, if moved there),
which :attr:`Bundle.card` reads when present.

``bundle.json`` carries the exact preprocessing the model was trained with -- the clip
stage's ``seconds`` and ``sample_rate`` and the config's whole ``spectrogram`` and
``features`` sections -- so :mod:`synthdetect.serving.scoring` can rerun the workflow's own
functions on new audio. :func:`read_bundle` refuses a bundle of another format version,
one whose preprocessing is missing or malformed, one whose preprocessing does not fit
its model (image size, feature count) and one whose weights file changed, each with a
message naming the key or file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthdetect
from synthdetect.features.fakeprint import check_settings as check_fakeprint
from synthdetect.features.fakeprint import fakeprint_names
from synthdetect.features.histograms import feature_names
from synthdetect.models import registry

log = logging.getLogger(__name__)

__all__ = [
    "CARD",
    "FORMAT",
    "FORMAT_VERSION",
    "Bundle",
    "BundleError",
    "bundle_job",
    "read_bundle",
    "write_bundle",
    "write_card",
]

FORMAT = "synthdetect-bundle"
#: Bump when bundle.json changes incompatibly; readers refuse other versions.
FORMAT_VERSION = 1
MANIFEST = "bundle.json"
OOD_FILE = "ood.npz"
CARD = "card.json"


class BundleError(ValueError):
    """A bundle that cannot be used, with the reason and the offending key or file."""


# --------------------------------------------------------------------------- validation

_Check = Callable[[Any], bool]


def _number(lo: float | None = None, *, strict: bool = False) -> _Check:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        return lo is None or (v > lo if strict else v >= lo)

    return check


def _integer(lo: int) -> _Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _optional(check: _Check) -> _Check:
    return lambda v: v is None or check(v)


def _channels(v: Any) -> bool:
    return (
        isinstance(v, list) and 0 < len(v) == len(set(v)) and all(c in ("R", "G", "B") for c in v)
    )


#: Every preprocessing key scoring needs, with its check and what the check wants.
#: Mirrors workflow/schemas/config.schema.yaml (the sections are copied from the config).
PREPROCESSING: dict[str, tuple[_Check, str]] = {
    "clip.seconds": (_number(0, strict=True), "a number > 0"),
    "clip.sample_rate": (_integer(8000), "an integer >= 8000"),
    "spectrogram.n_fft": (_integer(16), "an integer >= 16"),
    "spectrogram.hop_length": (_integer(1), "an integer >= 1"),
    "spectrogram.ref": (
        lambda v: v == "max" or _number(0, strict=True)(v),
        "a number > 0 or 'max'",
    ),
    "spectrogram.top_db": (_optional(_number(0, strict=True)), "a number > 0 or null"),
    "spectrogram.scale": (lambda v: v in ("linear", "mel"), "'linear' or 'mel'"),
    "spectrogram.n_mels": (_integer(8), "an integer >= 8"),
    "spectrogram.cmap": (lambda v: isinstance(v, str) and bool(v), "a colormap name"),
    "spectrogram.vmin": (_optional(_number()), "a number or null"),
    "spectrogram.vmax": (_optional(_number()), "a number or null"),
    "spectrogram.size": (
        lambda v: isinstance(v, list) and len(v) == 2 and all(_integer(16)(x) for x in v),
        "[height, width], integers >= 16",
    ),
    "features.color.channels": (_channels, "a list of distinct channels out of R, G, B"),
    "features.color.bins": (_integer(2), "an integer >= 2"),
    "features.deriv.sigma": (_number(0, strict=True), "a number > 0"),
    "features.deriv.bins": (_integer(2), "an integer >= 2"),
    "features.deriv.limit": (_number(0, strict=True), "a number > 0"),
}


def _lookup(tree: Mapping[str, Any], dotted: str, where: str) -> Any:
    node: Any = tree
    walked = []
    for part in dotted.split("."):
        walked.append(part)
        if not isinstance(node, Mapping) or part not in node:
            raise BundleError(f"{where}: key {'.'.join(walked)!r} is missing")
        node = node[part]
    return node


def validate_preprocessing(pre: Any, where: str = "bundle.json") -> dict[str, Any]:
    """Check a ``preprocessing`` section: every key present, of the right type and range."""
    if not isinstance(pre, Mapping):
        raise BundleError(f"{where}: key 'preprocessing' is missing or not a mapping")
    for key, (check, wanted) in PREPROCESSING.items():
        value = _lookup(pre, key, where + ": preprocessing")
        if not check(value):
            raise BundleError(f"{where}: preprocessing.{key} must be {wanted}, not {value!r}")
    return dict(pre)


def recorded_preprocessing(preprocessing: Mapping[str, Any]) -> dict[str, Any]:
    """The preprocessing as a bundle records it: the clip's length and rate, the
    spectrogram and feature sections, a plain copy (tuples become lists, as they read
    back), checked."""
    clip = preprocessing["clip"]
    return validate_preprocessing(
        json.loads(
            json.dumps(
                {
                    "clip": {k: clip[k] for k in ("seconds", "sample_rate") if k in clip},
                    "spectrogram": preprocessing["spectrogram"],
                    "features": preprocessing["features"],
                }
            )
        ),
        "preprocessing",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_spec(name: str, hp: Mapping[str, Any], preprocessing: Mapping[str, Any]) -> dict:
    """The ``model`` section of a bundle (without the weights entry), from the registry."""
    try:
        model = registry.get(name)
    except ValueError as err:
        raise BundleError(str(err)) from None
    spec: dict[str, Any] = {
        "name": name,
        "family": model.family.name,
        "architecture": model.family.architecture,
        "hyperparameters": dict(hp),
    }
    if model.images:
        spec |= {"input": "image", "image_size": list(preprocessing["spectrogram"]["size"])}
    elif model.input == "fakeprint":
        try:
            settings = check_fakeprint(preprocessing["features"].get("fakeprint"))
        except ValueError as err:
            raise BundleError(f"preprocessing.features.fakeprint: {err}") from None
        sr = preprocessing["clip"]["sample_rate"]
        names = fakeprint_names(sr, settings["n_fft"], settings["f_min_hz"], settings["f_max_hz"])
        spec |= {"input": "clip", "feature_kind": "fakeprint", "n_features": len(names)}
    else:
        feats = preprocessing["features"]
        names = feature_names(model.input, color=feats["color"], deriv=feats["deriv"])
        spec |= {"input": "features", "feature_kind": model.input, "n_features": len(names)}
    return spec


# --------------------------------------------------------------------------- the bundle


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: its directory and the parsed ``bundle.json``."""

    path: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.meta["model"]["name"]

    @property
    def family(self) -> str:
        return self.meta["model"]["family"]

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.meta["preprocessing"]

    @property
    def calibration(self) -> dict[str, Any]:
        return self.meta["calibration"]

    @property
    def temperature(self) -> float:
        return float(self.calibration["temperature"])

    @property
    def threshold(self) -> float:
        return float(self.calibration["threshold"])

    @property
    def logit_clip_eps(self) -> float:
        return float(self.calibration["logit_clip_eps"])

    @property
    def abstain(self) -> dict[str, Any] | None:
        """The ``abstain`` section (cut-off, quantile, band), or None: never abstains."""
        return self.meta.get("abstain")

    def load_ood(self):
        """The bundle's :class:`~synthdetect.evaluation.ood.OODModel`, or None."""
        if not self.abstain:
            return None
        from synthdetect.evaluation.ood import load_ood

        path = self.path / self.abstain["file"]
        try:
            return load_ood(path)
        except (OSError, ValueError) as err:
            raise BundleError(f"{path}: not a readable OOD model: {err}") from err

    @property
    def card_path(self) -> Path | None:
        """The model card: ``card.json`` inside the bundle, else ``<bundle>.card.json``."""
        for path in (self.path / CARD, self.path.with_name(self.path.name + "." + CARD)):
            if path.is_file():
                return path
        return None

    @property
    def card(self) -> dict[str, Any] | None:
        """The reports about this bundle (benchmark, robustness, abstain rates), or None."""
        path = self.card_path
        if path is None:
            return None
        try:
            card = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BundleError(f"{path}: not readable JSON ({err})") from err
        if card.get("weights_sha256") != self.meta["model"]["weights"].get("sha256"):
            raise BundleError(
                f"{path}: this model card describes other weights than {self.path}'s; "
                "rerun the workflow's model_cards rule or delete the card"
            )
        return card

    @property
    def weights_path(self) -> Path:
        return self.path / self.meta["model"]["weights"]["file"]

    def load_model(self, device: str = "cpu"):
        """The trained model: a fitted scikit-learn estimator or a torch module in eval mode.

        A forest loads without importing torch.
        """
        spec = self.meta["model"]
        if not registry.FAMILIES[self.family].torch:
            from synthdetect.models.forest import load_sklearn

            try:
                return load_sklearn(self.weights_path)
            except (OSError, ValueError, TypeError) as err:
                raise BundleError(
                    f"{self.weights_path}: not a loadable skops model: {err}"
                ) from err
        from synthdetect.models import training
        from synthdetect.models.run import build_network

        try:
            size = spec.get("image_size") or [224, 224]
            net = build_network(
                self.name,
                spec["hyperparameters"],
                n_features=spec.get("n_features"),
                image_size=int(size[0]),
                weights="none",
            )
            model = training.load_state_dict(net, self.weights_path)
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            raise BundleError(
                f"{self.weights_path}: the weights do not load into a {spec['architecture']} "
                f"with the bundle's hyper-parameters: {err}"
            ) from err
        return model.to(training.pick_device(device))


def read_bundle(path: str | os.PathLike, *, check_weights: bool = True) -> Bundle:
    """Read and validate a bundle directory (or its ``bundle.json``).

    Raises :class:`BundleError` naming the problem: not a bundle, another format or
    format version, a missing or malformed preprocessing/calibration key, preprocessing
    that does not fit the model, a missing weights file or one whose SHA-256 changed.
    """
    path = Path(path)
    if path.name == MANIFEST and path.is_file():
        path = path.parent
    manifest = path / MANIFEST
    if not manifest.is_file():
        what = "does not exist" if not path.exists() else f"has no {MANIFEST}"
        raise BundleError(f"{path} is not a model bundle: it {what}")
    where = str(manifest)
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{where}: not readable JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{where}: key 'format' must be {FORMAT!r}; this is not a bundle")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{where}: format_version {version!r} is not supported: synthdetect "
            f"{synthdetect.__version__} reads format_version {FORMAT_VERSION} (the bundle was "
            f"written by synthdetect {meta.get('synthdetect_version', '?')}); re-export it "
            "with this version's workflow or use a matching synthdetect"
        )
    pre = validate_preprocessing(meta.get("preprocessing"), where)

    model = meta.get("model")
    if not isinstance(model, Mapping):
        raise BundleError(f"{where}: key 'model' is missing")
    for key in ("name", "family", "architecture", "input", "hyperparameters", "weights"):
        _lookup(model, key, f"{where}: model")
    for key in ("hyperparameters", "weights"):
        if not isinstance(model[key], Mapping):
            raise BundleError(f"{where}: model.{key} must be a mapping, not {model[key]!r}")
    if not isinstance(model["name"], str):
        raise BundleError(f"{where}: model.name must be a string, not {model['name']!r}")
    try:
        expected = model_spec(model["name"], model["hyperparameters"], pre)
    except BundleError as err:
        raise BundleError(f"{where}: model.name: {err}") from None
    for key in ("family", "architecture", "input", "feature_kind", "n_features", "image_size"):
        if key in expected and model.get(key) != expected[key]:
            raise BundleError(
                f"{where}: model.{key} is {model.get(key)!r} but the model and its "
                f"preprocessing imply {expected[key]!r} (preprocessing mismatch)"
            )

    cal = meta.get("calibration")
    if not isinstance(cal, Mapping):
        raise BundleError(f"{where}: key 'calibration' is missing")
    for key, check, wanted in (
        ("temperature", _number(0, strict=True), "a number > 0"),
        ("threshold", lambda v: _number(0)(v) and v <= 1, "a probability in [0, 1]"),
        ("logit_clip_eps", lambda v: _number(0, strict=True)(v) and v < 0.5, "in (0, 0.5)"),
    ):
        value = _lookup(cal, key, f"{where}: calibration")
        if not check(value):
            raise BundleError(f"{where}: calibration.{key} must be {wanted}, not {value!r}")

    _check_abstain(meta.get("abstain"), path, where, check_weights)

    weights = model["weights"]
    file = _lookup(weights, "file", f"{where}: model.weights")
    wpath = path / str(file)
    if Path(str(file)).name != str(file) or not wpath.is_file():
        raise BundleError(f"{where}: model.weights.file {file!r} is not a file in {path}")
    if check_weights:
        digest = _sha256(wpath)
        if digest != weights.get("sha256"):
            raise BundleError(
                f"{wpath}: SHA-256 {digest[:12]}... does not match model.weights.sha256 "
                f"{str(weights.get('sha256'))[:12]}... in {MANIFEST}; the weights were changed"
            )
    if meta.get("synthdetect_version") != synthdetect.__version__:
        log.warning(
            "%s was written by synthdetect %s; this is %s",
            path,
            meta.get("synthdetect_version"),
            synthdetect.__version__,
        )
    return Bundle(path=path, meta=meta)


def _check_abstain(ab: Any, path: Path, where: str, check_file: bool) -> None:
    """An ``abstain`` section, when present: numbers in range and its file intact."""
    if ab is None:
        return
    if not isinstance(ab, Mapping):
        raise BundleError(f"{where}: abstain must be a mapping, not {ab!r}")
    for key, check, wanted in (
        ("cutoff", _number(0), "a number >= 0"),
        ("quantile", lambda v: _number(0, strict=True)(v) and v < 1, "in (0, 1)"),
        ("band", lambda v: _number(0)(v) and v < 0.5, "in [0, 0.5)"),
        ("file", lambda v: isinstance(v, str) and Path(v).name == v, "a file name"),
    ):
        value = _lookup(ab, key, f"{where}: abstain")
        if not check(value):
            raise BundleError(f"{where}: abstain.{key} must be {wanted}, not {value!r}")
    file = path / ab["file"]
    if not file.is_file():
        raise BundleError(f"{where}: abstain.file {ab['file']!r} is not a file in {path}")
    if check_file and _sha256(file) != ab.get("sha256"):
        raise BundleError(
            f"{file}: SHA-256 does not match abstain.sha256 in {MANIFEST}; the file was changed"
        )


def write_bundle(
    out_dir: str | os.PathLike,
    *,
    model: str,
    weights: str | os.PathLike,
    hp: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    calibration: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    ci: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    ood: str | os.PathLike | None = None,
    abstain: Mapping[str, Any] | None = None,
    verify: bool = True,
) -> Bundle:
    """Write a bundle directory (atomically: built beside it, then renamed into place).

    ``preprocessing`` holds ``clip`` (``seconds``, ``sample_rate``), ``spectrogram`` and
    ``features`` as in the config; ``calibration`` is the calibrate step's JSON
    (``temperature``, ``threshold``, ``logit_clip_eps``, ECE, per-split metrics);
    ``metrics`` the test metrics (Table 1's column), ``ci`` their bootstrap intervals,
    ``training`` free-form provenance (seed, split sizes). ``ood`` is the saved OOD
    model (:func:`synthdetect.evaluation.ood.save_ood`) and ``abstain`` its summary
    (``cutoff``, ``quantile``, ...) with the ``band``; without them ``predict`` never
    abstains. With ``verify`` the bundle is read back and its model loaded, so a bundle
    that cannot score fails here.
    """
    out = Path(out_dir)
    weights = Path(weights)
    pre = recorded_preprocessing(preprocessing)
    spec = model_spec(model, hp, pre)
    suffix = "." + registry.get(model).family.weights
    if weights.suffix != suffix:
        raise BundleError(f"{weights}: a {model} model's weights should be a {suffix} file")
    cal = {k: v for k, v in calibration.items() if k not in ("model", "metrics")}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "synthdetect_version": synthdetect.__version__,
        "model": spec | {"weights": {"file": "model" + suffix, "sha256": _sha256(weights)}},
        "preprocessing": pre,
        "calibration": cal,
        "metrics": {
            "test": dict(metrics or {}),
            "splits": dict(calibration.get("metrics") or {}),
            "ci": dict(ci or {}),
        },
        "training": dict(training or {}),
    }
    if (ood is None) != (abstain is None):
        raise BundleError("write_bundle: give both ood and abstain, or neither")
    if ood is not None:
        meta["abstain"] = dict(abstain) | {"file": OOD_FILE, "sha256": _sha256(Path(ood))}
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(weights, tmp / ("model" + suffix))
        if ood is not None:
            shutil.copyfile(ood, tmp / OOD_FILE)
        (tmp / MANIFEST).write_text(json.dumps(_jsonable(meta), indent=2) + "\n")
        if verify:
            check = read_bundle(tmp)
            check.load_model("cpu")
            ood_model = check.load_ood()
            if ood_model is not None and ood_model.dim != _vector_dim(spec, check):
                raise BundleError(
                    f"{ood}: the OOD model reads {ood_model.dim}-d vectors, not this model's"
                )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    log.info(
        "wrote bundle %s (%s, threshold %.3f, T %.3f)",
        out,
        model,
        cal["threshold"],
        cal["temperature"],
    )
    return Bundle(path=out, meta=meta)


def write_card(
    path: str | os.PathLike,
    model: str,
    *,
    bundle: str | os.PathLike,
    reports: Mapping[str, str | os.PathLike],
) -> dict[str, Any]:
    """The model card of a finished bundle: this model's rows of the reports that score
    it (``reports`` maps a section, e.g. ``false_positives``, to its report CSV).

    The card names the bundle's weights digest, so a card never passes for another
    bundle's; ``synthdetect info`` shows it under the bundle's own sections."""
    import pandas as pd

    meta = read_bundle(bundle, check_weights=False).meta
    card: dict[str, Any] = {
        "model": model,
        "weights_sha256": meta["model"]["weights"]["sha256"],
    }
    for section, csv in reports.items():
        table = pd.read_csv(csv)
        rows = table[table.model == model].drop(columns="model")
        if len(rows):  # robustness may score some models only
            card[section] = _jsonable(rows.to_dict(orient="records"))
    Path(path).write_text(json.dumps(_jsonable(card), indent=2) + "\n")
    return card


def _vector_dim(spec: Mapping[str, Any], bundle: Bundle) -> int:
    """The length of the vectors the model is judged on: its feature count, or the
    width of its penultimate embedding (the head's input)."""
    if spec.get("n_features") is not None:
        return int(spec["n_features"])
    from synthdetect.models.embeddings import head

    return int(head(bundle.load_model("cpu")).in_features)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def bundle_job(
    model: str,
    inputs: Mapping[str, str],
    output: str | os.PathLike,
    params: Mapping[str, Any],
    *,
    log: str | os.PathLike,
) -> Bundle:
    """The `bundle` rule (a `run:` block in Snakemake's process, as `evaluate`): the
    weights, calibration, metrics and OOD model of ``model`` written as a bundle, with
    the corpus it learned from (``params["sources"]``: each source's kind and label,
    counted per split in the manifest). Logs to the job's ``log`` only."""
    import pandas as pd

    from synthdetect.logs import thread_log

    def load(path):
        return json.loads(Path(path).read_text())

    with thread_log(log):
        calibration = load(inputs["calibration"])
        manifest = pd.read_parquet(inputs["manifest"], columns=["source", "split"])
        corpus = {
            name: {
                **spec,
                "tracks": {
                    split: int(count)
                    for split, count in manifest[manifest.source == name]
                    .split.value_counts()
                    .items()
                },
            }
            for name, spec in params["sources"].items()
        }
        return write_bundle(
            output,
            model=model,
            weights=inputs["weights"],
            hp=params["hp"],
            preprocessing=params["preprocessing"],
            calibration=calibration,
            metrics=load(inputs["metrics"]),
            ci=load(inputs["ci"])["metrics"],
            ood=inputs["ood"],
            abstain=load(inputs["ood_summary"]) | {"band": params["band"]},
            training={"seed": params["seed"], "n": calibration.get("n"), "corpus": corpus},
        )
