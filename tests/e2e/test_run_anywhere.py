"""``anubis run`` and ``anubis validate`` from any folder on any descriptor: the repository is found from
the descriptor upward (never from the current folder), and the recorded source is the commit of the git
repository that holds the descriptor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "A benchmark of its own."

[info.labels]
task_name = "mine"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/src/bench.py"

[[output.metrics]]
name = "score"
units = "points"
pattern = 'score=([0-9.]+)'
"""


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(folder), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def anubis(cwd: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANUBIS_")}
    env.update({"ANUBIS_DATA_DIR": str(data), "ANUBIS_CACHE_DIR": str(data / "cache"),
                "ANUBIS_CONTAINER_ENGINE": "none", "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "anubis", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def run_json(cwd: Path, data: Path, *args: str) -> dict[str, Any]:
    result = anubis(cwd, data, "run", "--output", "json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    [record] = json.loads(result.stdout)["executions"]
    assert record["status"] == "SUCCEEDED"
    assert record["metrics"]["score"]["last"] == 7.0
    return record  # type: ignore[no-any-return]


def write_benchmark(folder: Path, name: str = "bench.toml") -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "bench.py").write_text("print('score=7')\n")
    (folder / name).write_text(DESCRIPTOR)
    return folder / name


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """An unrelated git repository, used as the current folder."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    git(other, "init", "-q")
    (other / "README").write_text("unrelated\n")
    git(other, "add", "README")
    git(other, "commit", "-q", "-m", "unrelated")
    return other


def test_a_lone_descriptor_outside_git_runs_from_another_folder(tmp_path: Path, elsewhere: Path) -> None:
    path = write_benchmark(tmp_path / "work" / "mybench")  # any file name
    record = run_json(elsewhere, tmp_path / "data", str(path))
    assert record["environment"] == "local"
    assert record["commit"] is None and record["reproducibility"]["source_commit"] is None
    validated = anubis(elsewhere, tmp_path / "data", "validate", str(path))
    assert validated.returncode == 0 and "ok (1 run in local)" in validated.stdout


def test_the_source_is_the_repository_holding_the_descriptor(tmp_path: Path, elsewhere: Path) -> None:
    team = tmp_path / "team"
    path = write_benchmark(team / "benchmarks" / "mine", "descriptor.toml")
    git(team, "init", "-q")
    git(team, "add", ".")
    git(team, "commit", "-q", "-m", "a benchmark")
    head = git(team, "rev-parse", "HEAD")
    record = run_json(elsewhere, tmp_path / "data", str(path.parent))
    assert record["commit"] == head != git(elsewhere, "rev-parse", "HEAD")
    assert record["reproducibility"]["source_dirty"] is False
    assert record["descriptor_path"] == "benchmarks/mine/descriptor.toml"  # relative to its own repository

    (path.parent / "src" / "bench.py").write_text("print('score=7')  # changed\n")
    assert run_json(elsewhere, tmp_path / "data", str(path.parent))["reproducibility"]["source_dirty"] is True
    git(team, "checkout", "-q", "--", ".")
    (path.parent / "src" / "extra.py").write_text("# untracked\n")
    assert run_json(elsewhere, tmp_path / "data", str(path.parent))["reproducibility"]["source_dirty"] is True


def test_repo_option_gives_environments_but_not_the_source(tmp_path: Path, elsewhere: Path) -> None:
    path = write_benchmark(tmp_path / "work" / "mybench")
    result = anubis(elsewhere, tmp_path / "data", "--repo", str(CHECKOUT), "run", "--output", "json", str(path))
    assert result.returncode == 0, result.stderr
    [record] = json.loads(result.stdout)["executions"]
    assert record["commit"] is None  # the checkout's commit is not this descriptor's source
    assert record["reproducibility"]["source_commit"] is None


def test_the_checkout_samples_run_from_another_folder(tmp_path: Path, elsewhere: Path) -> None:
    result = anubis(elsewhere, tmp_path / "data", "validate", str(CHECKOUT / "benchmarks" / "horovod-mnist"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "benchmarks/horovod-mnist/descriptor.toml: ok (1 run in gpu-cluster)" in result.stdout
