"""Building small benchmark repositories for the validation tests (imported explicitly by them).

A repository gets a copy of the project's ``environments/`` (cpu-cluster is the default cluster and
offers c5.xlarge; gpu-cluster offers p3.8xlarge with 4 GPUs; local accepts anything), and one or more
descriptors written from text. ``line_of`` finds where a snippet sits in that text, so assertions name
the exact line without counting by hand.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from renderer.planning import Planned, check_descriptor
from schemas.errors import DescriptorError, Problem

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SHOWN = "benchmarks/t/descriptor.toml"


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    shutil.copytree(PROJECT_ROOT / "environments", repo / "environments")
    (repo / "benchmarks").mkdir()
    return repo


def write_descriptor(repo: Path, text: str, name: str = "t", filename: str = "descriptor.toml") -> Path:
    folder = repo / "benchmarks" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def descriptor(
    *,
    info: str = "",
    labels: str | None = 'task_name = "t"',
    hardware: str | None = 'instance_type = "c5.xlarge"',
    env: str | None = 'docker_image = "python:3.11"',
    ml: str | None = 'benchmark_code = "python3 -c pass"',
    tail: str = "",
    head: str = 'spec_version = "0.1.0"',
) -> str:
    """A valid descriptor (for cpu-cluster) with extra lines in its sections; None leaves a section out."""
    parts = [head, "", "[info]", 'description = "A test benchmark."']
    if info:
        parts.append(textwrap.dedent(info).strip("\n"))
    if labels is not None:
        parts += ["", "[info.labels]", textwrap.dedent(labels).strip("\n")]
    for header, body in (("hardware", hardware), ("env", env), ("ml", ml)):
        if body is not None:
            parts += ["", f"[{header}]", textwrap.dedent(body).strip("\n")]
    if tail:
        parts += ["", textwrap.dedent(tail).strip("\n")]
    return "\n".join(parts) + "\n"


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``snippet``."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if snippet in line]
    assert len(hits) >= occurrence, f"{snippet!r} not found {occurrence} time(s)"
    return hits[occurrence - 1]


def plan(repo: Path, path: Path, **kwargs: object) -> Planned:
    return check_descriptor(path, repo_root=repo, **kwargs)  # type: ignore[arg-type]


def problems(repo: Path, path: Path, **kwargs: object) -> list[Problem]:
    """The errors and warnings of a descriptor that must fail, in the order they are reported."""
    try:
        check_descriptor(path, repo_root=repo, **kwargs)  # type: ignore[arg-type]
    except DescriptorError as e:
        return sorted(e.problems + e.warnings, key=lambda p: (p.line, p.column, p.field))
    raise AssertionError("the descriptor was expected to fail validation")


def errors(repo: Path, path: Path, **kwargs: object) -> list[str]:
    """The formatted errors of a descriptor that must fail."""
    return [p.format() for p in problems(repo, path, **kwargs) if p.severity == "error"]
