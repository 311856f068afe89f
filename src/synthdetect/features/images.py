"""Spectrogram image loading and the per-split image cache.

Training decodes each PNG once per split into one uint8 ``(N, H, W, 3)`` ``.npy`` file;
epochs then read it through a memory map (``np.lib.format.open_memmap``) instead of
decoding PNGs again each epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["load_image", "load_images", "open_image_cache", "write_image_cache"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` as (height, width); an int means a square image."""
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def load_image(path: PathLike, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """One image as uint8 RGB ``(H, W, 3)``; resized (PIL, bilinear) only if not ``size``.

    ``size`` is an int (square) or ``(height, width)``; ``None`` keeps the file's size.
    Alpha (matplotlib writes RGBA) and palette/grey images are converted to RGB.
    """
    with Image.open(path) as im:
        im = im.convert("RGB") if im.mode != "RGB" else im
        if size is not None:
            h, w = _hw(size)
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def load_images(png_paths: Sequence[PathLike], size: int | tuple[int, int]) -> np.ndarray:
    """Images as one uint8 array ``(N, H, W, 3)``; each resized only if not ``size``."""
    h, w = _hw(size)
    out = np.empty((len(png_paths), h, w, 3), dtype=np.uint8)
    for i, p in enumerate(png_paths):
        out[i] = load_image(p, (h, w))
    return out


def write_image_cache(
    png_paths: Sequence[PathLike],
    out_npy: PathLike,
    size: int | tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """Decode ``png_paths`` once into ``out_npy``, a uint8 ``(N, H, W, 3)`` ``.npy`` file.

    Row ``i`` is ``png_paths[i]`` (keep the order next to it, e.g. the manifest rows).
    ``size`` defaults to the first image's size; images of another size are resized.
    Streams into a memory-mapped file (memory stays at one image) and writes to a
    temporary name first, so a crash never leaves a truncated cache behind.
    Returns the array's shape.
    """
    out_npy = Path(out_npy)
    if size is None:
        if not png_paths:
            raise ValueError("no images and no size: cannot shape an empty image cache")
        with Image.open(png_paths[0]) as im:
            w, h = im.size
    else:
        h, w = _hw(size)
    shape = (len(png_paths), h, w, 3)
    out_npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_npy.with_name(out_npy.name + ".tmp")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    try:
        for i, p in enumerate(png_paths):
            arr[i] = load_image(p, (h, w))
        arr.flush()
    except BaseException:
        del arr
        tmp.unlink(missing_ok=True)
        raise
    del arr
    os.replace(tmp, out_npy)
    log.info("wrote image cache %s %s", out_npy, shape)
    return shape


def open_image_cache(npy: PathLike) -> np.memmap:
    """Open an image cache read-only as a memory map, uint8 ``(N, H, W, 3)``."""
    arr = np.lib.format.open_memmap(npy, mode="r")
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{npy} is not an image cache: {arr.dtype} {arr.shape}")
    return arr
