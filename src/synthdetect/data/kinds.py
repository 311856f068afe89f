"""The registry of source kinds: one entry per ``kind:`` a config source may have.

Each entry implements :class:`synthdetect.data.sourcekind.SourceKind` (checks, candidate
inputs and table, listing); the archive datasets add a fetch plan
(:class:`synthdetect.data.archives.ArchiveKind`). The workflow asks ``KINDS[kind]``
instead of testing kind names, so adding an archive dataset is its module, its entry here
and its block in the config schema.
"""

from __future__ import annotations

from collections.abc import Mapping

from synthdetect.data.aam import AamKind
from synthdetect.data.fakemusiccaps import FakeMusicCapsKind
from synthdetect.data.fma import FmaKind
from synthdetect.data.sonics import SonicsKind
from synthdetect.data.sourcekind import ComposerKind, DemoKind, FolderKind, SourceKind

__all__ = ["KINDS", "kind_of"]

KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        DemoKind(),
        ComposerKind(),
        FolderKind(),
        FmaKind(),
        AamKind(),
        FakeMusicCapsKind(),
        SonicsKind(),
    )
}


def kind_of(name: str, spec: Mapping) -> SourceKind:
    """The kind of config source ``name``; an unknown kind is an error naming the key."""
    try:
        return KINDS[spec["kind"]]
    except KeyError:
        raise ValueError(
            f"config sources.{name}.kind: {spec.get('kind')!r} is not one of {', '.join(KINDS)}"
        ) from None
