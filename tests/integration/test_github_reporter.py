"""The reporter against a fake GitHub over HTTP (PyGithub underneath): statuses, one comment edited
in place, pagination, faults (5xx, 429 Retry-After, secondary limits) and a token that never leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import github_api
from fakes.runs import make_record

from controller.reporting.github import (
    MARKER,
    GitHubClient,
    RetryPolicy,
    TransientGitHubError,
)
from controller.reporting.outbox import Outbox
from controller.reporting.reporter import Reporter
from controller.reporting.runreport import MetricVerdict, RunReport
from schemas.environment import Links
from schemas.status import RunStatus

CANARY = "ghp_CANARY0123456789abcdefCANARY"
SHA = "a" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def github() -> Iterator[github_api.FakeGitHub]:
    for fake in github_api.serve(repo="acme/benchmarks", token=CANARY):
        fake.add_pull(7, head_sha=SHA)
        yield fake
        assert not fake.unexpected, f"requests the fake did not expect: {fake.unexpected}"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(github: github_api.FakeGitHub, sleeps: list[float]) -> GitHubClient:
    return GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=sleeps.append,
                        retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=120.0))


def _report(benchmark: str, status: RunStatus, **kw: object) -> RunReport:
    if status.is_final:
        record = make_record(benchmark=benchmark, status=status, run_id=f"{benchmark}-0123456789",
                             execution_id=f"{benchmark}-0123456789-abcdef01")
        return RunReport.from_record(record, links=Links(argocd_url="https://argocd.example.com/applications/argocd/anubis-cpu"),
                                     **kw)  # type: ignore[arg-type]
    return RunReport(benchmark=benchmark, run_id=f"{benchmark}-0123456789", status=status)


def test_statuses_and_one_comment_edited_in_place(github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path) -> None:
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "outbox.sqlite3", clock=clock))
    reporter.update(SHA, [_report("resnet", RunStatus.RUNNING)], pull_requests=[7])
    clock.now += 100
    reporter.flush()
    assert github.latest_statuses(SHA)["anubis/resnet"]["state"] == "pending"
    clock.now += 100
    verdicts = {"throughput": MetricVerdict("regression", change=-0.08, confidence=0.99, baseline=120.0)}
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED, verdicts=verdicts,
                                  fail_on_regression=frozenset({"throughput"}))], pull_requests=[7])
    clock.now += 200
    reporter.flush()
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "failure" and "throughput -8.0%" in status["description"]
    assert status["target_url"].startswith("https://argocd.example.com/")
    comments = github.marked_comments(7)
    assert len(comments) == 1
    assert "regression" in comments[0]["body"]
    # a second update edits the same comment, it does not add one
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED)], pull_requests=[7])
    clock.now += 200
    reporter.flush()
    assert len(github.marked_comments(7)) == 1
    comment_writes = [r.method for r in github.writes() if "/comments" in r.path]
    assert comment_writes == ["POST", "PATCH", "PATCH"]


def test_a_quick_run_costs_at_most_three_writes(github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path) -> None:
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "outbox.sqlite3", clock=clock))
    for status in (RunStatus.PENDING, RunStatus.INITIALIZING, RunStatus.RUNNING):
        reporter.update(SHA, [_report("resnet", status)], pull_requests=[7])
        clock.now += 1
        reporter.flush()
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED)], pull_requests=[7])
    reporter.flush()
    clock.now += 300
    reporter.flush()
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED)], pull_requests=[7])  # reported again: no write
    clock.now += 300
    reporter.flush()
    assert len(github.writes()) <= 3
    assert github.latest_statuses(SHA)["anubis/resnet"]["state"] == "success"
    assert len(github.marked_comments(7)) == 1


def test_the_marker_is_found_on_page_three(github: github_api.FakeGitHub, client: GitHubClient) -> None:
    for i in range(230):
        github.add_comment(7, f"comment {i}")
    existing = github.add_comment(7, f"{MARKER}\nold report", user="anubis-bot[bot]")
    for i in range(5):
        github.add_comment(7, f"later {i}")
    assert client.upsert_comment(7, f"{MARKER}\nnew report") == existing
    pages = [r for r in github.requests if r.method == "GET" and r.path.endswith("/issues/7/comments")]
    assert len(pages) == 3
    assert len(github.marked_comments(7)) == 1 and "new report" in github.marked_comments(7)[0]["body"]


def test_faults_every_final_status_arrives_and_no_duplicate_comment(
    github: github_api.FakeGitHub, client: GitHubClient, sleeps: list[float], tmp_path: Path
) -> None:
    github.fail("POST", r"/statuses/", 500, times=2)
    github.fail("POST", r"/statuses/", 429, retry_after=7)
    github.secondary_limit("POST", r"/statuses/", retry_after=11)
    github.fail("GET", r"/issues/7/comments", 502)
    github.fail("POST", r"/issues/7/comments", 500, after=True)  # created, but the client sees a 500
    github.secondary_limit("PATCH", r"/issues/comments/", retry_after=3)
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "outbox.sqlite3", clock=clock))
    reports = [_report(name, RunStatus.SUCCEEDED) for name in ("a", "b", "c")] + [_report("d", RunStatus.FAILED)]
    reporter.update(SHA, reports, pull_requests=[7])
    clock.now += 300
    reporter.flush()
    reporter.update(SHA, reports[:3] + [_report("d", RunStatus.TIMED_OUT)], pull_requests=[7])
    clock.now += 300
    reporter.flush()
    latest = github.latest_statuses(SHA)
    assert {c: s["state"] for c, s in latest.items()} == {
        "anubis/a": "success", "anubis/b": "success", "anubis/c": "success", "anubis/d": "failure"}
    assert len(github.marked_comments(7)) == 1
    assert 7 in sleeps and 11 in sleeps and 3 in sleeps  # Retry-After honoured, exactly


def test_nothing_is_lost_while_github_is_down(github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "outbox.sqlite3"
    github.fail("POST", r"/statuses/", 503, times=10)
    reporter = Reporter(client, Outbox(path, clock=clock))
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED)], pull_requests=[7])
    result = reporter.flush()
    assert result.failed == 1 and result.remaining == 2
    # the process restarts; GitHub is back
    github.faults.clear()
    clock.now += 3600
    again = Reporter(client, Outbox(path, clock=clock))
    assert again.flush().remaining == 0
    assert github.latest_statuses(SHA)["anubis/resnet"]["state"] == "success"
    assert len(github.marked_comments(7)) == 1


def test_merged_commit_reports_on_the_pull_request_that_brought_it(
    github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path
) -> None:
    merged = "b" * 40
    github.add_pull(9, head_sha="c" * 40, state="closed", merged=True)
    github.commit_pulls[merged] = [9]
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "o.sqlite3", clock=clock))
    reporter.update(merged, [_report("resnet", RunStatus.SUCCEEDED)])
    clock.now += 300
    reporter.flush()
    assert github.latest_statuses(merged)["anubis/resnet"]["state"] == "success"
    assert len(github.marked_comments(9)) == 1


def test_permission_check(github: github_api.FakeGitHub, client: GitHubClient) -> None:
    github.permissions.update({"maintainer": "maintain", "reader": "read", "owner": "admin"})
    assert client.can_write("maintainer") and client.can_write("owner")
    assert not client.can_write("reader") and not client.can_write("stranger")


def test_gives_up_with_a_transient_error_when_the_wait_is_too_long(
    github: github_api.FakeGitHub, client: GitHubClient
) -> None:
    github.fail("POST", r"/statuses/", 429, retry_after=3600)
    with pytest.raises(TransientGitHubError, match="outbox will retry"):
        client.create_status(SHA, "success", "anubis/x", "ok", None)


def test_the_token_never_appears_in_bodies_logs_or_comments(
    github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record = make_record(benchmark="leaky", status=RunStatus.FAILED, reason=f"printed {CANARY} to its log")
    github.fail("POST", r"/statuses/", 500)
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "o.sqlite3", clock=clock))
    reporter.update(SHA, [RunReport.from_record(record)], pull_requests=[7])
    clock.now += 300
    reporter.flush()
    assert github.requests
    for request in github.requests:
        assert CANARY not in request.headers["x-raw-body"]
        assert CANARY not in request.raw
    for comments in github.comments.values():
        assert all(CANARY not in c["body"] for c in comments)
    assert CANARY not in caplog.text
