"""The autoencoder generator's settings, without torch: the workflow checks a config's
settings at startup, and parsing the workflow must not import torch
(:mod:`synthdetect.corpora.autoencoder` holds the model and re-exports these)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["DECODERS", "AutoencoderSpec", "check_settings"]

DECODERS = ("transposed", "upsample")
_NAME = "generator autoencoder"


@dataclass(frozen=True)
class AutoencoderSpec:
    """Architecture of a :class:`WaveAutoencoder` (plain types, so it saves with the weights).

    ``strides``: one down/up layer per entry; ``prod(strides)`` samples make one latent frame.
    ``channels``: width at full rate, doubled at each stride (16, 32, 64, 128 for three).
    ``latent``: channels of the bottleneck.
    ``kernel_size``: odd kernel of the full-rate convolutions and of the ``upsample``
    decoder's convolutions (strided layers use ``2 * stride``, as codecs do).
    """

    decoder: str = "transposed"
    strides: tuple[int, ...] = (4, 4, 4)
    channels: int = 16
    latent: int = 8
    kernel_size: int = 7
    widths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        widths = tuple(self.channels * 2**i for i in range(len(self.strides) + 1))
        object.__setattr__(self, "widths", widths)

    @property
    def hop(self) -> int:
        """Samples per latent frame: the total down/up factor."""
        return math.prod(self.strides)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("widths")
        d["strides"] = list(self.strides)
        return d


_KEYS = ("decoder", "strides", "channels", "latent", "kernel_size")


def _int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def check_settings(settings: Mapping[str, Any] | AutoencoderSpec | None) -> AutoencoderSpec:
    """Validate a config mapping of autoencoder settings and return the spec (defaults filled).

    Unknown keys are rejected, and every message names the offending key.
    """
    if isinstance(settings, AutoencoderSpec):
        settings = settings.to_dict()
    settings = {} if settings is None else settings
    if not isinstance(settings, Mapping):
        raise ValueError(f"{_NAME}: settings must be a mapping, got {type(settings).__name__}")
    unknown = sorted(str(k) for k in set(settings) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"{_NAME}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}"
        )
    default = AutoencoderSpec()
    decoder = settings.get("decoder", default.decoder)
    if decoder not in DECODERS:
        raise ValueError(f"{_NAME}: decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    strides = settings.get("strides", default.strides)
    if (
        not isinstance(strides, list | tuple)
        or not 1 <= len(strides) <= 6
        or not all(_int(s) and s >= 2 for s in strides)
    ):
        raise ValueError(f"{_NAME}: strides must be a list of 1-6 integers >= 2, got {strides!r}")
    strides = tuple(int(s) for s in strides)
    if math.prod(strides) > 4096:
        raise ValueError(
            f"{_NAME}: strides must multiply to at most 4096, got {list(strides)} "
            f"(product {math.prod(strides)})"
        )
    ints = {}
    for key in ("channels", "latent", "kernel_size"):
        value = settings.get(key, getattr(default, key))
        if not _int(value) or not 1 <= value <= 512:
            raise ValueError(f"{_NAME}: {key} must be an integer in 1-512, got {value!r}")
        ints[key] = int(value)
    if ints["kernel_size"] % 2 == 0:
        raise ValueError(f"{_NAME}: kernel_size must be odd, got {ints['kernel_size']}")
    if ints["channels"] * 2 ** len(strides) > 1024:
        raise ValueError(
            f"{_NAME}: channels doubles at each stride and must stay <= 1024, got "
            f"channels {ints['channels']} with {len(strides)} strides"
        )
    return AutoencoderSpec(decoder=decoder, strides=strides, **ints)
