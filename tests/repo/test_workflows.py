"""The GitHub Actions workflows: schema-valid, zizmor-clean, least privilege, pinned, fork-safe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from renderer.argocd import PREVIEW_LABEL

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # "on" stays a string
    assert isinstance(data, dict)
    return data


def _triggers(workflow: dict[str, Any]) -> set[str]:
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows() -> None:
    names = {p.stem for p in WORKFLOWS}
    assert {"pull-request", "plan-comment", "publish", "preview", "commands", "release"} <= names


def test_workflows_match_githubs_schema() -> None:
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    workflow = _load(path)
    top = workflow.get("permissions")
    assert top is not None, "set permissions: at the top (the default token can write everything)"
    allowed_top = {"contents": "read"}
    assert top in ({}, "{}", allowed_top), f"top-level permissions must be read-only: {top}"
    for name, job in workflow["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            assert level in ("read", "write", "none")
            allowed = ("contents", "pull-requests", "actions", "issues", "statuses")
            if path.name == "release.yml":  # the image to ghcr.io, the package to PyPI (trusted publishing)
                allowed += ("packages", "id-token")
            assert scope in allowed, f"{name}: {scope}"
        assert job.get("timeout-minutes"), f"{name}: give jobs a timeout"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits(path: Path) -> None:
    for step in _steps(_load(path)):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"pin {step['uses']} to a 40-hex commit SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_credentials(path: Path) -> None:
    for step in _steps(_load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") == "false"


def test_pull_request_workflow_has_no_secrets_and_a_read_only_token() -> None:
    path = ROOT / ".github/workflows/pull-request.yml"
    workflow = _load(path)
    assert _triggers(workflow) == {"pull_request"}
    assert "secrets." not in path.read_text(encoding="utf-8")
    assert workflow["permissions"] == {"contents": "read"}
    assert all(not job.get("permissions") for job in workflow["jobs"].values())
    assert workflow["jobs"]["validate"]["name"] == "anubis/validate"  # the required check


def test_fork_comment_is_posted_by_a_workflow_run_that_runs_no_pr_code() -> None:
    workflow = _load(ROOT / ".github/workflows/plan-comment.yml")
    assert _triggers(workflow) == {"workflow_run"}
    for step in _steps(workflow):
        assert "uses" not in step, "no checkout, no action: the artifact is data"
        assert "anubis" not in step.get("run", "").split("'")[0].replace("anubis-plan", "").replace("anubis:plan", "")


def test_the_plan_comment_is_found_by_its_author_not_only_its_marker() -> None:
    """A pull request's author can post the marker first (or any bot can): only the workflow token's own
    comment, written by github-actions[bot], is edited."""
    text = (ROOT / ".github/workflows/plan-comment.yml").read_text(encoding="utf-8")
    assert 'select(.user.login == \\"github-actions[bot]\\" and' in text
    assert "GH_TOKEN: ${{ github.token }}" in text and ".user.type" not in text


@pytest.mark.parametrize("name", ["preview.yml", "commands.yml"])
def test_privileged_triggers_never_check_out_the_pull_request(name: str) -> None:
    text = (ROOT / ".github/workflows" / name).read_text(encoding="utf-8")
    for step in _steps(_load(ROOT / ".github/workflows" / name)):
        ref = step.get("with", {}).get("ref", "")
        assert "head" not in ref and "pull" not in ref
    assert "git checkout" not in text and "pip install" in text  # Anubis from the trusted checkout
    assert "refs/pull/" in text  # the head is fetched as objects only


def test_preview_label_is_the_one_the_applicationset_filters_on() -> None:
    text = (ROOT / ".github/workflows/preview.yml").read_text(encoding="utf-8")
    labels = set(re.findall(r"'(anubis[-:][\w-]+)'", text))
    assert labels == {PREVIEW_LABEL}


def test_publish_cannot_trigger_itself_or_race() -> None:
    workflow = _load(ROOT / ".github/workflows/publish.yml")
    push = workflow["on"]["push"]
    assert push["branches"] == ["main"] and "manifests/**" in push["paths-ignore"]
    assert workflow["concurrency"]["cancel-in-progress"] == "false"
    assert "anubis-bot[bot]" in workflow["jobs"]["publish"]["if"]


def test_every_anubis_line_names_a_real_command() -> None:
    from anubis.cli import COMMANDS

    for path in WORKFLOWS:
        for step in _steps(_load(path)):
            for line in step.get("run", "").splitlines():
                words = line.strip().split()
                if words[:1] == ["anubis"]:
                    assert words[1] in COMMANDS, f"{path.name}: {line}"
