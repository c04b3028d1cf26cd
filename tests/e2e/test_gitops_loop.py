"""The GitOps loop on one machine: a bare repository stands in for GitHub's, the workflows' steps run as
the commands they contain, and a fake GitHub API receives the statuses and the one comment.

Covered: pull request (validate, render --diff, plan into the job summary), merge, `anubis publish`
committing manifests/ as the bot, then `anubis report` of the runs' results on the merged commit and
the pull request that brought it. Applying the manifests to the Kubernetes fake and driving the
controller is left to the controller's end-to-end tests until its API settles (see the report).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import github_api
from fakes.runs import make_record

from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult
from schemas.status import RunStatus

ROOT = Path(__file__).resolve().parents[2]
CANARY = "ghp_E2ECANARY_0123456789abcdef"
BOT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **BOT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _steps(workflow: str) -> list[dict[str, Any]]:
    data = yaml.load((ROOT / ".github/workflows" / workflow).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    return [s for job in data["jobs"].values() for s in job["steps"]]


def _run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    full = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **BOT_ENV, **env}
    full.update({k: env.get(k, "") for k in step.get("env", {})})
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=full,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{step.get('name')}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def github() -> Iterator[github_api.FakeGitHub]:
    for fake in github_api.serve(repo="anubis-bench/anubis", token=CANARY):
        yield fake
        assert not fake.unexpected, fake.unexpected


def test_pull_request_merge_publish_report(tmp_path: Path, github: github_api.FakeGitHub) -> None:
    if shutil.which("anubis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the anubis command is not installed")
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    seed = tmp_path / "seed"
    seed.mkdir()
    for name in ("environments", "anubis.toml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, seed / name)
    shutil.copytree(ROOT / "benchmarks" / "hello-world", seed / "benchmarks" / "hello-world")
    _git(seed, "init", "--quiet", "--initial-branch=main")
    _git(seed, "add", "--all")
    _git(seed, "commit", "--quiet", "-m", "Benchmarks repository")
    _git(seed, "remote", "add", "origin", str(origin))
    _git(seed, "push", "--quiet", "origin", "main")

    # A contributor opens a pull request adding a benchmark.
    work = tmp_path / "work"
    _git(tmp_path, "clone", "--quiet", str(origin), str(work))
    base = _git(work, "rev-parse", "HEAD")
    _git(work, "switch", "--quiet", "-c", "add-hello-again")
    shutil.copytree(work / "benchmarks" / "hello-world", work / "benchmarks" / "hello-again")
    descriptor = work / "benchmarks" / "hello-again" / "descriptor.toml"
    descriptor.write_text(descriptor.read_text().replace('task_name = "hello-world"', 'task_name = "hello-again"'))
    _git(work, "add", "--all")
    _git(work, "commit", "--quiet", "-m", "Add hello-again")
    head = _git(work, "rev-parse", "HEAD")

    # The pull-request workflow's steps, as the commands they contain.
    summary = tmp_path / "summary.md"
    env = {"BASE_SHA": base, "HEAD_SHA": head, "PR_NUMBER": "1", "GITHUB_STEP_SUMMARY": str(summary)}
    ran = [s["name"] for s in _steps("pull-request.yml") if "run" in s and "anubis" in s["run"]
           and _run_step(s, work, env)]
    assert ran == ["Validate", "Render (diff, informational)", "Plan"]
    plan = summary.read_text()
    assert "<!-- anubis:plan -->" in plan and "| `cpu-cluster` | 1 | 0 | 0 |" in plan
    assert "create `cpu-cluster/hello-again/hello-again-" in plan
    assert (work / "anubis-plan" / "number").read_text().strip() == "1"
    shutil.rmtree(work / "anubis-plan")

    # Merge, then the publish workflow's step: the bot commits the manifests.
    _git(work, "switch", "--quiet", "main")
    _git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #1", "add-hello-again")
    _git(work, "push", "--quiet", "origin", "main")
    merged = _git(work, "rev-parse", "HEAD")
    publish = [s for s in _steps("publish.yml") if s.get("name") == "Publish"]
    _run_step(publish[0], work, {})
    log = _git(origin, "log", "-1", "--format=%an|%s", "main")
    assert log.startswith("anubis-bot|Render manifests for ") and log.endswith("[skip ci]")
    files = _git(origin, "ls-tree", "-r", "--name-only", "main", "manifests").splitlines()
    assert any(f.startswith("manifests/cpu-cluster/hello-again/hello-again-") for f in files)
    assert "manifests/argocd/applicationset-previews-cpu-cluster.yaml" in files
    # publishing again is a no-op
    assert "nothing to publish" in _run_step(publish[0], work, {}).stdout

    # The runs finished (as the controller records them); `anubis report` reports on the source
    # commit and on the pull request that brought it.
    manifest = next(f for f in files if "/hello-again/" in f)
    run_id = Path(manifest).stem
    source = _git(work, "log", "-1", "--format=%H", "--", "benchmarks/hello-again")
    store = SqliteResultStore(tmp_path / "results.sqlite3")
    store.put(make_record(benchmark="hello-again", run_id=run_id, execution_id=f"{run_id}-0a0b0c0d", commit=source,
                          environment="cpu-cluster", status=RunStatus.SUCCEEDED,
                          metrics={"accuracy": MetricResult("accuracy", "ratio", "higher", (0.875,), (1.0,))}))
    github.add_pull(1, head_sha=source, state="closed", merged=True)
    from click.testing import CliRunner

    from anubis.cli import cli

    result = CliRunner().invoke(
        cli, ["--repo", str(work), "report", "--store", str(tmp_path / "results.sqlite3"), "--repo", "anubis-bench/anubis",
              "--commit", source, "--api-url", github.url, "--outbox", str(tmp_path / "outbox.sqlite3")],
        env={"GITHUB_TOKEN": CANARY},
    )
    assert result.exit_code == 0, result.output
    status = github.latest_statuses(source)["anubis/hello-again"]
    assert status["state"] == "success"
    assert status["target_url"] == "https://argocd.example.com/applications/argocd/anubis-cpu-cluster"
    comments = github.marked_comments(1)
    assert len(comments) == 1 and "| hello-again | ✅ succeeded | accuracy | 0.875 | ratio |" in comments[0]["body"]
    assert merged  # the merge commit is on main; the runs report on the benchmark's source commit
    assert all(CANARY not in r.headers["x-raw-body"] for r in github.requests)
    assert CANARY not in result.output
