from __future__ import annotations

import pytest
from fakes.runs import make_record

from controller.reporting.runreport import MetricVerdict, RunReport
from controller.reporting.statuses import MAX_DESCRIPTION, commit_status, status_context
from schemas.environment import Links
from schemas.status import RunStatus


def _report(status: RunStatus, **kw: object) -> RunReport:
    record = make_record(status=status, reason=str(kw.pop("reason", "")))
    return RunReport.from_record(record, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (RunStatus.PENDING, "pending"), (RunStatus.FETCHING_DATA, "pending"), (RunStatus.INITIALIZING, "pending"),
        (RunStatus.RUNNING, "pending"), (RunStatus.SUCCEEDED, "success"), (RunStatus.FAILED, "failure"),
        (RunStatus.TIMED_OUT, "failure"), (RunStatus.ERROR, "error"), (RunStatus.CANCELED, "error"),
    ],
)
def test_state_per_run_status(status: RunStatus, state: str) -> None:
    assert commit_status(_report(status)).state == state


def test_a_regression_fails_only_when_the_policy_says_so() -> None:
    verdicts = {"throughput": MetricVerdict("regression", change=-0.1)}
    failing = commit_status(_report(RunStatus.SUCCEEDED, verdicts=verdicts, fail_on_regression=frozenset({"throughput"})))
    assert failing.state == "failure" and failing.description == "regression in throughput -10.0%"
    soft = commit_status(_report(RunStatus.SUCCEEDED, verdicts=verdicts))
    assert soft.state == "success" and "1 regression(s) (not failing)" in soft.description


def test_description_fits_in_140_characters() -> None:
    status = commit_status(_report(RunStatus.FAILED, reason="x " * 500))
    assert len(status.description) <= MAX_DESCRIPTION and status.description.endswith("…")


def test_success_description_says_how_long_and_what_changed() -> None:
    verdicts = {"throughput": MetricVerdict("improvement", 0.2), "latency": MetricVerdict("no_change", 0.0)}
    assert commit_status(_report(RunStatus.SUCCEEDED, verdicts=verdicts)).description == (
        "succeeded in 2m 05s; 1 improved, 1 unchanged")


def test_context_and_link() -> None:
    assert status_context("resnet") == "anubis/resnet"
    assert status_context("resnet", {"gpus": 8, "batch": 64}) == "anubis/resnet [batch=64, gpus=8]"
    links = Links(argocd_url="https://argocd/app", grafana_url="https://grafana/d")
    assert commit_status(_report(RunStatus.RUNNING, links=links)).target_url == "https://argocd/app"
    assert commit_status(_report(RunStatus.RUNNING, links=Links(grafana_url="https://g"))).target_url == "https://g"
    assert commit_status(_report(RunStatus.RUNNING)).target_url is None


def test_what_counts_as_a_change_is_state_run_and_verdict_not_duration() -> None:
    """The outbox writes a status only when ``change`` changes (GitHub keeps 1,000 per sha and context)."""
    verdicts = {"throughput": MetricVerdict("no_change", change=0.001, confidence=0.5, baseline=120.0)}
    quick = RunReport.from_record(make_record(finished_at=make_record().started_at + 60), verdicts=verdicts)
    slow = RunReport.from_record(make_record(finished_at=make_record().started_at + 600), verdicts=verdicts)
    assert commit_status(quick).description != commit_status(slow).description
    assert commit_status(quick).change == commit_status(slow).change
    worse = {"throughput": MetricVerdict("regression", change=-0.2, confidence=0.99, baseline=120.0)}
    worse_by_more = {"throughput": MetricVerdict("regression", change=-0.3, confidence=0.99, baseline=120.0)}
    fail = frozenset({"throughput"})
    a = commit_status(RunReport.from_record(make_record(), verdicts=worse, fail_on_regression=fail))
    b = commit_status(RunReport.from_record(make_record(), verdicts=worse_by_more, fail_on_regression=fail))
    assert a.state == "failure" and a.change == b.change != commit_status(quick).change
    assert commit_status(_report(RunStatus.FAILED, reason="exit 1")).change != commit_status(
        _report(RunStatus.FAILED, reason="OOMKilled")).change
    running = commit_status(_report(RunStatus.RUNNING))
    assert running.change.startswith("pending ") and not running.is_final and commit_status(quick).is_final
