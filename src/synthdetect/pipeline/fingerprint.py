"""Code fingerprints: which library source a rule runs, followed through its imports.

Snakemake reruns a job when its own rule code changes, not when a module it imports does.
Each rule therefore carries ``params.code``, a digest of every ``synthdetect`` module its
entry points reach through ``import`` statements (at any depth, including imports inside
functions), found by reading the source, not by importing it. No list is kept by hand, so
none can drift: editing a module reruns exactly the rules that reach it.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "synthdetect"

__all__ = ["PACKAGE", "code_fingerprint", "reached_modules"]


def _module_file(root: Path, name: str) -> Path | None:
    """The source file of dotted module ``name`` below ``root`` (the package's parent)."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def _imports(path: Path) -> tuple[str, ...]:
    """Dotted names of the package's modules that ``path`` imports (candidates: each may be
    a module, a package or a name inside one; the caller keeps those that are files)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == PACKAGE
        ):
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return tuple(found)


def _parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``: importing a module runs its packages' ``__init__``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def reached_modules(entries: Iterable[str | os.PathLike], root: str | os.PathLike) -> list[Path]:
    """Every package source file the ``entries`` reach, sorted.

    An entry is a dotted module name (``synthdetect.pipeline.stages``) or the path of a
    script (a workflow script) whose imports are followed. ``root`` is the folder holding
    the ``synthdetect`` package (``src/``).
    """
    root = Path(root)
    todo: list[Path] = []
    for entry in entries:
        entry = str(entry)
        if entry.endswith(".py"):
            todo.append(Path(entry))
            continue
        path = _module_file(root, entry)
        if path is None:
            raise ValueError(f"code fingerprint: no module {entry!r} below {root}")
        todo.append(path)
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            for dotted in [*_parents(name), name]:
                found = _module_file(root, dotted)
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(p for p in seen if root in p.parents)


def code_fingerprint(entries: Iterable[str | os.PathLike], root: str | os.PathLike) -> str:
    """A 16-hex digest of the package sources the ``entries`` reach (names and bytes)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in reached_modules(entries, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
