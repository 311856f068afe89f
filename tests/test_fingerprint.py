"""Code fingerprints follow imports, at any depth and inside functions."""

from __future__ import annotations

from pathlib import Path

from workflow_helpers import REPO

from synthdetect.pipeline.fingerprint import code_fingerprint, reached_modules

SRC = REPO / "src"


def _package(root: Path) -> Path:
    pkg = root / "synthdetect"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from synthdetect.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from synthdetect import c\n    return c\n")
    (pkg / "c.py").write_text("import numpy\nX = 1\n")
    (pkg / "d.py").write_text("Y = 2\n")
    return pkg


def test_follows_imports_transitively_and_inside_functions(tmp_path):
    pkg = _package(tmp_path)
    found = {p.relative_to(pkg).as_posix() for p in reached_modules(["synthdetect.a"], tmp_path)}
    assert found == {"__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "c.py"}


def test_an_edit_changes_exactly_the_fingerprints_that_reach_it(tmp_path):
    pkg = _package(tmp_path)
    before = {e: code_fingerprint([e], tmp_path) for e in ("synthdetect.a", "synthdetect.d")}
    (pkg / "c.py").write_text("import numpy\nX = 2\n")
    after = {e: code_fingerprint([e], tmp_path) for e in before}
    assert after["synthdetect.a"] != before["synthdetect.a"]
    assert after["synthdetect.d"] == before["synthdetect.d"]


def test_a_script_entry_is_followed(tmp_path):
    _package(tmp_path / "src")
    script = tmp_path / "scripts" / "run.py"
    script.parent.mkdir()
    script.write_text("from synthdetect.c import X\n")
    found = {p.name for p in reached_modules([script], tmp_path / "src")}
    assert found == {"__init__.py", "c.py"}


def _reached(entry: str) -> set[str]:
    """What a workflow script (``name.py``) or a `run:` block's module reaches."""
    path = str(REPO / "workflow/scripts" / entry) if entry.endswith(".py") else entry
    return {p.relative_to(SRC).as_posix() for p in reached_modules([path], SRC)}


def test_workflow_scripts_reach_what_they_run():
    evaluate = _reached("synthdetect.evaluation.evaluate")
    assert "synthdetect/evaluation/metrics.py" in evaluate
    assert "synthdetect/models/forest.py" in evaluate  # imported inside models.run.load_model
    train = _reached("train.py")
    assert "synthdetect/models/training.py" in train
    assert "synthdetect/evaluation/metrics.py" not in train
