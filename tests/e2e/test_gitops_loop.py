"""The GitOps loop on one machine: a bare repository stands in for GitHub's, the workflows' steps run as
the commands they contain, and a fake GitHub API receives the statuses and the one comment.

Covered: pull request (validate, render --diff, plan into the job summary), merge, `anubis publish`
committing manifests/ as the bot, then `anubis report` of the runs' results on the merged commit and
the pull request that brought it; and the loop as it runs on a cluster: the published manifests are
applied to the Kubernetes fake over HTTP as Argo CD would, the controller (with its GitHub exporter)
follows the runs the cluster simulator drives to completion, and GitHub gets the commit statuses
(pending, then final) and the one pull-request comment (golden Markdown under ``cases/gitops/``),
also while it answers 500, 429 and secondary rate limits.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import cluster_simulator as scenario
from fakes import github_api
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import wait_for
from fakes.kubernetes_api import KINDS, FakeKubernetes
from fakes.runs import make_record

from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult
from schemas.status import RunStatus

ROOT = Path(__file__).resolve().parents[2]
CASE = Path(__file__).resolve().parent / "cases" / "gitops"
CANARY = "ghp_E2ECANARY_0123456789abcdef"
BOT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **BOT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _benchmarks_repository(tmp_path: Path, folder: str) -> tuple[Path, Path]:
    """A bare ``origin`` and a clone in ``tmp_path / folder`` holding main's environments, anubis.toml and
    the hello-world benchmark, committed and pushed as ``main``."""
    if shutil.which("anubis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the anubis command is not installed")
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    work = tmp_path / folder
    work.mkdir()
    for name in ("environments", "anubis.toml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    shutil.copytree(ROOT / "benchmarks" / "hello-world", work / "benchmarks" / "hello-world")
    _git(work, "init", "--quiet", "--initial-branch=main")
    _git(work, "add", "--all")
    _git(work, "commit", "--quiet", "-m", "Benchmarks repository")
    _git(work, "remote", "add", "origin", str(origin))
    _git(work, "push", "--quiet", "origin", "main")
    return origin, work


def _pull_request_7(tmp_path: Path) -> tuple[Path, Path, str]:
    """The benchmarks repository with pull request 7 (branch add-hello-again, adding hello-again)
    pushed as GitHub keeps it (``refs/pull/7/head``), ``work`` back on main: origin, work, the head."""
    origin, work = _benchmarks_repository(tmp_path, "work")
    _add_hello_again(work)
    _git(work, "commit", "--quiet", "-m", "Add hello-again")
    head = _git(work, "rev-parse", "HEAD")
    _git(work, "push", "--quiet", "origin", "HEAD:refs/pull/7/head")
    _git(work, "switch", "--quiet", "main")
    return origin, work, head


def _add_hello_again(work: Path) -> None:
    """On a new branch add-hello-again of ``work``: a copy of hello-world named hello-again, staged."""
    _git(work, "switch", "--quiet", "-c", "add-hello-again")
    shutil.copytree(work / "benchmarks" / "hello-world", work / "benchmarks" / "hello-again")
    descriptor = work / "benchmarks" / "hello-again" / "descriptor.toml"
    descriptor.write_text(descriptor.read_text().replace('task_name = "hello-world"', 'task_name = "hello-again"'))
    _git(work, "add", "--all")


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
    origin, _ = _benchmarks_repository(tmp_path, "seed")

    # A contributor opens a pull request adding a benchmark.
    work = tmp_path / "work"
    _git(tmp_path, "clone", "--quiet", str(origin), str(work))
    base = _git(work, "rev-parse", "HEAD")
    _add_hello_again(work)
    _git(work, "commit", "--quiet", "-m", "Add hello-again")
    head = _git(work, "rev-parse", "HEAD")

    # The pull-request workflow's steps, as the commands they contain.
    summary = tmp_path / "summary.md"
    env = {"BASE_SHA": base, "HEAD_SHA": head, "PR_NUMBER": "1", "GITHUB_STEP_SUMMARY": str(summary)}
    ran = [s["name"] for s in _steps("pull-request.yml") if "run" in s and "anubis" in s["run"]
           and s["name"] != "Install Anubis" and _run_step(s, work, env)]  # Anubis is installed here already
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


def test_preview_writes_the_namespace_objects_and_close_tears_them_down(tmp_path: Path) -> None:
    """preview.yml's steps: the pull request's runs and its namespace's support objects (the runs'
    ServiceAccount, the controller's RoleBinding) land on the preview branch; --close removes them all."""
    origin, work, head = _pull_request_7(tmp_path)

    steps = {s.get("name"): s for s in _steps("preview.yml")}
    env = {"PR_NUMBER": "7", "HEAD_SHA": head, "HEAD_REF": "add-hello-again", "ANUBIS_BOT_TOKEN": ""}
    _run_step(steps["Render the preview"], work, env)
    files = _git(origin, "ls-tree", "-r", "--name-only", "anubis-previews").splitlines()
    folder = "manifests-preview/pr-7"
    # hello-again runs on cpu-cluster: its namespace anubis-pr-7-cpu-cluster gets the support objects
    assert [f for f in files if f.endswith("/_namespace.yaml")] == [f"{folder}/cpu-cluster/_namespace.yaml"]
    assert any(f.startswith(f"{folder}/cpu-cluster/hello-again/") for f in files)
    # hello-again runs on cpu-cluster only: no gpu-cluster folder, so the previews ApplicationSet's git
    # directory generator makes no gpu-cluster Application for this pull request
    assert {f.split("/")[2] for f in files if f.startswith(f"{folder}/")} - {"reruns.json"} == {"cpu-cluster"}
    support = [o for o in yaml.safe_load_all(_git(origin, "show", f"anubis-previews:{folder}/cpu-cluster/_namespace.yaml")) if o]
    assert {(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in support} == {
        ("ServiceAccount", "anubis-run", "anubis-pr-7-cpu-cluster"),
        ("RoleBinding", "anubis-controller", "anubis-pr-7-cpu-cluster")}
    run = next(f for f in files if "/hello-again/" in f)
    (job,) = [o for o in yaml.safe_load_all(_git(origin, "show", f"anubis-previews:{run}")) if o and o["kind"] == "Job"]
    assert job["metadata"]["namespace"] == "anubis-pr-7-cpu-cluster"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "anubis-run"

    _run_step(steps["Tear the preview down"], work, {"PR_NUMBER": "7", "ANUBIS_BOT_TOKEN": ""})
    left = _git(origin, "ls-tree", "-r", "--name-only", "anubis-previews").splitlines()
    assert not [f for f in left if f.startswith(f"{folder}/")]


# -- the loop on a cluster: Argo CD applies, the controller reports --------------------------------

LOGS = {"benchmark": ["Epoch 1: train loss 1.000", "Epoch 2: train loss 0.500", "Epoch 3: train loss 0.333",
                      "accuracy=0.875"]}


@dataclass
class Published:
    work: Path
    seed_commit: str  # hello-world's source commit (no pull request brought it)
    source: str  # hello-again's source commit, brought by pull request #1
    manifests: Path


def _publish(tmp_path: Path, github: github_api.FakeGitHub) -> Published:
    """A repository with hello-world, a merged pull request #1 adding hello-again, published by the bot."""
    _, work = _benchmarks_repository(tmp_path, "work")
    seed = _git(work, "rev-parse", "HEAD")
    _add_hello_again(work)
    _git(work, "commit", "--quiet", "-m", "Add hello-again")
    source = _git(work, "rev-parse", "HEAD")
    _git(work, "switch", "--quiet", "main")
    _git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #1", "add-hello-again")
    _git(work, "push", "--quiet", "origin", "main")
    publish = [s for s in _steps("publish.yml") if s.get("name") == "Publish"]
    _run_step(publish[0], work, {})
    github.add_pull(1, head_sha=source, state="closed", merged=True, head_ref="add-hello-again")
    return Published(work, seed, source, work / "manifests")


def _apply(api: FakeKubernetes, folder: Path) -> list[tuple[str, str, str]]:
    """Create every object of the manifests under ``folder`` over HTTP, as Argo CD's sync does;
    returns (plural, namespace, name) of each Job, MPIJob and CronJob."""
    plurals = {kind: plural for plural, (_, kind, _) in KINDS.items()}
    runs = []
    for path in sorted(folder.rglob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not obj:
                continue
            plural = plurals[obj["kind"]]
            version = obj["apiVersion"]
            prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
            namespace = obj["metadata"]["namespace"]
            request = urllib.request.Request(f"{api.url}{prefix}/namespaces/{namespace}/{plural}",
                                             data=json.dumps(obj).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 201
            if plural in ("jobs", "mpijobs", "cronjobs"):
                runs.append((plural, namespace, obj["metadata"]["name"]))
    return runs


@dataclass
class Loop:
    api: FakeKubernetes
    sim: ClusterSimulator
    controller: Any
    exporter: Any
    flusher: Any
    store: Any
    sleeps: list[float]


@pytest.fixture
def loop(tmp_path: Path, github: github_api.FakeGitHub) -> Iterator[Loop]:
    """The Kubernetes fake and simulator, and an in-process controller reporting to the GitHub fake."""
    from controller.kubernetes.client import KubeClient, RetryPolicy
    from controller.kubernetes.reconciler import Controller
    from controller.kubernetes.settings import ControllerSettings
    from controller.reporting.exporter import Flusher, GitHubExporter
    from controller.reporting.github import GitHubClient
    from controller.reporting.outbox import Outbox
    from controller.reporting.reporter import Reporter
    from controller.retrying import RetryPolicy as GitHubRetry
    from renderer.environments import load_environment

    api = FakeKubernetes(watch_chunk_wait=0.05).start()
    sim = ClusterSimulator(api)
    sim.add_node("node-1", "t3.small")
    store = SqliteResultStore(tmp_path / "results.sqlite3")
    # GitHub's time: the client's pacing and back-off sleep on it (without sleeping) and the fake's rate
    # limits count on it, so the test sees the waits exactly and runs at full speed
    api_clock = github_api.FakeClock()
    github.clock = api_clock.time
    sleeps = api_clock.slept
    client = GitHubClient("anubis-bench/anubis", CANARY, base_url=github.url, sleep=api_clock.sleep,
                          clock=api_clock.time, retry=GitHubRetry(attempts=3, base_delay=0.01, max_delay=120))
    reporter = Reporter(client, Outbox(tmp_path / "outbox.sqlite3"))
    links = {"cpu-cluster": load_environment(ROOT, "cpu-cluster").links}
    exporter = GitHubExporter(reporter, store, links=links, main_branch="main")
    settings = ControllerSettings(namespaces=("anubis-runs",), namespace_selector="anubis.dev/preview=true",
                                  resync_seconds=30, workers=2, tick_seconds=0.2)
    controller = Controller(KubeClient(api.api_client(), retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.2)),
                            store, settings=settings, exporters=[exporter])
    controller.start()
    assert controller.wait_synced(10)
    flusher = Flusher(exporter.flush, interval=3600)  # flushed by the test, then forced at shutdown
    flusher.start()
    yield Loop(api, sim, controller, exporter, flusher, store, sleeps)
    controller.stop(timeout=0)
    flusher.stop(timeout=1)
    api.stop()
    assert api.unexpected == []


def _drive(published: Published, loop: Loop, steps: int | None = None) -> list[Any]:
    runs = []
    for plural, namespace, name in _apply(loop.api, published.manifests / "cpu-cluster"):
        runs.append(loop.sim.adopt(plural, namespace, name, scenario.succeed(), logs=LOGS))
    for _ in range(steps or 0):
        loop.sim.step()
    return runs


def _reported(loop: Loop, runs: list[Any]) -> None:
    """Wait until every run is marked reported (the mark is written after the exporters ran)."""
    def marked() -> bool:
        objects = [loop.api.get(r.plural, r.namespace, r.name) or {} for r in runs]
        return all("anubis.dev/reported" in (o.get("metadata", {}).get("annotations") or {}) for o in objects)

    wait_for(marked, loop.sim)


def _normalised(body: str, published: Published) -> str:
    body = body.replace(published.source[:12], "<source>").replace(published.seed_commit[:12], "<seed>")
    return re.sub(r"`((?:hello-world|hello-again)-[0-9a-f]{10})-[0-9a-f]{8}`", r"`\1-<uid>`", body)


def _no_canary(github: github_api.FakeGitHub, published: Published, caplog: pytest.LogCaptureFixture,
               loop: Loop) -> None:
    assert all(CANARY not in r.headers["x-raw-body"] and CANARY not in r.raw for r in github.requests)
    assert all(CANARY not in c["body"] for comments in github.comments.values() for c in comments)
    assert CANARY not in caplog.text
    assert all(CANARY not in p.read_text(encoding="utf-8") for p in published.manifests.rglob("*.yaml"))
    assert all(CANARY not in json.dumps(o) for plural in KINDS for o in loop.api.objects(plural))


def test_controller_reports_statuses_and_the_comment(tmp_path: Path, github: github_api.FakeGitHub, loop: Loop,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    published = _publish(tmp_path, github)
    runs = _drive(published, loop, steps=3)  # pods created, scheduled, started: RUNNING
    assert len(runs) == 2

    def running() -> bool:
        reports = loop.exporter.reports(published.source) + loop.exporter.reports(published.seed_commit)
        return len(reports) == 2 and all(r.status.value == "RUNNING" for r in reports)

    wait_for(running)
    loop.flusher.flush_now(force=True)  # a flush while they run: the checks show "pending"
    for sha, benchmark in ((published.source, "hello-again"), (published.seed_commit, "hello-world")):
        assert github.latest_statuses(sha)[f"anubis/{benchmark}"]["state"] == "pending"
    assert len(github.marked_comments(1)) == 1

    loop.sim.run_all()
    _reported(loop, runs)
    loop.flusher.stop(timeout=1)  # the shutdown flush makes every queued write

    for sha, benchmark in ((published.source, "hello-again"), (published.seed_commit, "hello-world")):
        history = [s["state"] for s in github.statuses[sha] if s["context"] == f"anubis/{benchmark}"]
        assert history == ["pending", "success"], history
        final = github.latest_statuses(sha)[f"anubis/{benchmark}"]
        assert final["target_url"] == "https://argocd.example.com/applications/argocd/anubis-cpu-cluster"
    records = {r.benchmark: r for r in loop.store.list_runs(limit=10)}
    assert records["hello-again"].branch == "main" and records["hello-again"].commit == published.source
    assert records["hello-again"].metrics["accuracy"].values == (0.875,)
    [comment] = github.marked_comments(1)
    body = _normalised(comment["body"], published)
    expected = CASE / "expected-comment.md"
    if os.environ.get("ANUBIS_REGENERATE"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(body, encoding="utf-8")
    assert body == expected.read_text(encoding="utf-8")
    assert github.comments.get(1) and len(github.comments[1]) == 1
    assert len(github.write_times) >= 5 and _min_gap(github.write_times) >= 1.0  # writes paced a second apart
    assert [r for r in github.refused if r[2] >= 400] == []  # no 422, no rate limit
    _no_canary(github, published, caplog, loop)


def _min_gap(times: list[float]) -> float:
    return min(round(b - a, 6) for a, b in zip(times, times[1:]))


def test_github_faults_lose_nothing_and_duplicate_nothing(tmp_path: Path, github: github_api.FakeGitHub,
                                                          loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    published = _publish(tmp_path, github)
    runs = _drive(published, loop)
    loop.sim.run_all()
    _reported(loop, runs)
    # GitHub is down for a while: every attempt of the first flush fails, the outbox keeps the writes
    github.fail("POST", r"/statuses/", 500, times=6)
    github.fail("GET", r"/commits/[0-9a-f]+/pulls", 502, times=3)
    first = loop.flusher.flush_now(force=True)
    assert first is not None and first.failed == 3 and first.remaining == 3
    assert github.statuses == {}
    # then it answers, but throttles: 429 with Retry-After, a secondary rate limit, a comment created
    # by a request that then timed out (502 after the write)
    github.fail("POST", r"/statuses/", 429, retry_after=7)
    github.secondary_limit("POST", r"/statuses/", retry_after=11)
    github.fail("POST", r"/issues/1/comments$", 502, after=True)
    github.secondary_limit("PATCH", r"/issues/comments/\d+", retry_after=13)
    for _ in range(5):
        result = loop.flusher.flush_now(force=True)
        if result is not None and result.remaining == 0:
            break
    assert result is not None and result.remaining == 0
    assert {7.0, 11.0} <= set(loop.sleeps)  # Retry-After honoured (statuses: 429, secondary limit)
    for sha, benchmark in ((published.source, "hello-again"), (published.seed_commit, "hello-world")):
        assert github.latest_statuses(sha)[f"anubis/{benchmark}"]["state"] == "success"
    assert len(github.comments[1]) == 1 and len(github.marked_comments(1)) == 1
    assert "hello-again" in github.comments[1][0]["body"]
    # at most three writes per run: each run's final status, the one comment (created, then edited once)
    made = github.writes()
    assert len(made) <= 3 * 2, [f"{r.method} {r.path}" for r in made]
    assert _min_gap(github.write_times) >= 1.0
    _no_canary(github, published, caplog, loop)


# -- confirmation before alarm: suspected → a confirmation run asked for → /anubis rerun's path → verdict --

def _seed_history(store: Any, published: Published, runs: int = 24) -> None:
    """hello-again on main before this test's runs: ``runs`` executions at an accuracy of about 0.95."""
    import time

    now = time.time()
    for i in range(runs):
        at = now - 3600.0 * (runs - i)
        store.put(make_record(
            benchmark="hello-again", run_id="hello-again-0000000000", execution_id=f"hello-again-0000000000-{i:08x}",
            commit=f"{i:040x}", environment="cpu-cluster", branch="main", status=RunStatus.SUCCEEDED,
            started_at=at, finished_at=at + 30,
            metrics={"epoch": MetricResult("epoch", "index", "higher", (1.0, 2.0, 3.0), (at + 1, at + 2, at + 3)),
                     "train_loss": MetricResult("train_loss", "ratio", "lower", (1.0, 0.5, 0.333), (at + 1, at + 2, at + 3)),
                     "accuracy": MetricResult("accuracy", "ratio", "higher", (0.95 + 0.001 * (i % 3),), (at + 4,))}))


def _dispatch_event(tmp_path: Path, github: github_api.FakeGitHub) -> Path:
    """The repository_dispatch event GitHub hands the commands workflow (GITHUB_EVENT_PATH)."""
    [event] = github.dispatches
    path = tmp_path / "dispatch-event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


@pytest.mark.parametrize("holds", [True, False], ids=["confirmed", "not-confirmed"])
def test_a_suspected_change_asks_for_one_confirmation_run_through_the_rerun_path(
        tmp_path: Path, github: github_api.FakeGitHub, loop: Loop, caplog: pytest.LogCaptureFixture, holds: bool) -> None:
    published = _publish(tmp_path, github)
    _seed_history(loop.store, published)
    runs = _drive(published, loop)  # hello-again reports accuracy 0.875 against about 0.95: suspected
    loop.sim.run_all()
    _reported(loop, runs)
    loop.flusher.flush_now(force=True)

    # suspected: the check stays green, the comment says so, one confirmation run is asked for
    status = github.latest_statuses(published.source)["anubis/hello-again"]
    assert status["state"] == "success" and "suspected — confirming" in status["description"], status
    [comment] = github.marked_comments(1)
    assert "❔ suspected — confirming" in comment["body"] and "confirmation run 1 of 1 asked for" in comment["body"]
    [dispatch] = github.dispatches
    payload = dispatch["client_payload"]
    assert dispatch["action"] == "anubis-confirm" and payload["benchmark"] == "hello-again"
    assert payload["pull_request"] is None and payload["commit"] == published.source  # a run of the default branch
    suspected = payload["execution"]

    # the commands workflow, as GitHub runs it for the dispatch: /anubis rerun's path on the default branch
    steps = {s.get("name"): s for s in _steps("commands.yml")}
    env = {"GITHUB_EVENT_PATH": str(_dispatch_event(tmp_path, github)), "GITHUB_REPOSITORY": "anubis-bench/anubis",
           "GITHUB_API_URL": github.url, "ANUBIS_BOT_TOKEN": CANARY, "PR_NUMBER": ""}
    answered = _run_step(steps["Respond"], published.work, env)
    assert "confirming hello-again on the default branch: 1 descriptor(s) bumped" in answered.stdout
    bump = _git(published.work, "log", "-1", "--format=%an|%s|%b")
    assert bump.startswith(f"anubis-bot|Re-run hello-again to confirm the change suspected in {suspected}")
    assert f"Anubis-Confirmation: {payload['key']}" in bump
    # GitHub may deliver a dispatch twice (a lost answer): the second finds the bump and does nothing
    again = _run_step(steps["Respond"], published.work, env)
    assert "already re-run" in again.stdout
    _run_step(steps["Publish a rerun on the default branch"], published.work, env)
    [manifest] = sorted((published.manifests / "cpu-cluster" / "hello-again").glob("*.yaml"))
    assert manifest.stem != payload["run_id"]  # info.rerun bumped: a new run id, the same content

    # Argo CD syncs the rerun; the confirmation run lands at the suspected level, or back at the old one
    only = tmp_path / "rerun"
    only.mkdir()
    shutil.copy2(manifest, only / manifest.name)
    logs = {"benchmark": LOGS["benchmark"][:3] + ["accuracy=0.875" if holds else "accuracy=0.951"]}
    rerun = [loop.sim.adopt(plural, namespace, name, scenario.succeed(), logs=logs)
             for plural, namespace, name in _apply(loop.api, only)]
    loop.sim.run_all()
    _reported(loop, rerun)
    loop.flusher.flush_now(force=True)

    assert len(github.dispatches) == 1  # never a confirmation of the confirmation
    confirmation = next(r.execution_id for r in loop.store.list_runs(limit=50) if r.run_id == manifest.stem)
    status = github.latest_statuses(published.source)["anubis/hello-again"]
    [comment] = github.marked_comments(1)
    if holds:
        assert status["state"] == "failure" and f"confirmed by run {confirmation}" in status["description"], status
        assert f"was **confirmed** by run `{confirmation}`" in comment["body"]
        assert "🔻 regression (fails)" in comment["body"]
    else:
        assert status["state"] == "success" and f"not confirmed by run {confirmation}" in status["description"], status
        assert f"was **not confirmed** by run `{confirmation}`" in comment["body"]
        assert "🔻" not in comment["body"]
    assert "suspected — confirming" not in comment["body"]
    _no_canary(github, published, caplog, loop)


def test_a_confirmation_run_of_a_pull_request_rerenders_its_preview_once(
        tmp_path: Path, github: github_api.FakeGitHub) -> None:
    """A dispatch naming a pull request: the preview is rendered again with the benchmark's rerun count
    bumped (what /anubis rerun does), the pull request is told why, and a repeated dispatch does nothing."""
    from renderer.argocd import PREVIEW_BRANCH, PREVIEW_LABEL

    origin, work, head = _pull_request_7(tmp_path)
    github.add_pull(7, head_sha=head, labels=(PREVIEW_LABEL,), head_ref="add-hello-again")
    preview = {s.get("name"): s for s in _steps("preview.yml")}
    _run_step(preview["Render the preview"], work, {"PR_NUMBER": "7", "HEAD_SHA": head, "HEAD_REF": "add-hello-again",
                                                    "ANUBIS_BOT_TOKEN": ""})
    folder = "manifests-preview/pr-7"

    def runs() -> set[str]:
        listed = _git(origin, "ls-tree", "-r", "--name-only", PREVIEW_BRANCH).splitlines()
        return {f for f in listed if f.startswith(f"{folder}/cpu-cluster/hello-again/")}

    before = runs()
    key = "confirm:hello-again:hello-again-0123456789-abcdef01:1"
    github.dispatches.append({"action": "anubis-confirm", "branch": "main", "client_payload": {
        "key": key, "benchmark": "hello-again", "execution": "hello-again-0123456789-abcdef01",
        "run_id": "hello-again-0123456789", "commit": head, "pull_request": 7, "environment": "cpu-cluster",
        "confirmation": 1, "of": 1, "metrics": "accuracy"}, "repository": {"full_name": github.repo},
        "sender": {"login": github.bot}})
    steps = {s.get("name"): s for s in _steps("commands.yml")}
    env = {"GITHUB_EVENT_PATH": str(_dispatch_event(tmp_path, github)), "GITHUB_REPOSITORY": github.repo,
           "GITHUB_API_URL": github.url, "ANUBIS_BOT_TOKEN": CANARY, "PR_NUMBER": "7"}
    _run_step(steps["Respond"], work, env)
    after = runs()
    assert len(after) == 1 and after != before  # a new run id for the same content
    assert json.loads(_git(origin, "show", f"{PREVIEW_BRANCH}:{folder}/reruns.json")) == {"hello-again": 1}
    assert json.loads(_git(origin, "show", f"{PREVIEW_BRANCH}:{folder}/confirmations.json")) == [key]
    [reply] = [c["body"] for c in github.comments[7]]
    assert "re-running it to confirm (confirmation run 1 of 1)" in reply
    # delivered twice: nothing more
    assert "was re-run already" in _run_step(steps["Respond"], work, env).stdout
    assert runs() == after and len(github.comments[7]) == 1  # no second rerun, no second reply
