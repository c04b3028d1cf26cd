"""``/anubis accept [benchmark] [reason]`` end to end through ``anubis respond``: the fake GitHub over
HTTP (permission, pull request, reply, commit status), a real SQLite result store. A maintainer's
accept records a baseline reset with who and why, turns ``anubis/<benchmark>`` green and makes the
next verdict start a new baseline; anyone else gets a polite reply and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import github_api
from fakes.runs import make_record

from anubis.cli import cli
from controller.baselines import judge_record
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult

SHA = "c" * 40
STARTED = 1_700_000_000.0


@pytest.fixture
def github() -> Iterator[github_api.FakeGitHub]:
    for fake in github_api.serve(repo="acme/benchmarks", token="ghp_test"):
        fake.add_pull(7, head_sha=SHA, labels=("anubis-preview",))
        fake.permissions.update({"maria": "maintain", "guest": "read"})
        yield fake
        assert not fake.unexpected, f"requests the fake did not expect: {fake.unexpected}"


def _store(data_dir: Path) -> None:
    """resnet on main at latency 10 ms for 20 runs, then 13 ms twice (a step), the last one pull request #7's."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with SqliteResultStore(data_dir / "results.sqlite3") as store:
        for i in range(22):
            value = 10.0 + 0.02 * (i % 3) if i < 20 else 13.0 + 0.02 * i
            at = STARTED + 3600 * i
            store.put(make_record(
                benchmark="resnet", execution_id=f"resnet-{i:04d}", started_at=at, finished_at=at + 60,
                metrics={"latency": MetricResult("latency", "ms", "lower", (value,), (at + 30,))},
                branch="feature" if i == 21 else "main", pull_request=7 if i == 21 else None))


def _respond(github: github_api.FakeGitHub, tmp_path: Path, user: str, body: str) -> tuple[int, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "created", "issue": {"number": 7, "pull_request": {}},
                                 "comment": {"body": body, "user": {"login": user}}}), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["respond", "--event", str(event), "--repo", "acme/benchmarks", "--api-url", github.url],
        env={"GITHUB_TOKEN": "ghp_test", "ANUBIS_DATA_DIR": str(tmp_path / "data")})
    return result.exit_code, result.output


def _latest_verdict(data_dir: Path) -> str:
    with SqliteResultStore(data_dir / "results.sqlite3") as store:
        record = store.get("resnet-0021")
        return judge_record(store, record)["latency"].verdict.verdict


def test_a_maintainer_accepts_the_step(github: github_api.FakeGitHub, tmp_path: Path) -> None:
    _store(tmp_path / "data")
    assert _latest_verdict(tmp_path / "data") == "regression"  # confirmed: two runs at the new level
    code, out = _respond(github, tmp_path, "maria", "/anubis accept resnet new tokenizer, slower by design")
    assert code == 0, out
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        [reset] = store.resets("resnet")
    assert reset.by == "@maria" and reset.reason == "new tokenizer, slower by design" and reset.metric is None
    status = github.latest_statuses(SHA)["anubis/resnet"]
    assert status["state"] == "success" and status["description"] == "accepted by @maria: new tokenizer, slower by design"
    [reply] = [c["body"] for c in github.comments[7]]
    assert "@maria: accepted the change of `resnet` as deliberate" in reply
    # the reset happened after the runs: the next execution starts a new baseline
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        later = make_record(benchmark="resnet", execution_id="resnet-0022", started_at=reset.at + 1,
                            finished_at=reset.at + 60,
                            metrics={"latency": MetricResult("latency", "ms", "lower", (13.1,), (reset.at + 30,))})
        store.put(later)
        assert judge_record(store, later)["latency"].verdict.verdict == "insufficient_data"


def test_accept_without_a_name_takes_the_pull_requests_benchmarks(github: github_api.FakeGitHub, tmp_path: Path) -> None:
    _store(tmp_path / "data")
    code, out = _respond(github, tmp_path, "maria", "/anubis accept The new loader is slower (see #12)")
    assert code == 0, out
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        [reset] = store.resets("resnet")
    assert reset.reason == "The new loader is slower (see #12)"
    assert github.latest_statuses(SHA)["anubis/resnet"]["state"] == "success"


def test_others_cannot_accept(github: github_api.FakeGitHub, tmp_path: Path) -> None:
    _store(tmp_path / "data")
    code, out = _respond(github, tmp_path, "guest", "/anubis accept resnet looks fine to me")
    assert code == 0, out
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        assert store.resets("resnet") == []
    assert SHA not in github.statuses
    [reply] = [c["body"] for c in github.comments[7]]
    assert "Only people with write access" in reply


def test_accepting_an_unknown_benchmark_is_a_clear_error(github: github_api.FakeGitHub, tmp_path: Path) -> None:
    _store(tmp_path / "data")
    code, out = _respond(github, tmp_path, "maria", "/anubis accept bert")
    assert code == 2 and "No executions of benchmark 'bert'" in out and "Traceback" not in out
    assert SHA not in github.statuses
