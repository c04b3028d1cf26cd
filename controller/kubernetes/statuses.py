"""The status of a run on Kubernetes: a pure decision from its observed state.

``decide(run, now, policy)`` answers the run's status, a sentence saying why (naming the container),
and what the reconciler must do: stop the run (:class:`Suspend`, for a run that would otherwise stay
stuck: an image that cannot be pulled, a crash loop, a pod unschedulable past the environment's
deadline) and record its result (:class:`Report`, once it is final). Nothing here reads a clock or
talks to the API, so every case is tested directly (``tests/unit/controller/kubernetes``).

Precedence: an outcome Anubis wrote on the object (``anubis.dev/outcome``, set together with a
suspend, so a restart never loses why it stopped a run) → the Job's or MPIJob's own final condition
(explained from its pods) → suspended or deleted by someone else → stuck pods → progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from controller.kubernetes.observed import (
    FETCH_CONTAINER,
    MAIN_CONTAINER,
    ContainerState,
    PodState,
    RunState,
)
from schemas.status import RunStatus

IMAGE_PULL_FAILURES = frozenset({"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
"""Waiting reasons after which an image will not come (``ErrImagePull`` alone is retried first)."""
CREATE_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


@dataclass(frozen=True)
class StatusPolicy:
    """What an environment allows a run before Anubis stops it (environment ``[policy]``)."""

    unschedulable_deadline_seconds: int = 900


@dataclass(frozen=True)
class Suspend:
    """Stop the run (``spec.suspend``; never delete: Argo CD would re-create it) and write the
    outcome on the object in the same patch."""

    status: RunStatus
    reason: str


@dataclass(frozen=True)
class Report:
    """Read the logs, store the result, export it, mark the object reported."""


Action = Suspend | Report


@dataclass(frozen=True)
class Decision:
    status: RunStatus
    reason: str
    actions: tuple[Action, ...] = ()

    @property
    def final(self) -> bool:
        return self.status.is_final


def format_duration(seconds: float) -> str:
    """``15m``, ``2h``, ``1h30m``, ``45s``: whole seconds, largest units first."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def outcome_annotation(status: RunStatus, reason: str) -> str:
    """The JSON Anubis writes in ``anubis.dev/outcome`` when it stops a run."""
    return json.dumps({"status": status.value, "reason": reason}, sort_keys=True, separators=(",", ":"))


def _parse_outcome(raw: str) -> tuple[RunStatus, str] | None:
    try:
        data = json.loads(raw)
        status = RunStatus(data["status"])
    except (ValueError, KeyError, TypeError):
        return None
    return (status, str(data.get("reason", ""))) if status.is_final else None


def decide(run: RunState, now: float, policy: StatusPolicy) -> Decision:
    """The status of ``run`` at ``now`` (unix seconds) and the actions it calls for."""
    decision = _decide(run, now, policy)
    if decision.final and run.reported == run.execution_id:
        return Decision(decision.status, decision.reason)  # already recorded: nothing left to do
    return decision


def _final(status: RunStatus, reason: str) -> Decision:
    return Decision(status, reason, (Report(),))


def _stop(status: RunStatus, reason: str) -> Decision:
    return Decision(status, reason, (Suspend(status, reason), Report()))


def _decide(run: RunState, now: float, policy: StatusPolicy) -> Decision:
    if run.outcome:
        parsed = _parse_outcome(run.outcome)
        if parsed is not None:
            return _final(*parsed)
    done = run.condition("Complete") or run.condition("Succeeded")
    if done is not None:
        return _final(RunStatus.SUCCEEDED, "")
    failed = run.condition("Failed")
    if failed is not None:
        status, reason = _explain_failure(run, failed.reason, failed.message)
        return _final(status, reason)
    what = "MPIJob" if run.kind == "MPIJob" else "Job"
    if run.suspended:
        field = "spec.runPolicy.suspend" if run.kind == "MPIJob" else "spec.suspend"
        return _final(RunStatus.CANCELED, f"the {what} {run.name} was suspended ({field}: true) before it finished")
    if run.deleted:
        return _final(RunStatus.CANCELED, f"the {what} {run.name} was deleted before it finished")
    stuck = _stuck(run, now, policy)
    if stuck is not None:
        return stuck
    return _progress(run, now, policy)


def _where(run: RunState, pod: PodState, container: ContainerState) -> str:
    """``container benchmark`` (a Job's pod), ``container benchmark of worker pod x-worker-1`` (MPI)."""
    if run.kind == "MPIJob":
        return f"container {container.name} of {pod.role} pod {pod.name}"
    return f"container {container.name}"


def _ordered_pods(run: RunState) -> list[PodState]:
    """Launcher first, then workers, newest pod of a Job first (a retried pod says the latest)."""
    order = {"launcher": 0, "main": 0, "inference": 0, "worker": 1}
    return sorted(run.pods, key=lambda p: (order.get(p.role, 2), -(p.created or 0.0), p.name))


def _explain_failure(run: RunState, reason: str, message: str) -> tuple[RunStatus, str]:
    if "DeadlineExceeded" in reason:
        if run.active_deadline_seconds:
            limit = format_duration(run.active_deadline_seconds)
            return RunStatus.TIMED_OUT, f"the run passed its time limit of {limit} and was stopped (DeadlineExceeded)"
        return RunStatus.TIMED_OUT, f"the run passed its time limit and was stopped (DeadlineExceeded): {message}"
    pods = _ordered_pods(run)
    for pod in pods:  # a data fetch that failed explains everything after it
        fetch = pod.container(FETCH_CONTAINER)
        if fetch is not None and fetch.state == "terminated" and fetch.exit_code not in (None, 0):
            detail = f": {fetch.message.strip()}" if fetch.message.strip() else ""
            return RunStatus.ERROR, (
                f"fetching data failed: init container {FETCH_CONTAINER} exited with code {fetch.exit_code}{detail}"
            )
    for pod in pods:
        for c in pod.containers:
            if c.state == "terminated" and c.reason == "OOMKilled":
                return RunStatus.FAILED, f"{_where(run, pod, c)} ran out of memory and was killed (OOMKilled)"
    for pod in pods:
        for c in sorted(pod.containers, key=lambda c: c.name != MAIN_CONTAINER):
            if c.state == "terminated" and c.exit_code not in (None, 0):
                detail = f": {c.message.strip()}" if c.message.strip() else ""
                return RunStatus.FAILED, f"{_where(run, pod, c)} exited with code {c.exit_code}{detail}"
    for pod in pods:
        if pod.reason == "Evicted":
            return RunStatus.ERROR, f"pod {pod.name} was evicted: {pod.message}"
    what = "MPIJob" if run.kind == "MPIJob" else "Job"
    detail = f": {message}" if message else ""
    return RunStatus.FAILED, f"the {what} failed ({reason or 'no reason given'}){detail}"


def _stuck(run: RunState, now: float, policy: StatusPolicy) -> Decision | None:
    for pod in _ordered_pods(run):
        if pod.deleting or pod.phase in ("Succeeded", "Failed"):
            continue
        for c in pod.containers:
            if c.state != "waiting":
                continue
            where = _where(run, pod, c)
            detail = f": {c.message}" if c.message else ""
            if c.reason in IMAGE_PULL_FAILURES:
                return _stop(RunStatus.ERROR, f"{where} cannot pull its image {c.image} ({c.reason}){detail}")
            if c.reason == "CrashLoopBackOff":
                last = f", last exit code {c.last_exit_code}" if c.last_exit_code is not None else ""
                return _stop(
                    RunStatus.FAILED,
                    f"{where} keeps crashing (CrashLoopBackOff after {c.restarts} restarts{last})",
                )
            if c.reason in CREATE_FAILURES:
                return _stop(RunStatus.ERROR, f"{where} cannot be created ({c.reason}){detail}")
        unschedulable = _unschedulable_for(pod, now)
        if unschedulable is not None and unschedulable >= policy.unschedulable_deadline_seconds:
            message = pod.scheduled.message if pod.scheduled else ""
            return _stop(RunStatus.TIMED_OUT, f"unschedulable for {format_duration(unschedulable // 60 * 60 or unschedulable)}: {message}")
    return None


def _unschedulable_for(pod: PodState, now: float) -> float | None:
    cond = pod.scheduled
    if cond is None or cond.status != "False" or cond.reason != "Unschedulable":
        return None
    since = cond.since if cond.since is not None else pod.created
    return max(0.0, now - since) if since is not None else 0.0


def _progress(run: RunState, now: float, policy: StatusPolicy) -> Decision:
    pods = [p for p in run.pods if not p.deleting]
    if not pods:
        return Decision(RunStatus.PENDING, "waiting for its pods to be created")
    for pod in pods:
        waited = _unschedulable_for(pod, now)
        if waited is not None:
            message = pod.scheduled.message if pod.scheduled else ""
            return Decision(RunStatus.PENDING, f"waiting for a node for {format_duration(waited)}: {message}")
    if any(not p.node_name and p.phase == "Pending" for p in pods):
        return Decision(RunStatus.PENDING, "waiting for a node")
    for pod in pods:
        fetch = pod.container(FETCH_CONTAINER)
        if fetch is not None and fetch.state == "running":
            return Decision(RunStatus.FETCHING_DATA, f"init container {FETCH_CONTAINER} is fetching the data")
    main_pods = [p for p in pods if p.role in ("main", "inference", "launcher")]
    for pod in main_pods:
        main = pod.container(MAIN_CONTAINER)
        if main is not None and main.state in ("running", "terminated"):
            return Decision(RunStatus.RUNNING, f"container {MAIN_CONTAINER} is running")
    for pod in pods:
        for c in pod.containers:
            if c.kind == "sidecar" and c.state == "running" and not c.started:
                return Decision(RunStatus.INITIALIZING, f"waiting for the inference server (container {c.name}) to start")
    return Decision(RunStatus.INITIALIZING, "starting its containers")
