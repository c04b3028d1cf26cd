"""constraints.txt pins, exactly, every package that pyproject.toml asks for (the base install and the
cluster, github and test extras): .ci/run and the Dockerfile install with it, so CI and the image get the
versions the suite last passed with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("cluster", "github", "test"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra] if not r.startswith("anubis-bench")}
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line.strip())
            assert match, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    assert not wanted - set(pins), f"not pinned in constraints.txt: {sorted(wanted - set(pins))}"


def test_ci_and_the_image_install_with_the_constraints() -> None:
    assert "-c constraints.txt" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "constraints.txt" in dockerfile and "-c constraints.txt" in dockerfile
