"""A team adopts Anubis from nothing, with the built wheel as the release.

The wheel is built from this checkout and installed alone into a fresh virtual environment. From a
folder outside any repository, ``anubis run`` runs a descriptor written there (SUCCEEDED, metrics stored,
no source commit). Then ``anubis init`` makes a new repository, which is committed, and the commands of
its own workflows run in it (validate, render, plan, publish) after installing Anubis with the
workflows' own install step: ``pip install -r .github/anubis-requirement.txt`` finds the built wheel
(``PIP_FIND_LINKS``), which stands for the release it pins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

CHECKOUT = Path(__file__).resolve().parents[2]

LONE = """\
spec_version = "0.1.0"

[info]
description = "Written in a folder of its own."

[info.labels]
task_name = "lone"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 -c \\"print('throughput=41.5')\\""

[[output.metrics]]
name = "throughput"
units = "items/s"
pattern = 'throughput=([0-9.]+)'
"""


def sh(*args: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                            check=False)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    out = tmp_path_factory.mktemp("dist")
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.skip("the build package is not installed (pip install -e '.[test]')")
    sh(sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(CHECKOUT), cwd=CHECKOUT,
       env=dict(os.environ))
    [built] = out.glob("anubis_bench-*.whl")
    return built


def steps(workflow: Path, job: str) -> list[dict[str, Any]]:
    data = yaml.load(workflow.read_text(), Loader=yaml.BaseLoader)
    return list(data["jobs"][job]["steps"])


def test_a_team_adopts_anubis(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("ANUBIS_", "VIRTUAL_ENV", "PYTHON", "GIT_"))}
    base_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{base_env.get('PATH', '')}"
    base_env.update({"ANUBIS_DATA_DIR": str(tmp_path / "data"), "ANUBIS_CACHE_DIR": str(tmp_path / "cache"),
                     "ANUBIS_CONTAINER_ENGINE": "none", "NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                     "GIT_AUTHOR_NAME": "Team", "GIT_AUTHOR_EMAIL": "team@example.com",
                     "GIT_COMMITTER_NAME": "Team", "GIT_COMMITTER_EMAIL": "team@example.com"})
    sh(sys.executable, "-m", "venv", str(venv), cwd=tmp_path, env=base_env)
    sh(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel), cwd=tmp_path, env=base_env)
    version = sh("anubis", "--version", cwd=tmp_path, env=base_env).stdout.strip()
    assert version == f"anubis, version {wheel.name.split('-')[1]}"
    shown = sh("anubis", "--help", cwd=tmp_path, env=base_env).stdout
    assert "init" in shown and "run" in shown

    # 1. anubis run, outside any repository, on a descriptor written there
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.toml").write_text(LONE)
    ran = sh("anubis", "run", "--output", "json", "mine.toml", cwd=work, env=base_env)
    [record] = json.loads(ran.stdout)["executions"]
    assert record["status"] == "SUCCEEDED" and record["environment"] == "local"
    assert record["commit"] is None and record["reproducibility"]["source_commit"] is None
    stored = json.loads(sh("anubis", "results", "--output", "json", cwd=work, env=base_env).stdout)
    assert stored["metrics"]["throughput"]["last"] == 41.5
    # the laptop install has no cluster client, and says which extra brings it
    missing = subprocess.run(["anubis", "controller", "--help"], cwd=work, env=base_env, capture_output=True,
                             text=True, timeout=60, check=False)
    listed = subprocess.run([str(venv / "bin" / "python"), "-c", "import kubernetes"], capture_output=True,
                            check=False)
    assert listed.returncode != 0, "the base install must not pull the Kubernetes client"
    assert missing.returncode == 0 or "anubis-bench[cluster]" in missing.stderr

    # 2. anubis init, commit, and the bot's remote
    team = tmp_path / "team"
    origin = tmp_path / "origin.git"
    sh("git", "init", "--quiet", "--bare", "--initial-branch", "main", str(origin), cwd=tmp_path, env=base_env)
    sh("anubis", "init", str(team), "--url", "https://github.com/acme/benchmarks", cwd=tmp_path, env=base_env)
    assert (team / "manifests" / "argocd" / "application-cpu-cluster.yaml").is_file()
    refused = subprocess.run(["anubis", "init", str(team)], cwd=tmp_path, env=base_env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode == 1 and "overwrites nothing" in refused.stderr
    sh("anubis", "init", "--check", str(team), cwd=tmp_path, env=base_env)
    sh("git", "init", "--quiet", "--initial-branch", "main", cwd=team, env=base_env)
    sh("git", "remote", "add", "origin", str(origin), cwd=team, env=base_env)
    sh("git", "add", ".", cwd=team, env=base_env)
    sh("git", "commit", "--quiet", "-m", "anubis init", cwd=team, env=base_env)
    sh("git", "push", "--quiet", "origin", "main", cwd=team, env=base_env)
    base_sha = sh("git", "rev-parse", "HEAD", cwd=team, env=base_env).stdout.strip()
    descriptor = team / "benchmarks" / "hello" / "descriptor.toml"
    descriptor.write_text(descriptor.read_text().replace('args = "--size 60', 'args = "--size 40'))
    sh("git", "commit", "--quiet", "-am", "smaller matrices", cwd=team, env=base_env)
    head_sha = sh("git", "rev-parse", "HEAD", cwd=team, env=base_env).stdout.strip()

    # 3. the workflows' own steps, in order, as GitHub would run them (expressions given as env values)
    workflows = team / ".github" / "workflows"
    summary = tmp_path / "summary.md"
    expressions = {"BASE_SHA": base_sha, "HEAD_SHA": head_sha, "PR_NUMBER": "7",
                   "ANUBIS_BOT_TOKEN": "not-a-real-token"}
    ran_commands: list[str] = []
    for workflow, job in (("pull-request.yml", "validate"), ("publish.yml", "publish")):
        for step in steps(workflows / workflow, job):
            script = step.get("run")
            if script is None:
                continue  # actions: checkout, setup-python, upload-artifact
            env = {**base_env, "GITHUB_STEP_SUMMARY": str(summary), "PIP_FIND_LINKS": str(wheel.parent)}
            env.update({name: expressions[name] for name in step.get("env", {})})
            done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=team, env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            assert done.returncode == 0, f"{workflow} {step.get('name')}:\n{done.stdout}\n{done.stderr}"
            ran_commands += [line.split()[1] for line in script.splitlines() if line.strip().startswith("anubis ")]
    assert ran_commands == ["validate", "render", "plan", "validate", "publish"]
    plan = (team / "anubis-plan" / "plan.md").read_text()
    assert "| `cpu-cluster` | 1 | 0 | 1 |" in plan  # the hello run is replaced by the smaller one
    log = sh("git", "--git-dir", str(origin), "log", "--format=%an %s", "-1", "main", cwd=tmp_path, env=base_env)
    assert log.stdout.startswith("anubis-bot Render manifests for")
