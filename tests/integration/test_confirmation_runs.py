"""Confirmation before alarm through the controller's GitHub exporter: a real SQLite result store, the
durable outbox and the fake GitHub over HTTP. A pull request's suspected run asks for one confirmation
run (a ``repository_dispatch``, made once even across restarts); the confirmation, judged with the
suspected run, turns the check red (confirmed) or leaves it green (not confirmed), and the comment
says which run decided. The fake answers ``POST /dispatches`` as GitHub does (204, 422, 404)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import github_api
from fakes.runs import make_record, make_spec

from controller.exporting.base import ExportContext
from controller.reporting import commands
from controller.reporting.exporter import GitHubExporter
from controller.reporting.github import GitHubClient, PermanentGitHubError
from controller.reporting.outbox import Outbox
from controller.reporting.reporter import Reporter
from controller.retrying import RetryPolicy
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, ResultRecord
from schemas.status import RunStatus

TOKEN = "ghp_confirmation_test"
SHA = "c" * 40
STARTED = 1_700_000_000.0


@pytest.fixture
def github() -> Iterator[github_api.FakeGitHub]:
    for fake in github_api.serve(repo="acme/benchmarks", token=TOKEN):
        fake.add_pull(7, head_sha=SHA, labels=("anubis-preview",))
        yield fake
        assert not fake.unexpected, f"requests the fake did not expect: {fake.unexpected}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteResultStore]:
    """resnet on main: 20 runs at a latency of about 10 ms."""
    with SqliteResultStore(tmp_path / "results.sqlite3") as opened:
        for i in range(20):
            opened.put(_record(f"resnet-main000000-{i:08x}", 10.0 + 0.02 * (i % 3), i, branch="main",
                                pull_request=None, commit=f"{i:040x}"))
        yield opened


def _record(execution_id: str, latency: float, hour: int, **kw: object) -> ResultRecord:
    at = STARTED + 3600 * hour
    values: dict[str, object] = dict(benchmark="resnet", execution_id=execution_id, started_at=at, finished_at=at + 60,
                                     metrics={"latency": MetricResult("latency", "ms", "lower", (latency,), (at + 30,))},
                                     branch="feature", pull_request=7, commit=SHA)
    values.update(kw)
    return make_record(**values)


def _exporter(github: github_api.FakeGitHub, store: SqliteResultStore, outbox: Path) -> GitHubExporter:
    client = GitHubClient("acme/benchmarks", TOKEN, base_url=github.url, sleep=lambda _: None,
                          retry=RetryPolicy(attempts=3, base_delay=0.0, max_delay=1.0))
    return GitHubExporter(Reporter(client, Outbox(outbox)), store)


def _finish(exporter: GitHubExporter, store: SqliteResultStore, record: ResultRecord) -> None:
    store.put(record)
    exporter.export(ExportContext(make_spec(run_id=record.run_id), record))
    exporter.flush(force=True)


def _suspected_run(github: github_api.FakeGitHub, store: SqliteResultStore, tmp_path: Path) -> GitHubExporter:
    exporter = _exporter(github, store, tmp_path / "outbox.sqlite3")
    _finish(exporter, store, _record("resnet-0123456789-0000e001", 13.0, 30, run_id="resnet-0123456789"))
    [dispatch] = github.dispatches
    assert dispatch["action"] == "anubis-confirm"
    payload = dispatch["client_payload"]
    assert payload["key"] == "confirm:resnet:resnet-0123456789-0000e001:1"
    assert (payload["benchmark"], payload["pull_request"], payload["confirmation"], payload["of"]) == ("resnet", 7, 1, 1)
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "success" and "suspected — confirming" in status["description"]
    [comment] = github.marked_comments(7)
    assert "❔ suspected — confirming" in comment["body"]
    assert "a change is suspected in `resnet-0123456789-0000e001` — confirmation run 1 of 1 asked for" in comment["body"]
    return exporter


def test_a_confirmed_change_turns_the_check_red(github: github_api.FakeGitHub, store: SqliteResultStore,
                                                tmp_path: Path) -> None:
    exporter = _suspected_run(github, store, tmp_path)
    # the rerun (/anubis rerun's path: info.rerun bumped, a new run id) lands at the same level
    _finish(exporter, store, _record("resnet-9876543210-0000e002", 13.1, 31, run_id="resnet-9876543210"))
    assert len(github.dispatches) == 1  # one confirmation run asked for, no confirmation of a confirmation
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "failure", status
    assert "regression in latency" in status["description"]
    assert "confirmed by run resnet-9876543210-0000e002" in status["description"]
    [comment] = github.marked_comments(7)
    body = comment["body"]
    assert "the change suspected in `resnet-0123456789-0000e001` was **confirmed** by run `resnet-9876543210-0000e002`" in body
    assert "🔻 regression (fails)" in body and "suspected — confirming" not in body
    assert "· 1 run<" in body and body.count("| resnet | ✅") == 1  # the suspected run and its confirmation: one row


def test_a_change_that_is_not_confirmed_stays_green(github: github_api.FakeGitHub, store: SqliteResultStore,
                                                    tmp_path: Path) -> None:
    exporter = _suspected_run(github, store, tmp_path)
    _finish(exporter, store, _record("resnet-9876543210-0000e002", 10.01, 31, run_id="resnet-9876543210"))
    assert len(github.dispatches) == 1
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "success" and "not confirmed by run resnet-9876543210-0000e002" in status["description"]
    body = github.marked_comments(7)[0]["body"]
    assert "was **not confirmed** by run `resnet-9876543210-0000e002`" in body
    assert body.startswith("<!-- anubis:report -->\n### ✅ Anubis: 1 run succeeded, no regression")
    assert "suspected — confirming" not in body and "🔻" not in body


def _failed(execution_id: str, hour: int, run_id: str, status: RunStatus = RunStatus.FAILED) -> ResultRecord:
    """A confirmation run that ended without results (the pod's exit code, a lost node...)."""
    return _record(execution_id, 0.0, hour, run_id=run_id, status=status, reason="container bench exited with 137",
                   metrics={})


def test_a_failed_confirmation_run_is_asked_for_again_and_the_retry_decides(
        github: github_api.FakeGitHub, store: SqliteResultStore, tmp_path: Path) -> None:
    exporter = _suspected_run(github, store, tmp_path)
    _finish(exporter, store, _failed("resnet-9876543210-0000e002", 31, "resnet-9876543210"))
    assert len(github.dispatches) == 2  # the same confirmation, asked for again under a key of its own
    retry = github.dispatches[1]["client_payload"]
    assert retry["key"] == "confirm:resnet:resnet-0123456789-0000e001:2"
    assert (retry["confirmation"], retry["of"]) == (1, 1)  # still the first of the one run the policy allows
    assert isinstance(commands.parse_dispatch(retry), commands.Confirm)  # anubis respond acts on it
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "success" and "suspected — confirming" in status["description"]
    body = github.marked_comments(7)[0]["body"]
    assert ("run `resnet-9876543210-0000e002` ended without results, so it was asked for again" in body), body
    _finish(exporter, store, _record("resnet-5555555555-0000e003", 13.1, 32, run_id="resnet-5555555555"))
    assert len(github.dispatches) == 2
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "failure" and "confirmed by run resnet-5555555555-0000e003" in status["description"]
    body = github.marked_comments(7)[0]["body"]
    assert "was **confirmed** by run `resnet-5555555555-0000e003`" in body


def test_confirmation_runs_that_keep_failing_stop_asking(github: github_api.FakeGitHub, store: SqliteResultStore,
                                                         tmp_path: Path) -> None:
    """A benchmark that now fails every time does not ask for runs for ever: one retry per allowed run."""
    exporter = _suspected_run(github, store, tmp_path)
    _finish(exporter, store, _failed("resnet-9876543210-0000e002", 31, "resnet-9876543210"))
    _finish(exporter, store, _failed("resnet-5555555555-0000e003", 32, "resnet-5555555555", RunStatus.TIMED_OUT))
    assert len(github.dispatches) == 2
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "success", status  # a change only suspected turns nothing red
    assert "still suspected: confirmation run resnet-5555555555-0000e003 ended without results" in status["description"]
    body = github.marked_comments(7)[0]["body"]
    assert "confirmation run `resnet-5555555555-0000e003` ended TIMED_OUT; 2 confirmation runs ended without results" in body
    # seen again after a restart: still nothing more
    exporter.export(ExportContext(make_spec(run_id="resnet-5555555555"), store.get("resnet-5555555555-0000e003")))
    exporter.flush(force=True)
    assert len(github.dispatches) == 2


def test_a_canceled_confirmation_run_ends_the_chain(github: github_api.FakeGitHub, store: SqliteResultStore,
                                                    tmp_path: Path) -> None:
    exporter = _suspected_run(github, store, tmp_path)
    _finish(exporter, store, _failed("resnet-9876543210-0000e002", 31, "resnet-9876543210", RunStatus.CANCELED))
    assert len(github.dispatches) == 1  # someone stopped it on purpose: nothing asked again
    body = github.marked_comments(7)[0]["body"]
    assert "confirmation run `resnet-9876543210-0000e002` ended CANCELED; no more are asked for" in body


def test_a_restarted_controller_asks_for_nothing_twice(github: github_api.FakeGitHub, store: SqliteResultStore,
                                                       tmp_path: Path) -> None:
    _suspected_run(github, store, tmp_path)
    # a new process on the same outbox file sees the suspected execution again (its journal replayed)
    again = _exporter(github, store, tmp_path / "outbox.sqlite3")
    again.export(ExportContext(make_spec(run_id="resnet-0123456789"), store.get("resnet-0123456789-0000e001")))
    again.flush(force=True)
    assert len(github.dispatches) == 1
    _finish(again, store, _record("resnet-9876543210-0000e002", 13.1, 31, run_id="resnet-9876543210"))
    again.export(ExportContext(make_spec(run_id="resnet-9876543210"), store.get("resnet-9876543210-0000e002")))
    again.flush(force=True)
    assert len(github.dispatches) == 1
    assert github.latest_statuses(SHA)["anubis/resnet"]["state"] == "failure"


def test_a_dispatch_github_refuses_is_dropped_not_retried_for_ever(github: github_api.FakeGitHub,
                                                                    store: SqliteResultStore, tmp_path: Path) -> None:
    github.read_only = True  # a token without contents: write gets 404, as on GitHub
    exporter = _exporter(github, store, tmp_path / "outbox.sqlite3")
    _finish(exporter, store, _record("resnet-0123456789-0000e001", 13.0, 30, run_id="resnet-0123456789"))
    assert github.dispatches == [] and exporter.reporter.outbox.count() == 0
    assert ("POST", "/repos/acme/benchmarks/dispatches", 404) in github.refused


def test_the_fake_answers_dispatches_as_github_does(github: github_api.FakeGitHub) -> None:
    client = GitHubClient("acme/benchmarks", TOKEN, base_url=github.url, sleep=lambda _: None)
    client.dispatch("anubis-confirm", {"key": "k"})  # 204 No Content
    assert github.dispatches[0]["client_payload"] == {"key": "k"} and github.requests[-1].status == 204
    eleven = {f"p{i}": i for i in range(11)}
    with pytest.raises(PermanentGitHubError) as refused:
        client.request("POST", "/repos/acme/benchmarks/dispatches", {"event_type": "x", "client_payload": eleven})
    assert refused.value.status == 422 and "10 top-level properties" in str(refused.value)
    with pytest.raises(PermanentGitHubError):
        client.request("POST", "/repos/acme/benchmarks/dispatches", {"event_type": "x" * 101})
    with pytest.raises(PermanentGitHubError):  # the client refuses to send what GitHub would refuse
        client.dispatch("anubis-confirm", eleven)
    assert len(github.dispatches) == 1


def test_respond_refuses_a_malformed_confirmation_request_with_a_sentence(github: github_api.FakeGitHub,
                                                                          tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from anubis.cli import cli

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "anubis-confirm", "branch": "main", "client_payload": {
        "key": "confirm:resnet:e1:1", "benchmark": "resnet; rm -rf /", "execution": "e1", "pull_request": 7,
        "confirmation": 1, "of": 1}}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["respond", "--event", str(event), "--repo", "acme/benchmarks",
                                      "--api-url", github.url], env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "The confirmation request cannot be acted on" in result.output
    assert github.requests == [] and github.comments.get(7) is None  # nothing asked, nothing written
