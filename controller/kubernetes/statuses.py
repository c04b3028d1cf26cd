"""The status of a run on Kubernetes: a pure decision from its observed state.

``decide(run, now, policy)`` answers the run's status, a sentence saying why (naming the container),
and what the reconciler must do: stop the run (:class:`Suspend`, for a run that would otherwise stay
stuck: an image that cannot be pulled, a crash loop, a pod unschedulable past the environment's
deadline) and record its result (:class:`Report`, once it is final). Nothing here reads a clock or
talks to the API, so every case is tested directly (``tests/unit/controller/kubernetes``).

Precedence: an outcome Anubis wrote on the object (``anubis.dev/outcome``, set together with a
suspend, so a restart never loses why it stopped a run) → the Job's or MPIJob's own final condition
(explained from its pods) → queued by Kueue (suspended, with a queue) → suspended or deleted by
someone else → stuck pods → progress.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from controller.kubernetes.observed import (
    FETCH_CONTAINER,
    MAIN_CONTAINER,
    ContainerState,
    PodState,
    RunState,
)
from schemas.status import RunStatus
from schemas.vocabulary import ROLE_ORDER, compact_duration, time_limit_reason

IMAGE_PULL_FINAL = frozenset({"InvalidImageName", "ErrImageNeverPull", "ImageInspectError", "SignatureValidationFailed"})
"""Waiting reasons the kubelet gives for an image that will never come, whatever the wait
(``pkg/kubelet/images/types.go``; ``SignatureValidationFailed`` from ``k8s.io/cri-api/pkg/errors``)."""
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
"""Final at once unless the registry's answer is temporary (:data:`TEMPORARY_PULL`): then after
:attr:`StatusPolicy.image_pull_grace_seconds`. ``ErrImagePull`` and ``RegistryUnavailable`` alone are
retried by the kubelet and never final here."""
TEMPORARY_PULL = re.compile(
    r"toomanyrequests|too many requests|\b429\b|rate.?limit|pull QPS exceeded|RegistryUnavailable|"
    r"i/o timeout|timeout|timed out|connection refused|connection reset|\b50[234]\b|service unavailable",
    re.IGNORECASE,
)
"""What a registry (or the kubelet's own pull limit) says when trying again later will do."""
CREATE_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                             "PreStartHookError", "PostStartHookError"})
ADMISSION_REASONS = frozenset({"UnexpectedAdmissionError", "NodeAffinity", "NodeName", "NodePorts", "Taint",
                               "InitContainerRestartPolicyForbidden", "PodOSNotSupported", "PodOSSelectorNodeLabelDoesNotMatch"})
"""Pod-level reasons the kubelet gives a pod it rejects at admission (phase ``Failed``), besides
``OutOf<resource>`` (``pkg/kubelet/lifecycle/predicate.go``)."""
DISRUPTIONS = {
    "PreemptionByScheduler": "was preempted by the scheduler for a pod of higher priority",
    "TerminationByKubelet": "was evicted by the kubelet",
    "EvictionByEvictionAPI": "was evicted (Eviction API: a node drain or autoscaler)",
    "DeletionByTaintManager": "was deleted by the taint manager (a NoExecute taint on its node)",
    "DeletionByPodGC": "was deleted by the pod garbage collector (its node is gone)",
}
"""``DisruptionTarget`` condition reasons (``k8s.io/api/core/v1`` ``PodReason*``) and what they mean."""


@dataclass(frozen=True)
class StatusPolicy:
    """What an environment allows a run before Anubis stops it (environment ``[policy]``)."""

    unschedulable_deadline_seconds: int = 900
    image_pull_grace_seconds: int = 600
    """How long a pull that backs off for a temporary reason (a registry's rate limit) may go on."""
    workers_ready_deadline_seconds: int = 1800
    """How long an MPIJob's workers may take to become Ready once scheduled: the MPI Operator starts
    the launcher only then (``launcherCreationPolicy: WaitForWorkersReady``) and has no deadline of
    its own for it (``runPolicy.activeDeadlineSeconds`` is copied to the launcher Job only)."""


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
    recheck: bool = False  # a deadline runs: decide again with the clock even without an event
    unexplained: bool = False  # a failure none of the pods seen explains (they may not be seen yet)

    @property
    def final(self) -> bool:
        return self.status.is_final


def format_duration(seconds: float) -> str:
    """``15m``, ``2h``, ``1h30m``, ``45s``: whole seconds, largest units first."""
    return compact_duration(seconds)


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
    # Kubernetes >= 1.31 sets SuccessCriteriaMet / FailureTarget first and Complete / Failed only once
    # every pod has terminated (pkg/controller/job/job_controller.go, delayTerminalCondition): the
    # outcome is known at the first, and the pods being deleted in between say nothing more.
    done = run.condition("Complete") or run.condition("Succeeded") or run.condition("SuccessCriteriaMet")
    if done is not None:
        return _final(RunStatus.SUCCEEDED, "")
    failed = run.condition("Failed") or run.condition("FailureTarget")
    if failed is not None:
        status, reason = _explain_failure(run, failed.reason, failed.message)
        explained = status is RunStatus.TIMED_OUT or _explain_pods(run, list(run.pods)) is not None
        return Decision(status, reason, (Report(),), unexplained=not explained)
    what = "MPIJob" if run.kind == "MPIJob" else "Job"
    if run.suspended and run.queue:
        return _queued(run, now, policy)
    if run.suspended:
        field = "spec.runPolicy.suspend" if run.kind == "MPIJob" else "spec.suspend"
        return _final(RunStatus.CANCELED, f"the {what} {run.name} was suspended ({field}: true) before it finished")
    if run.deleted:
        return _final(RunStatus.CANCELED, f"the {what} {run.name} was deleted before it finished")
    stuck = _stuck(run, now, policy)
    if stuck is not None:
        return stuck
    return _progress(run, now, policy)


def _queued(run: RunState, now: float, policy: StatusPolicy) -> Decision:
    """A run Kueue holds (created suspended, or evicted and requeued): PENDING with Kueue's reason. A
    Workload deactivated (how ``anubis cancel`` stops a queued run) ends it CANCELED; one Kueue cannot
    admit (its LocalQueue missing) ends as ERROR after the environment's unschedulable deadline."""
    message = run.queue_message or f"queued in Kueue (local queue {run.queue})"
    if run.queue_state == "deactivated":
        return _final(RunStatus.CANCELED, f"its Kueue workload was deactivated before it ran: {message}")
    if run.queue_state == "inadmissible" and run.created is not None:
        waited = now - run.created
        if waited >= policy.unschedulable_deadline_seconds:
            return _stop(RunStatus.ERROR, f"{message} (for {format_duration(waited)}; the deadline is "
                                          f"{format_duration(policy.unschedulable_deadline_seconds)})")
        return Decision(RunStatus.PENDING, message, recheck=True)
    return Decision(RunStatus.PENDING, message)


def _where(run: RunState, pod: PodState, container: ContainerState) -> str:
    """``container benchmark`` (a Job's pod), ``container benchmark of worker pod x-worker-1`` (MPI)."""
    if run.kind == "MPIJob":
        return f"container {container.name} of {pod.role} pod {pod.name}"
    return f"container {container.name}"


def _ordered_pods(run: RunState) -> list[PodState]:
    """Launcher first, then workers, newest pod of a Job first (a retried pod says the latest)."""
    order = ROLE_ORDER
    return sorted(run.pods, key=lambda p: (order.get(p.role, 2), -(p.created or 0.0), p.name))


def _detail(message: str) -> str:
    return f": {message.strip()}" if message.strip() else ""


def _disrupted(pod: PodState) -> str | None:
    """Why the pod was taken away (evicted, preempted, a node-pressure kill), if it was.

    The kubelet's node-pressure eviction fails the pod with ``status.reason: Evicted``
    (``pkg/kubelet/eviction/eviction_manager.go``); since Kubernetes 1.26 every disruption also sets
    the ``DisruptionTarget`` condition (KEP-3329), and the killed containers show exit code 137 —
    which is why this is asked before any exit code."""
    cond = pod.disruption
    if cond is not None:
        meaning = DISRUPTIONS.get(cond.reason, "was disrupted")
        message = pod.message or cond.message
        return f"pod {pod.name} {meaning} ({cond.reason}){_detail(message)}"
    if pod.reason == "Evicted":
        return f"pod {pod.name} was evicted{_detail(pod.message)}"
    return None


def _rejected(pod: PodState) -> str | None:
    """A pod the kubelet refused at admission: phase ``Failed`` with a pod-level reason
    (``UnexpectedAdmissionError``, ``OutOfcpu``, ``OutOfnvidia.com/gpu`` …) and no container run."""
    if pod.phase != "Failed" or not pod.reason:
        return None
    if pod.reason in ADMISSION_REASONS or pod.reason.startswith("OutOf"):
        node = f" by node {pod.node_name}" if pod.node_name else ""
        return f"pod {pod.name} was rejected{node} ({pod.reason}){_detail(pod.message)}"
    return None


def _fetch_failed(pod: PodState) -> str | None:
    fetch = pod.container(FETCH_CONTAINER)
    if fetch is not None and fetch.state == "terminated" and fetch.exit_code not in (None, 0):
        return f"fetching data failed: init container {FETCH_CONTAINER} exited with code {fetch.exit_code}{_detail(fetch.message)}"
    return None


def _oom(run: RunState, pod: PodState) -> str | None:
    """A container killed for memory: the one that is terminated so, or a sidecar (which restarts)
    whose previous attempt was; the benchmark's own container first."""
    for c in sorted(pod.containers, key=lambda c: c.name != MAIN_CONTAINER):
        if c.state == "terminated" and c.reason == "OOMKilled":
            return f"{_where(run, pod, c)} ran out of memory and was killed (OOMKilled)"
        if c.last_reason == "OOMKilled" and c.kind == "sidecar":
            return (f"{_where(run, pod, c)} ran out of memory and was killed (OOMKilled, "
                    f"{c.restarts} restart{'s' if c.restarts != 1 else ''})")
    return None


def _exit_code(run: RunState, pod: PodState) -> str | None:
    for c in sorted(pod.containers, key=lambda c: c.name != MAIN_CONTAINER):
        if c.state == "terminated" and c.exit_code not in (None, 0):
            return f"{_where(run, pod, c)} exited with code {c.exit_code}{_detail(c.message)}"
    return None


def _explain_pods(run: RunState, pods: list[PodState]) -> tuple[RunStatus, str] | None:
    """The first cause among ``pods``, most telling first: taken away (evicted, preempted) before any
    exit code (the kill shows as 137), refused at admission, the data fetch, memory, an exit code."""
    for explain, status in ((_disrupted, RunStatus.ERROR), (_rejected, RunStatus.ERROR),
                            (_fetch_failed, RunStatus.ERROR)):
        for pod in pods:
            found = explain(pod)
            if found is not None:
                return status, found
    for per_run in (_oom, _exit_code):
        for pod in pods:
            found = per_run(run, pod)
            if found is not None:
                return RunStatus.FAILED, found
    return None


def _explain_failure(run: RunState, reason: str, message: str) -> tuple[RunStatus, str]:
    if "DeadlineExceeded" in reason:
        if run.active_deadline_seconds:
            return RunStatus.TIMED_OUT, f"{time_limit_reason(run.active_deadline_seconds)} (DeadlineExceeded)"
        return RunStatus.TIMED_OUT, f"{time_limit_reason(None)} (DeadlineExceeded): {message}"
    explained = _explain_pods(run, _ordered_pods(run))
    if explained is not None:
        return explained
    what = "MPIJob" if run.kind == "MPIJob" else "Job"
    if reason == "MPIJobEvicted":  # mpi-operator: "%d/%d workers are evicted", the pods already gone
        return RunStatus.ERROR, f"the MPIJob's workers were evicted{_detail(message)}"
    return RunStatus.FAILED, f"the {what} failed ({reason or 'no reason given'}){_detail(message)}"


def _image_stuck(run: RunState, pod: PodState, c: ContainerState, now: float, policy: StatusPolicy) -> Decision | None:
    where = _where(run, pod, c)
    detail = _detail(c.message)
    if c.reason in IMAGE_PULL_FINAL:
        return _stop(RunStatus.ERROR, f"{where} cannot pull its image {c.image} ({c.reason}){detail}")
    if c.reason != IMAGE_PULL_BACKOFF:
        return None
    if not TEMPORARY_PULL.search(c.message):
        return _stop(RunStatus.ERROR, f"{where} cannot pull its image {c.image} ({c.reason}){detail}")
    waited = _since_scheduled(pod, now)
    if waited >= policy.image_pull_grace_seconds:
        return _stop(RunStatus.ERROR, f"{where} cannot pull its image {c.image}: still backing off after "
                                      f"{format_duration(waited)} ({c.reason}){detail}")
    return None


def _since_scheduled(pod: PodState, now: float) -> float:
    since = pod.scheduled.since if pod.scheduled is not None and pod.scheduled.status == "True" else None
    since = since if since is not None else pod.created
    return max(0.0, now - since) if since is not None else 0.0


def _stuck(run: RunState, now: float, policy: StatusPolicy) -> Decision | None:
    pods = _ordered_pods(run)
    if run.kind == "MPIJob":
        # The MPI Operator never re-creates a failed worker and fails the MPIJob only when a worker
        # was evicted (mpi_job_controller.go: getOrCreateWorker, updateMPIJobStatus): any other
        # failed worker leaves the MPIJob running for ever, holding its nodes.
        failed = [p for p in pods if p.role == "worker" and p.phase == "Failed"]
        if failed:
            status, reason = _explain_pods(run, failed) or (
                RunStatus.FAILED, f"worker pod {failed[0].name} failed{_detail(failed[0].message)}")
            return _stop(status, reason)
    for pod in pods:
        if pod.deleting or pod.phase in ("Succeeded", "Failed"):
            continue
        for c in pod.containers:
            if c.state != "waiting":
                continue
            where = _where(run, pod, c)
            image = _image_stuck(run, pod, c, now, policy)
            if image is not None:
                return image
            if c.reason == "CrashLoopBackOff":
                last = f", last exit code {c.last_exit_code}" if c.last_exit_code is not None else ""
                last += f", {c.last_reason}" if c.last_reason == "OOMKilled" else ""
                return _stop(
                    RunStatus.FAILED,
                    f"{where} keeps crashing (CrashLoopBackOff after {c.restarts} restarts{last})",
                )
            if c.reason in CREATE_FAILURES:
                return _stop(RunStatus.ERROR, f"{where} cannot be created ({c.reason}){_detail(c.message)}")
        unschedulable = _unschedulable_for(pod, now)
        if unschedulable is not None and unschedulable >= policy.unschedulable_deadline_seconds:
            return _stop(RunStatus.TIMED_OUT, f"{_unscheduled_what(pod)} for "
                                              f"{format_duration(unschedulable // 60 * 60 or unschedulable)}: "
                                              f"{_scheduled_message(pod)}")
    waiting = _workers_waiting(run, now)
    if waiting is not None and waiting[0] >= policy.workers_ready_deadline_seconds:
        waited, ready, total, pod = waiting
        return _stop(RunStatus.TIMED_OUT, f"only {ready} of {total} workers were ready after {format_duration(waited)} "
                                          f"(the MPI Operator starts the launcher once all are): "
                                          f"{_worker_state(run, pod)}")
    return None


def _workers_waiting(run: RunState, now: float) -> tuple[float, int, int, PodState] | None:
    """For an MPIJob without its launcher yet: how long its last worker has been scheduled and not
    Ready, how many are Ready of how many, and the first that is not."""
    if run.kind != "MPIJob" or any(p.role == "launcher" for p in run.pods):
        return None
    workers = sorted((p for p in run.pods if p.role == "worker" and not p.deleting), key=lambda p: p.name)
    total = run.workers if run.workers is not None else len(workers)
    not_ready = [p for p in workers if p.ready is None or p.ready.status != "True"]
    if not workers or not not_ready or any(not p.node_name for p in workers):
        return None  # not all created or scheduled yet (the unschedulable deadline covers that)
    waited = min(_since_scheduled(p, now) for p in not_ready)
    return waited, total - len(not_ready), total, not_ready[0]


def _worker_state(run: RunState, pod: PodState) -> str:
    for c in pod.containers:
        if c.state == "waiting" and c.reason:
            return f"{_where(run, pod, c)} is waiting ({c.reason}){_detail(c.message)}"
        if c.state == "running" and not c.ready and c.kind == "main":
            return f"{_where(run, pod, c)} is running but not ready"
    return f"worker pod {pod.name} is {pod.phase} and not ready"


def _unscheduled_what(pod: PodState) -> str:
    reason = pod.scheduled.reason if pod.scheduled else ""
    return "scheduling gated (spec.schedulingGates)" if reason == "SchedulingGated" else "unschedulable"


def _scheduled_message(pod: PodState) -> str:
    return pod.scheduled.message if pod.scheduled else ""


def _unschedulable_for(pod: PodState, now: float) -> float | None:
    """How long the scheduler has not placed the pod: ``Unschedulable``, or held back by scheduling
    gates (``SchedulingGated``, pkg/scheduler: a gated pod is never tried until its gates are gone)."""
    cond = pod.scheduled
    if cond is None or cond.status != "False" or cond.reason not in ("Unschedulable", "SchedulingGated"):
        return None
    since = cond.since if cond.since is not None else pod.created
    return max(0.0, now - since) if since is not None else 0.0


def _progress(run: RunState, now: float, policy: StatusPolicy) -> Decision:
    pods = [p for p in run.pods if not p.deleting]
    if not pods:
        if run.pods:  # deleted (preempted, evicted, a deadline) and still terminating: what comes next says
            gone = _ordered_pods(run)[0]
            main = gone.container(MAIN_CONTAINER)
            ran = main is not None and main.state in ("running", "terminated")
            return Decision(RunStatus.RUNNING if ran else RunStatus.PENDING, f"pod {gone.name} is terminating")
        return Decision(RunStatus.PENDING, "waiting for its pods to be created")
    for pod in pods:
        waited = _unschedulable_for(pod, now)
        if waited is not None:
            what = "scheduling gated" if _unscheduled_what(pod) != "unschedulable" else "waiting for a node"
            return Decision(RunStatus.PENDING, f"{what} for {format_duration(waited)}: {_scheduled_message(pod)}")
    if any(not p.node_name and p.phase == "Pending" for p in pods):
        return Decision(RunStatus.PENDING, "waiting for a node")
    for pod in pods:
        for c in pod.containers:
            if c.state == "waiting" and c.reason == IMAGE_PULL_BACKOFF:
                return Decision(RunStatus.INITIALIZING,
                                f"{_where(run, pod, c)} is waiting for its image {c.image} ({c.reason}, "
                                f"for {format_duration(_since_scheduled(pod, now))}, stopped after "
                                f"{format_duration(policy.image_pull_grace_seconds)}){_detail(c.message)}",
                                recheck=True)
    for pod in pods:
        fetch = pod.container(FETCH_CONTAINER)
        if fetch is not None and fetch.state == "running":
            return Decision(RunStatus.FETCHING_DATA, f"init container {FETCH_CONTAINER} is fetching the data")
    main_pods = [p for p in pods if p.role in ("main", "inference", "launcher")]
    for pod in main_pods:
        main = pod.container(MAIN_CONTAINER)
        if main is not None and main.state in ("running", "terminated"):
            return Decision(RunStatus.RUNNING, f"container {MAIN_CONTAINER} is running")
    waiting = _workers_waiting(run, now)
    if waiting is not None:
        waited, ready, total, _ = waiting
        return Decision(RunStatus.INITIALIZING, f"waiting for its workers to be ready ({ready} of {total}, for "
                                                f"{format_duration(waited)}); the launcher starts then", recheck=True)
    for pod in pods:
        for c in pod.containers:
            if c.kind == "sidecar" and c.state == "running" and not c.started:
                return Decision(RunStatus.INITIALIZING, f"waiting for the inference server (container {c.name}) to start")
    return Decision(RunStatus.INITIALIZING, "starting its containers")
