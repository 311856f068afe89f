"""envs/: the conda environment of the script rules stays in step with pyproject.toml.

The environment cannot be created here (no conda channel is reachable), so these tests
check what can be checked without conda: its package list against the project's
dependencies, its Python against requires-python, and that every `script:` rule names it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENV = ROOT / "envs" / "synthdetect.yaml"
POST_DEPLOY = ROOT / "envs" / "synthdetect.post-deploy.sh"
RULES = ROOT / "workflow" / "rules"
#: extras the script rules need besides the dependencies (demo_corpus renders MIDI)
EXTRAS = ("demo",)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _env() -> dict:
    return yaml.safe_load(ENV.read_text())


def _pins(requirements) -> dict[str, SpecifierSet]:
    reqs = [Requirement(r) for r in requirements]
    pins = {canonicalize_name(r.name): r.specifier for r in reqs}
    assert len(pins) == len(reqs), "a package is listed twice"
    return pins


def _conda_python(env: dict) -> str:
    (spec,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    return spec.removeprefix("python").lstrip("=")


def test_pip_packages_are_the_project_dependencies_with_the_same_pins():
    project = _pyproject()
    wanted = [*project["dependencies"]]
    for extra in EXTRAS:
        wanted += project["optional-dependencies"][extra]
    (pip,) = [d["pip"] for d in _env()["dependencies"] if isinstance(d, dict)]
    assert _pins(pip) == _pins(wanted)


def test_python_satisfies_requires_python():
    version = _conda_python(_env())
    assert re.fullmatch(r"3\.\d+", version), version
    assert SpecifierSet(_pyproject()["requires-python"]).contains(f"{version}.0")
    assert "pip" in _env()["dependencies"]


def test_post_deploy_installs_the_checkout_and_the_makefiles_tinysoundfont():
    script = POST_DEPLOY.read_text()
    assert "pip install --no-deps -e .\n" in script  # the checkout, editable
    assert f'name = "{_pyproject()["name"]}"' in script  # ... found in the working directory
    (makefile_spec,) = re.findall(r"'(tinysoundfont[^']*)'", (ROOT / "Makefile").read_text())
    assert f"--no-deps '{makefile_spec}'" in script


def _rules(text: str) -> dict[str, str]:
    """Each rule's (or checkpoint's) body in a .smk file."""
    parts = re.split(r"^(?:rule|checkpoint) (\w+):\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_script_rule_names_the_environment():
    checked = []
    for smk in sorted(RULES.glob("*.smk")):
        for rule, body in _rules(smk.read_text()).items():
            if not re.search(r"^    script:$", body, re.M):
                continue
            m = re.search(r'^    conda:\n        "([^"]+)"$', body, re.M)
            assert m, f"{smk.name}: rule {rule} has no conda: directive"
            assert (smk.parent / m.group(1)).resolve() == ENV, (smk.name, rule, m.group(1))
            checked.append(rule)
    assert len(checked) >= 10, checked  # the parsing found the rules
