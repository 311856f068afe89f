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
from synthdetect.data.derived import DerivedKind
from synthdetect.data.fakemusiccaps import FakeMusicCapsKind
from synthdetect.data.fma import FmaKind
from synthdetect.data.sonics import SonicsKind
from synthdetect.data.sourcekind import ComposerKind, DemoKind, FolderKind, SourceKind

__all__ = ["KINDS", "check_sources", "derived_sources", "kind_of"]

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
        DerivedKind(),
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


def check_sources(sources: Mapping[str, Mapping]) -> None:
    """Every startup check of the config's sources (each kind's, then those across
    sources); the first failure is a ``ValueError`` naming the key and the fix."""
    for name, spec in sources.items():
        kind = kind_of(name, spec)
        kind.check(name, spec)
        kind.check_sources(name, spec, sources)


def derived_sources(sources: Mapping[str, Mapping]) -> list[str]:
    """The names of the sources whose tracks are copies of another's (derived kinds); an
    unknown kind is not derived (:func:`check_sources` reports it)."""
    return sorted(
        name
        for name, spec in sources.items()
        if getattr(KINDS.get(spec.get("kind")), "derived", False)
    )
