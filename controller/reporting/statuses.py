"""A run's report → one commit status: state, a description within GitHub's 140 characters, a link.

Context ``anubis/<benchmark>`` (plus `` [matrix point]`` for a matrix run, so each point has its own
check). ``pending`` while the run is not final; ``success`` when it succeeded without a regression its
policy fails on; ``failure`` for a failed or timed-out run or such a regression; ``error`` when Anubis
could not run it (ERROR) or it was canceled.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.reporting.runreport import RunReport, point_label
from schemas.status import RunStatus
from schemas.vocabulary import human_duration

MAX_DESCRIPTION = 140
MAX_CONTEXT = 100  # GitHub does not document one; long contexts are unreadable in the checks list


@dataclass(frozen=True)
class CommitStatus:
    context: str
    state: str  # pending | success | failure | error
    description: str
    target_url: str | None
    run_id: str = ""
    #: What a reader of the checks list must see change: the state, the run, and the verdict (metrics'
    #: verdicts, failing metrics, the failure's reason) — not a duration or a percentage. The outbox
    #: writes a status only when this changes (GitHub keeps at most 1,000 statuses per sha and context).
    change: str = ""

    @property
    def is_final(self) -> bool:
        return self.state != "pending"


def status_context(benchmark: str, matrix_point: dict[str, object] | None = None) -> str:
    context = f"anubis/{benchmark}"
    if matrix_point:
        context += f" [{point_label(matrix_point)}]"
    return _clip(context, MAX_CONTEXT)


def target_url(report: RunReport) -> str | None:
    """Where a person finds the detail: the Argo CD application, else the dashboard, else the logs."""
    return report.links.argocd_url or report.links.grafana_url or report.logs_url


def commit_status(report: RunReport) -> CommitStatus:
    context = status_context(report.benchmark, dict(report.matrix_point))
    state, description = _decide(report)
    if report.confirmation_short and report.status.is_final:
        description = f"{description} ({report.confirmation_short})"
    change = f"{state} {report.run_id} {_verdict(report)} {report.confirmation_short}".rstrip()
    return CommitStatus(context, state, _clip(description, MAX_DESCRIPTION), target_url(report), report.run_id, change)


def _verdict(r: RunReport) -> str:
    """The part of a status that matters between two executions of one run (see ``CommitStatus.change``)."""
    if not r.status.is_final:
        return ""
    if r.status == RunStatus.SUCCEEDED:
        failing = r.failing_regressions
        if failing:
            return "regression in " + ",".join(sorted(failing))
        return ",".join(f"{name}={v.verdict}" for name, v in sorted(r.verdicts.items()))
    return f"{r.status.value}: {_one_line(r.reason or '')}"


def _decide(r: RunReport) -> tuple[str, str]:
    status = r.status
    if not status.is_final:
        words = {
            RunStatus.PENDING: "waiting to start",
            RunStatus.FETCHING_DATA: "fetching data",
            RunStatus.INITIALIZING: "starting",
            RunStatus.RUNNING: "running",
        }
        return "pending", f"{r.run_id}: {words.get(status, status.value.lower())}"
    reason = f": {_one_line(r.reason)}" if r.reason else ""
    if status == RunStatus.SUCCEEDED:
        failing = r.failing_regressions
        if failing:
            return "failure", "regression in " + ", ".join(_change(r, m) for m in failing)
        return "success", _success_summary(r)
    if status == RunStatus.TIMED_OUT:
        return "failure", f"timed out{reason}"
    if status == RunStatus.FAILED:
        return "failure", f"failed{reason}"
    if status == RunStatus.CANCELED:
        return "error", f"canceled{reason}"
    return "error", f"could not run{reason}"


def _success_summary(r: RunReport) -> str:
    duration = r.record.duration if r.record else None
    took = f" in {_duration(duration)}" if duration is not None else ""
    counts: dict[str, int] = {}
    for v in r.verdicts.values():
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
    if not counts:
        return f"succeeded{took}"
    parts = []
    if counts.get("regression"):
        parts.append(f"{counts['regression']} regression(s) (not failing)")
    if counts.get("suspected"):
        parts.append(f"{counts['suspected']} suspected — confirming")
    if counts.get("improvement"):
        parts.append(f"{counts['improvement']} improved")
    if counts.get("no_change"):
        parts.append(f"{counts['no_change']} unchanged")
    if counts.get("insufficient_data"):
        parts.append(f"{counts['insufficient_data']} without baseline")
    return f"succeeded{took}; " + ", ".join(parts)


def _change(r: RunReport, metric: str) -> str:
    change = r.verdicts[metric].change
    return f"{metric} {change:+.1%}" if change is not None else metric


def _duration(seconds: float) -> str:
    return human_duration(seconds)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
