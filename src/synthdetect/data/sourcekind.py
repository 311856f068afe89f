"""What every source kind offers the workflow, and the kinds that need no download.

A *source kind* is the ``kind:`` of a config source. :class:`SourceKind` is its interface:

- ``check(name, spec)``: startup checks the schema cannot make; a ``ValueError`` names the
  source, the key and the fix. ``check_sources(name, spec, sources)``: the checks that need
  the other sources (a derived source's parent).
- ``candidate_inputs(name, spec, paths)``: the files the ``candidates`` job reads.
- ``recipe(name, spec)``: what the ``candidates`` job needs to build the table (a rule
  param); ``candidates(name, spec, inputs)`` builds it (:func:`synthdetect.data.candidates.build`).
- ``listing(spec)``: a digest of what the source's files are, for sources whose files are
  not another job's output (a folder), so adding a file reruns it.

The kinds that download (one module per dataset over
:class:`synthdetect.data.archives.ArchiveKind`) add a fetch plan; the registry of all kinds
is :data:`synthdetect.data.kinds.KINDS`. This module stays light (no network code): the
composer corpus imports its SoundFont message from here, and its code fingerprint follows
that import.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from synthdetect.data.candidates import build

__all__ = [
    "SOUNDFONT_PACKAGES",
    "ComposerKind",
    "DemoKind",
    "FolderKind",
    "SourceKind",
    "WorkflowPaths",
    "missing_soundfont_message",
]


@dataclass(frozen=True)
class WorkflowPaths:
    """Where the workflow keeps what sources are built from: ``resources`` (downloads and
    corpora), ``demo`` (the demo corpus, ``demo.out``), and the config's ``seed``."""

    resources: str
    demo: str
    seed: int


class SourceKind:
    """One ``kind:`` of source. ``label``, when set, is the only label its sources may have;
    ``derived`` kinds copy their tracks from another source in the manifest (no candidates
    job, clips of their own bucket: :mod:`synthdetect.data.derived`)."""

    name: ClassVar[str] = ""
    label: ClassVar[str | None] = None
    derived: ClassVar[bool] = False

    def check(self, name: str, spec: Mapping) -> None:
        if self.label is not None and spec.get("label") != self.label:
            raise ValueError(
                f"config sources.{name}.label: a {self.name} source holds {self.label} "
                f"tracks; set label: {self.label}"
            )

    def check_sources(self, name: str, spec: Mapping, sources: Mapping[str, Mapping]) -> None:
        return None

    def candidate_inputs(self, name: str, spec: Mapping, paths: WorkflowPaths) -> dict[str, str]:
        return {}

    def recipe(self, name: str, spec: Mapping) -> dict:
        raise NotImplementedError

    def candidates(self, name: str, spec: Mapping, inputs: Mapping[str, str]) -> pd.DataFrame:
        return build(name, self.recipe(name, spec), inputs)

    def listing(self, spec: Mapping) -> str:
        return ""


class DemoKind(SourceKind):
    """One class of the offline demo corpus (``demo.out``), by its index."""

    name = "demo"

    def candidate_inputs(self, name, spec, paths):
        return {"index": f"{paths.demo}/index.parquet"}

    def recipe(self, name, spec):
        return {"builder": "index", "label": spec["label"]}


#: SoundFonts that Debian packages install, so a missing one can name its package.
SOUNDFONT_PACKAGES = {
    "FluidR3_GM.sf2": "fluid-soundfont-gm",
    "FluidR3_GS.sf2": "fluid-soundfont-gs",
    "TimGM6mb.sf2": "timgm6mb-soundfont",
}


def missing_soundfont_message(source: str, soundfont: str | os.PathLike[str]) -> str:
    """What to tell the user when ``source``'s ``soundfont`` file does not exist."""
    path = Path(soundfont)
    key = f"sources.{source}.soundfont"
    package = SOUNDFONT_PACKAGES.get(path.name)
    fix = f"install Debian's {package} (apt-get install {package}) or set" if package else "set"
    return (
        f"source {source!r}: SoundFont {str(path)!r} ({key}) does not exist; "
        f"{fix} {key} to an existing .sf2/.sf3 file"
    )


class ComposerKind(SourceKind):
    """The demo's composer through another SoundFont (``composer_corpus`` builds it)."""

    name = "composer"
    label = "ai"

    def check(self, name, spec):
        super().check(name, spec)
        if not Path(spec["soundfont"]).is_file():
            raise ValueError(missing_soundfont_message(name, spec["soundfont"]))

    def candidate_inputs(self, name, spec, paths):
        return {"index": f"{paths.resources}/composer/{name}/index.parquet"}

    def recipe(self, name, spec):
        return {"builder": "index", "label": spec["label"]}


class FolderKind(SourceKind):
    """Any folder of audio files; nothing builds it, so its listing is a param."""

    name = "folder"

    def check(self, name, spec):
        super().check(name, spec)
        if not Path(spec["path"]).is_dir():
            raise ValueError(
                f"config sources.{name}.path: folder {spec['path']} does not exist; "
                f"fix the source's 'path'"
            )

    def recipe(self, name, spec):
        return {
            "builder": "files",
            "label": spec["label"],
            "path": spec["path"],
            "glob": spec.get("glob", "**/*"),
        }

    def listing(self, spec):
        """The folder's file names, sizes and times, hashed: adding a file reruns it."""
        root = Path(spec["path"])
        digest = hashlib.sha256()
        for p in sorted(root.glob(spec.get("glob", "**/*"))):
            if p.is_file():
                st = p.stat()
                digest.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]
