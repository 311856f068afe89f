"""The model registry: every model of the project, in one table.

A model is a name (the column of Table 1, the file stem of its weights), a family (its
architecture and its hyper-parameter section ``models.<family>`` of the config), an input
(a feature table such as ``deriv`` or ``color``, or the spectrogram ``images``) and a
weights format (``skops`` for scikit-learn estimators, ``pt`` for torch state dicts).
Every other place asks this table: nothing else parses a model's name.

Adding a model: its code (a builder in :mod:`synthdetect.models.networks` or a fitting
function in :mod:`synthdetect.models.forest`), one entry here, and its hyper-parameter
section in the config schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "IMAGES",
    "MODELS",
    "PAPER_ORDER",
    "Family",
    "Model",
    "get",
    "names",
    "paper_rank",
    "pattern",
]

#: The input name of the image models: the spectrogram PNGs, through the image caches.
IMAGES = "images"


@dataclass(frozen=True)
class Family:
    """What the models of one family share: the architecture, how they are trained and
    stored, and their hyper-parameter section ``models.<name>``."""

    name: str
    architecture: str
    weights: str  # file suffix: "skops" (scikit-learn via skops) or "pt" (torch state dict)
    trainer: str  # "sklearn" (fit once on train) or "torch" (epochs, best on val)

    @property
    def torch(self) -> bool:
        return self.trainer == "torch"


@dataclass(frozen=True)
class Model:
    """One model: a Table 1 column."""

    name: str
    family: Family
    input: str  # a feature table (``features/<input>.parquet``) or IMAGES
    paper: bool = True  # one of the paper's Table 1 models

    @property
    def images(self) -> bool:
        return self.input == IMAGES

    @property
    def weights_file(self) -> str:
        """The weights' file name, ``<name>.<suffix>``, below a results ``models/`` folder."""
        return f"{self.name}.{self.family.weights}"


FAMILIES = {
    f.name: f
    for f in (
        Family("rf", "RandomForestClassifier", "skops", "sklearn"),
        Family("mlp", "HistogramMLP", "pt", "torch"),
        Family("cnn", "PaperCNN", "pt", "torch"),
        Family("resnet18", "FrozenResNet18", "pt", "torch"),
        Family("logreg", "LogisticRegression", "skops", "sklearn"),
    )
}

MODELS = {
    m.name: m
    for m in (
        Model("rf_deriv", FAMILIES["rf"], "deriv"),
        Model("rf_color", FAMILIES["rf"], "color"),
        Model("mlp_deriv", FAMILIES["mlp"], "deriv"),
        Model("mlp_color", FAMILIES["mlp"], "color"),
        Model("cnn", FAMILIES["cnn"], IMAGES),
        Model("resnet18", FAMILIES["resnet18"], IMAGES),
        Model("fakeprint", FAMILIES["logreg"], "fakeprint", paper=False),
    )
}

#: Table 1's columns, in the paper's order; the registry's other models follow them.
PAPER_ORDER = tuple(name for name, m in MODELS.items() if m.paper)


def get(name: str) -> Model:
    """The registry entry of ``name``; an unknown name fails listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; the models are {', '.join(MODELS)}") from None


def names(*, family: str | None = None, trainer: str | None = None, images=None) -> list[str]:
    """Model names, in Table 1's order, filtered by family, trainer or image input."""
    return [
        m.name
        for m in MODELS.values()
        if (family is None or m.family.name == family)
        and (trainer is None or m.family.trainer == trainer)
        and (images is None or m.images == images)
    ]


def pattern(**filters) -> str:
    """A regular expression matching exactly the names :func:`names` gives (a Snakemake
    wildcard constraint); one that matches nothing when none do."""
    found = names(**filters)
    return "|".join(re.escape(n) for n in found) or "(?!)"


def paper_rank(name: str) -> tuple[int, str]:
    """Sort key: registry order, unknown names last (alphabetically)."""
    order = list(MODELS)
    return (order.index(name) if name in MODELS else len(order), name)
