"""The reporter against a fake GitHub over HTTP (PyGithub underneath): statuses, one comment edited
in place, pagination, faults (5xx, 429 Retry-After, secondary limits) and a token that never leaks;
GitHub's limits as the fake enforces them (1,000 statuses per sha and context, 65,536-character
bodies, 80/500 writes a minute/hour, the hourly request limit), writes paced on a fake clock, and a
report comment that only its own author edits."""

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
    PermanentGitHubError,
    TransientGitHubError,
)
from controller.reporting.outbox import STATUS_BUDGET, Outbox
from controller.reporting.pacing import WriteBudget
from controller.reporting.reporter import Reporter
from controller.reporting.runreport import MetricVerdict, RunReport
from controller.reporting.statuses import commit_status
from controller.retrying import RetryPolicy
from schemas.environment import Links
from schemas.errors import ReporterError
from schemas.status import RunStatus

CANARY = "ghp_CANARY0123456789abcdefCANARY"
SHA = "a" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api_clock() -> github_api.FakeClock:
    """The time of the client and of the fake GitHub: it moves only when the client sleeps."""
    return github_api.FakeClock()


@pytest.fixture
def github(api_clock: github_api.FakeClock) -> Iterator[github_api.FakeGitHub]:
    for fake in github_api.serve(repo="acme/benchmarks", token=CANARY):
        fake.clock = api_clock.time
        fake.add_pull(7, head_sha=SHA)
        yield fake
        assert not fake.unexpected, f"requests the fake did not expect: {fake.unexpected}"


@pytest.fixture
def sleeps(api_clock: github_api.FakeClock) -> list[float]:
    return api_clock.slept


@pytest.fixture
def client(github: github_api.FakeGitHub, api_clock: github_api.FakeClock) -> GitHubClient:
    return GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time,
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


# ---- GitHub's limits, and pacing ------------------------------------------------------------------------


def _gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in zip(times, times[1:])]  # the fake clock's floats, to the microsecond


def test_writes_are_paced_a_second_apart(github: github_api.FakeGitHub, client: GitHubClient,
                                         api_clock: github_api.FakeClock, tmp_path: Path) -> None:
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "o.sqlite3", clock=clock))
    reporter.update(SHA, [_report(name, RunStatus.SUCCEEDED) for name in "abcdef"], pull_requests=[7])
    clock.now += 300
    assert reporter.flush().remaining == 0
    assert len(github.write_times) == 7  # six statuses, one comment
    assert min(_gaps(github.write_times)) >= 1.0
    assert sum(api_clock.slept) >= 6.0  # the waits were the client's, on the fake clock: no real sleeping


def test_the_minute_budget_holds_writes_back(github: github_api.FakeGitHub, api_clock: github_api.FakeClock) -> None:
    client = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time,
                          budget=WriteBudget(min_interval=0.0, per_minute=5, per_hour=500))
    for i in range(7):
        client.create_status(SHA, "success", f"anubis/b{i}", "ok", None)
    times = github.write_times
    assert times[5] - times[0] >= 60.0 and times[6] - times[1] >= 60.0
    assert _gaps(times)[:4] == [0.0, 0.0, 0.0, 0.0]


def test_the_hour_budget_fails_fast_and_the_outbox_retries_later(
    github: github_api.FakeGitHub, api_clock: github_api.FakeClock, tmp_path: Path
) -> None:
    client = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time,
                          budget=WriteBudget(per_hour=3), retry=RetryPolicy(max_delay=120.0))
    outbox = Outbox(tmp_path / "o.sqlite3", clock=api_clock.time)
    reporter = Reporter(client, outbox)
    reporter.update(SHA, [_report(name, RunStatus.SUCCEEDED) for name in "abcd"], pull_requests=[7])
    api_clock.advance(300)
    result = reporter.flush()
    assert result.sent == 3 and result.failed == 2 and len(github.write_times) == 3
    assert max(api_clock.slept) <= 120.0  # it did not block for the hour
    api_clock.advance(3600)
    assert reporter.flush().remaining == 0
    assert len(github.latest_statuses(SHA)) == 4 and len(github.marked_comments(7)) == 1


@pytest.mark.parametrize("answer", [403, 429])
def test_a_secondary_limit_holds_every_request_for_retry_after(
    answer: int, github: github_api.FakeGitHub, api_clock: github_api.FakeClock
) -> None:
    """Past 80 writes a minute the fake answers 403 or 429 with Retry-After (as GitHub documents both);
    the client waits that long before *any* request, then goes on, losing nothing."""
    github.secondary_status = answer
    client = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time,
                          budget=WriteBudget(min_interval=0.1, per_minute=1000, per_hour=1000))
    for i in range(85):
        client.create_status(SHA, "success", f"anubis/b{i}", "ok", None)
    limited = [r for r in github.refused if r[2] == answer]
    assert len(limited) == 1
    assert len(github.latest_statuses(SHA)) == 85
    retry_after = 60 - 80 * 0.1
    assert any(abs(s - retry_after) <= 1.0 for s in api_clock.slept)
    assert min(_gaps(github.write_times)) >= 0.1


def test_the_request_limit_counts_down_and_the_client_stops_at_zero(
    github: github_api.FakeGitHub, api_clock: github_api.FakeClock
) -> None:
    github.rate_limit = 3
    client = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time)
    remaining = [client.request("GET", "/repos/acme/benchmarks/pulls/7").headers["x-ratelimit-remaining"]
                 for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    sent = len(github.requests)
    with pytest.raises(TransientGitHubError, match="outbox will retry"):
        client.create_status(SHA, "success", "anubis/x", "ok", None)
    assert len(github.requests) == sent  # nothing sent before x-ratelimit-reset
    api_clock.advance(3601)
    client.create_status(SHA, "success", "anubis/x", "ok", None)
    assert github.latest_statuses(SHA)["anubis/x"]["state"] == "success"


def test_the_fake_refuses_the_1001st_status_and_a_body_over_65536_characters(
    github: github_api.FakeGitHub, client: GitHubClient
) -> None:
    github.statuses[SHA] = [{"state": "pending", "context": "anubis/x", "description": "", "target_url": None}] * 999
    client.create_status(SHA, "success", "anubis/x", "ok", None)
    with pytest.raises(PermanentGitHubError, match="maximum number of statuses") as refused:
        client.create_status(SHA, "failure", "anubis/x", "no", None)
    assert refused.value.status == 422
    client.create_status(SHA, "success", "anubis/other", "ok", None)  # per context
    client.upsert_comment(7, f"{MARKER}\n" + "x" * (65536 - len(MARKER) - 1))
    with pytest.raises(PermanentGitHubError, match="too long") as refused:
        client.upsert_comment(7, f"{MARKER}\n" + "x" * 65536)
    assert refused.value.status == 422


def test_a_schedule_of_1100_executions_never_hits_the_status_cap(
    github: github_api.FakeGitHub, client: GitHubClient, api_clock: github_api.FakeClock, tmp_path: Path
) -> None:
    """A scheduled benchmark runs again and again at one commit under one context. Each execution has
    its own duration (so its own description): written every time, that is two statuses an execution
    and GitHub's 422 from the 501st. The status is written only when state or verdict change: no 422,
    four statuses in all, every write paced. (The comment is left out here to keep the test quick; its
    pacing is checked above.)"""
    outbox = Outbox(tmp_path / "o.sqlite3", clock=api_clock.time)
    reporter = Reporter(client, outbox)
    unchanged = {"throughput": MetricVerdict("no_change", change=0.001, confidence=0.5, baseline=120.0)}
    regressed = {"throughput": MetricVerdict("regression", change=-0.2, confidence=0.99, baseline=120.0)}
    run_id = "nightly-0123456789"
    descriptions = set()
    for i in range(1100):
        reporter.update(SHA, [RunReport(benchmark="nightly", run_id=run_id, status=RunStatus.RUNNING)],
                        pull_requests=[])
        api_clock.advance(90)
        reporter.flush()
        record = make_record(benchmark="nightly", run_id=run_id, execution_id=f"{run_id}-{i:08x}",
                             finished_at=1_700_000_000.0 + 60 + i)
        verdicts = regressed if 500 <= i < 520 else unchanged  # a regression for a while, then fixed
        final = RunReport.from_record(record, verdicts=verdicts, fail_on_regression=frozenset({"throughput"}))
        descriptions.add(commit_status(final).description)
        reporter.update(SHA, [final], pull_requests=[])
        api_clock.advance(510)
        reporter.flush()
    assert len(descriptions) > 1000  # what writing every execution would have cost
    assert [r for r in github.refused if r[2] == 422] == []
    history = [s["state"] for s in github.statuses[SHA] if s["context"] == "anubis/nightly"]
    assert history == ["pending", "success", "failure", "success"]
    assert outbox.status_writes("acme/benchmarks", SHA, "anubis/nightly") == 4
    assert outbox.count() == 0
    assert min(_gaps(github.write_times)) >= 1.0


def test_the_outbox_stops_short_of_githubs_cap(github: github_api.FakeGitHub, client: GitHubClient,
                                                api_clock: github_api.FakeClock, tmp_path: Path) -> None:
    """Even a verdict that changes at every execution stays under 1,000 statuses for one context."""
    outbox = Outbox(tmp_path / "o.sqlite3", clock=api_clock.time)
    with outbox._connect() as db:  # the outbox has written all but two of its budget here
        db.execute("INSERT INTO statuses_written (repo, key, change, final, run_id, count) VALUES (?, ?, '', 1, '', ?)",
                   ("acme/benchmarks", f"status:{SHA}:anubis/flaky", STATUS_BUDGET - 2))
    reporter = Reporter(client, outbox)
    for i in range(5):
        status = RunStatus.SUCCEEDED if i % 2 else RunStatus.FAILED
        record = make_record(benchmark="flaky", run_id="flaky-0123456789", execution_id=f"flaky-{i:08x}",
                             status=status, reason="" if i % 2 else f"exit code {i}")
        reporter.update(SHA, [RunReport.from_record(record)], pull_requests=[])
        api_clock.advance(600)
        reporter.flush()
    assert len([s for s in github.statuses.get(SHA, []) if s["context"] == "anubis/flaky"]) == 2
    assert outbox.status_writes("acme/benchmarks", SHA, "anubis/flaky") == STATUS_BUDGET < 1000


def test_a_context_github_says_is_full_is_closed(github: github_api.FakeGitHub, client: GitHubClient,
                                                 api_clock: github_api.FakeClock, tmp_path: Path) -> None:
    """Statuses written by an earlier outbox (a lost volume, another tool): GitHub's 422 closes the context."""
    github.statuses[SHA] = [{"state": "success", "context": "anubis/old", "description": "", "target_url": None}] * 1000
    outbox = Outbox(tmp_path / "o.sqlite3", clock=api_clock.time)
    reporter = Reporter(client, outbox)
    record = make_record(benchmark="old", run_id="old-0123456789", status=RunStatus.FAILED, reason="exit 1")
    reporter.update(SHA, [RunReport.from_record(record)], pull_requests=[])
    api_clock.advance(60)
    assert reporter.flush().dropped == 1
    refused = len(github.refused)
    assert outbox.status_writes("acme/benchmarks", SHA, "anubis/old") == STATUS_BUDGET
    record = make_record(benchmark="old", run_id="old-0123456789", status=RunStatus.SUCCEEDED)
    reporter.update(SHA, [RunReport.from_record(record)], pull_requests=[])
    api_clock.advance(60)
    assert reporter.flush().dropped == 1 and len(github.refused) == refused  # not sent again


# ---- the comment belongs to its author ---------------------------------------------------------------------


def test_a_planted_marker_comment_by_someone_else_is_left_alone(
    github: github_api.FakeGitHub, client: GitHubClient, tmp_path: Path
) -> None:
    planted = github.add_comment(7, f"{MARKER}\nAll benchmarks passed, merge away!", user="mallory")
    clock = Clock()
    reporter = Reporter(client, Outbox(tmp_path / "o.sqlite3", clock=clock))
    reporter.update(SHA, [_report("resnet", RunStatus.FAILED)], pull_requests=[7])
    clock.now += 300
    reporter.flush()
    comments = {c["id"]: c for c in github.comments[7]}
    assert comments[planted]["body"] == f"{MARKER}\nAll benchmarks passed, merge away!"
    ours = [c for c in github.marked_comments(7) if c["user"]["login"] == github.bot]
    assert len(ours) == 1 and "resnet" in ours[0]["body"]
    # and the next report edits its own comment, not the planted one
    reporter.update(SHA, [_report("resnet", RunStatus.SUCCEEDED)], pull_requests=[7])
    clock.now += 300
    reporter.flush()
    assert comments[planted]["body"].endswith("merge away!")
    assert [c["id"] for c in github.marked_comments(7) if c["user"]["login"] == github.bot] == [ours[0]["id"]]
    assert sum(1 for r in github.requests if r.path == "/user") == 1  # the identity is asked once


def test_an_installation_token_needs_the_bots_login(github: github_api.FakeGitHub, api_clock: github_api.FakeClock) -> None:
    github.installation_token = True
    github.add_comment(7, f"{MARKER}\nold", user="anubis-bot[bot]")
    anonymous = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time)
    with pytest.raises(ReporterError, match="ANUBIS_GITHUB_LOGIN") as error:
        anonymous.upsert_comment(7, "new")
    assert not isinstance(error.value, PermanentGitHubError)  # kept in the outbox, not dropped
    named = GitHubClient("acme/benchmarks", CANARY, base_url=github.url, sleep=api_clock.sleep, clock=api_clock.time,
                         login="Anubis-Bot[bot]")
    found = named.upsert_comment(7, "new")
    assert github.marked_comments(7)[0]["id"] == found and "new" in github.marked_comments(7)[0]["body"]
