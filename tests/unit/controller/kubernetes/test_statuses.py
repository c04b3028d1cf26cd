"""Every status and reason of a run on Kubernetes, decided from observed state (pure)."""

from __future__ import annotations

import json

import pytest

from controller.kubernetes.observed import (
    Condition,
    ContainerState,
    PodState,
    RunState,
    pod_from_object,
    run_from_object,
)
from controller.kubernetes.statuses import (
    Decision,
    Report,
    StatusPolicy,
    Suspend,
    decide,
    format_duration,
    outcome_annotation,
)
from schemas.status import RunStatus

NOW = 1_800_000_000.0
POLICY = StatusPolicy(unschedulable_deadline_seconds=900)
IMAGE = "docker.io/anubis/resnet:1.0"


def c(name: str = "benchmark", state: str = "running", reason: str = "", message: str = "", exit_code: int | None = None,
      kind: str = "main", **extra: object) -> ContainerState:
    return ContainerState(name, kind, state, reason, message, exit_code, image=IMAGE, **extra)  # type: ignore[arg-type]


def pod(*containers: ContainerState, name: str = "job-abcde", phase: str = "Running", role: str = "main",
        node: str = "node-1", scheduled: Condition | None = None, **extra: object) -> PodState:
    return PodState(name, "pod-uid", phase, role, "job-uid", node, scheduled=scheduled, containers=containers,
                    created=NOW - 100, **extra)  # type: ignore[arg-type]


def run(*pods: PodState, kind: str = "Job", conditions: tuple[Condition, ...] = (), **extra: object) -> RunState:
    return RunState(kind, "anubis-runs", "resnet-4d1c7e2a90", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", "resnet-4d1c7e2a90",  # type: ignore[arg-type]
                    "gpu-cluster", conditions=conditions, pods=pods, **extra)  # type: ignore[arg-type]


def failed(reason: str = "BackoffLimitExceeded", message: str = "Job has reached the specified backoff limit") -> tuple[Condition, ...]:
    return (Condition("Failed", "True", reason, message, NOW),)


def unschedulable_for(seconds: float, message: str = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.") -> Condition:
    return Condition("PodScheduled", "False", "Unschedulable", message, NOW - seconds)


def final(status: RunStatus, reason: str) -> Decision:
    return Decision(status, reason, (Report(),))


def stopped(status: RunStatus, reason: str) -> Decision:
    return Decision(status, reason, (Suspend(status, reason), Report()))


# -- progress ---------------------------------------------------------------------------------------

def test_no_pods_is_pending() -> None:
    assert decide(run(), NOW, POLICY) == Decision(RunStatus.PENDING, "waiting for its pods to be created")


def test_unscheduled_pod_is_pending() -> None:
    p = pod(c(state="waiting", reason="ContainerCreating"), node="", phase="Pending")
    assert decide(run(p), NOW, POLICY) == Decision(RunStatus.PENDING, "waiting for a node")


def test_unschedulable_within_the_deadline_is_pending_and_says_why() -> None:
    p = pod(c(state="waiting"), node="", phase="Pending", scheduled=unschedulable_for(299))
    assert decide(run(p), NOW, POLICY) == Decision(
        RunStatus.PENDING, "waiting for a node for 4m59s: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")


def test_fetching_data() -> None:
    p = pod(c("fetch-data", kind="init"), c(state="waiting", reason="PodInitializing"), phase="Pending")
    assert decide(run(p), NOW, POLICY) == Decision(RunStatus.FETCHING_DATA, "init container fetch-data is fetching the data")


def test_initializing() -> None:
    p = pod(c("fetch-data", "terminated", "Completed", exit_code=0, kind="init"), c(state="waiting", reason="ContainerCreating"))
    assert decide(run(p), NOW, POLICY) == Decision(RunStatus.INITIALIZING, "starting its containers")


def test_initializing_while_the_inference_server_starts() -> None:
    p = pod(c("inference-server", kind="sidecar", started=False), c(state="waiting", reason="PodInitializing"), role="inference")
    assert decide(run(p), NOW, POLICY) == Decision(
        RunStatus.INITIALIZING, "waiting for the inference server (container inference-server) to start")


def test_running() -> None:
    assert decide(run(pod(c())), NOW, POLICY) == Decision(RunStatus.RUNNING, "container benchmark is running")


def test_mpijob_running_when_the_launcher_runs() -> None:
    workers = [pod(c(), name=f"h-worker-{i}", role="worker") for i in range(2)]
    launcher = pod(c(), name="h-launcher-x", role="launcher")
    assert decide(run(launcher, *workers, kind="MPIJob"), NOW, POLICY).status is RunStatus.RUNNING


def test_mpijob_workers_starting_is_initializing() -> None:
    workers = [pod(c(state="waiting", reason="ContainerCreating"), name=f"h-worker-{i}", role="worker") for i in range(2)]
    assert decide(run(*workers, kind="MPIJob"), NOW, POLICY).status is RunStatus.INITIALIZING


# -- final from the object's conditions -------------------------------------------------------------

def test_complete_job_succeeded() -> None:
    r = run(pod(c(state="terminated", reason="Completed", exit_code=0), phase="Succeeded"),
            conditions=(Condition("Complete", "True"),))
    assert decide(r, NOW, POLICY) == final(RunStatus.SUCCEEDED, "")


def test_mpijob_succeeded() -> None:
    assert decide(run(kind="MPIJob", conditions=(Condition("Succeeded", "True"),)), NOW, POLICY) == final(RunStatus.SUCCEEDED, "")


def test_false_conditions_are_not_final() -> None:
    r = run(pod(c()), conditions=(Condition("Failed", "False"), Condition("Complete", "False")))
    assert decide(r, NOW, POLICY).status is RunStatus.RUNNING


def test_exit_code() -> None:
    r = run(pod(c(state="terminated", reason="Error", exit_code=3), phase="Failed"), conditions=failed())
    assert decide(r, NOW, POLICY) == final(RunStatus.FAILED, "container benchmark exited with code 3")


def test_exit_code_with_termination_message() -> None:
    r = run(pod(c(state="terminated", reason="Error", exit_code=2, message="CUDA error: out of memory\n"), phase="Failed"),
            conditions=failed())
    assert decide(r, NOW, POLICY) == final(RunStatus.FAILED, "container benchmark exited with code 2: CUDA error: out of memory")


def test_oom_killed_names_the_container() -> None:
    r = run(pod(c(state="terminated", reason="OOMKilled", exit_code=137), phase="Failed"), conditions=failed())
    assert decide(r, NOW, POLICY) == final(RunStatus.FAILED, "container benchmark ran out of memory and was killed (OOMKilled)")


def test_oom_killed_sidecar() -> None:
    r = run(pod(c("inference-server", "terminated", "OOMKilled", exit_code=137, kind="sidecar"),
                c(state="terminated", reason="Error", exit_code=1), phase="Failed", role="inference"), conditions=failed())
    assert decide(r, NOW, POLICY) == final(
        RunStatus.FAILED, "container inference-server ran out of memory and was killed (OOMKilled)")


def test_mpijob_worker_oom_names_the_pod() -> None:
    r = run(pod(c(state="terminated", reason="Error", exit_code=1), name="h-launcher-x", role="launcher", phase="Failed"),
            pod(c(state="terminated", reason="OOMKilled", exit_code=137), name="h-worker-1", role="worker", phase="Failed"),
            kind="MPIJob", conditions=failed("MPIJobFailed", "launcher failed"))
    assert decide(r, NOW, POLICY) == final(
        RunStatus.FAILED, "container benchmark of worker pod h-worker-1 ran out of memory and was killed (OOMKilled)")


def test_data_fetch_failure_is_an_error_with_its_message() -> None:
    message = "checksum mismatch for s3://b/imagenet.tar: expected sha256:aa, got sha256:bb"
    r = run(pod(c("fetch-data", "terminated", "Error", message, 1, kind="init"), c(state="waiting", reason="PodInitializing"),
                phase="Failed"), conditions=failed())
    assert decide(r, NOW, POLICY) == final(
        RunStatus.ERROR, f"fetching data failed: init container fetch-data exited with code 1: {message}")


def test_backoff_limit_without_pods_says_what_the_job_says() -> None:
    # unexplained: the reconciler waits (a little) for the pod watch before it takes this reason
    assert decide(run(conditions=failed()), NOW, POLICY) == Decision(
        RunStatus.FAILED, "the Job failed (BackoffLimitExceeded): Job has reached the specified backoff limit",
        (Report(),), unexplained=True)


def test_deadline_exceeded() -> None:
    r = run(conditions=failed("DeadlineExceeded", "Job was active longer than specified deadline"),
            active_deadline_seconds=5400)
    assert decide(r, NOW, POLICY) == final(
        RunStatus.TIMED_OUT, "the run passed its time limit of 1h30m and was stopped (DeadlineExceeded)")


def test_deadline_exceeded_without_a_known_limit() -> None:
    r = run(kind="MPIJob", conditions=failed("DeadlineExceeded", "MPIJob was active longer than specified deadline"))
    assert decide(r, NOW, POLICY) == final(
        RunStatus.TIMED_OUT,
        "the run passed its time limit and was stopped (DeadlineExceeded): MPIJob was active longer than specified deadline")


def test_evicted_pod_is_an_error() -> None:
    r = run(pod(c(state="terminated", reason="ContainerStatusUnknown", exit_code=0), phase="Failed", reason="Evicted",
                message="The node was low on resource: ephemeral-storage."), conditions=failed())
    assert decide(r, NOW, POLICY) == final(
        RunStatus.ERROR, "pod job-abcde was evicted: The node was low on resource: ephemeral-storage.")


# -- stuck: stopped by Anubis -------------------------------------------------------------------------

def test_image_pull_backoff_stops_the_run() -> None:
    p = pod(c(state="waiting", reason="ImagePullBackOff", message=f'Back-off pulling image "{IMAGE}"'), phase="Pending")
    reason = f'container benchmark cannot pull its image {IMAGE} (ImagePullBackOff): Back-off pulling image "{IMAGE}"'
    assert decide(run(p), NOW, POLICY) == stopped(RunStatus.ERROR, reason)


def test_first_err_image_pull_is_retried() -> None:
    p = pod(c(state="waiting", reason="ErrImagePull", message="rpc error"), phase="Pending")
    assert decide(run(p), NOW, POLICY).status is RunStatus.INITIALIZING


@pytest.mark.parametrize("reason", ["InvalidImageName", "ErrImageNeverPull"])
def test_images_that_will_never_come(reason: str) -> None:
    p = pod(c(state="waiting", reason=reason), phase="Pending")
    assert decide(run(p), NOW, POLICY) == stopped(RunStatus.ERROR, f"container benchmark cannot pull its image {IMAGE} ({reason})")


def test_crash_loop_of_the_sidecar() -> None:
    p = pod(c("inference-server", "waiting", "CrashLoopBackOff", "back-off 40s", kind="sidecar", restarts=5, last_exit_code=139),
            c(state="waiting", reason="PodInitializing"), role="inference")
    assert decide(run(p), NOW, POLICY) == stopped(
        RunStatus.FAILED, "container inference-server keeps crashing (CrashLoopBackOff after 5 restarts, last exit code 139)")


def test_create_container_config_error() -> None:
    p = pod(c(state="waiting", reason="CreateContainerConfigError", message='configmap "x-scripts" not found'), phase="Pending")
    assert decide(run(p), NOW, POLICY) == stopped(
        RunStatus.ERROR, 'container benchmark cannot be created (CreateContainerConfigError): configmap "x-scripts" not found')


def test_unschedulable_past_the_deadline_times_out() -> None:
    p = pod(c(state="waiting"), node="", phase="Pending", scheduled=unschedulable_for(900))
    assert decide(run(p), NOW, POLICY) == stopped(
        RunStatus.TIMED_OUT, "unschedulable for 15m: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")


def test_unschedulable_deadline_comes_from_the_policy() -> None:
    p = pod(c(state="waiting"), node="", phase="Pending", scheduled=unschedulable_for(125, "0/1 nodes are available"))
    assert decide(run(p), NOW, StatusPolicy(120)) == stopped(RunStatus.TIMED_OUT, "unschedulable for 2m: 0/1 nodes are available")
    assert decide(run(p), NOW, StatusPolicy(3600)).status is RunStatus.PENDING


def test_terminated_pods_are_not_stuck() -> None:
    p = pod(c(state="waiting", reason="ImagePullBackOff"), phase="Failed")
    assert decide(run(p, conditions=failed()), NOW, POLICY).actions == (Report(),)


# -- suspended, deleted, Anubis' own outcome, reported ------------------------------------------------

def test_suspended_by_someone_else_is_canceled() -> None:
    assert decide(run(pod(c()), suspended=True), NOW, POLICY) == final(
        RunStatus.CANCELED, "the Job resnet-4d1c7e2a90 was suspended (spec.suspend: true) before it finished")


def test_suspended_mpijob() -> None:
    assert decide(run(kind="MPIJob", suspended=True), NOW, POLICY) == final(
        RunStatus.CANCELED, "the MPIJob resnet-4d1c7e2a90 was suspended (spec.runPolicy.suspend: true) before it finished")


def test_deleted_before_it_finished() -> None:
    assert decide(run(pod(c()), deleted=True), NOW, POLICY) == final(
        RunStatus.CANCELED, "the Job resnet-4d1c7e2a90 was deleted before it finished")


def test_deleted_after_it_finished_keeps_its_status() -> None:
    r = run(deleted=True, conditions=(Condition("Complete", "True"),))
    assert decide(r, NOW, POLICY) == final(RunStatus.SUCCEEDED, "")


def test_outcome_written_by_anubis_wins() -> None:
    outcome = outcome_annotation(RunStatus.CANCELED, "canceled by anubis cancel")
    r = run(suspended=True, outcome=outcome, conditions=(Condition("Suspended", "True"),))
    assert decide(r, NOW, POLICY) == final(RunStatus.CANCELED, "canceled by anubis cancel")
    timed_out = outcome_annotation(RunStatus.TIMED_OUT, "unschedulable for 15m: 0/3 nodes are available")
    assert decide(run(suspended=True, outcome=timed_out), NOW, POLICY) == final(
        RunStatus.TIMED_OUT, "unschedulable for 15m: 0/3 nodes are available")


def test_unreadable_outcome_is_ignored() -> None:
    assert decide(run(suspended=True, outcome="{not json"), NOW, POLICY).status is RunStatus.CANCELED
    assert decide(run(pod(c()), outcome=json.dumps({"status": "RUNNING"})), NOW, POLICY).status is RunStatus.RUNNING


def test_reported_run_needs_nothing() -> None:
    r = run(conditions=(Condition("Complete", "True"),))
    r2 = run(conditions=(Condition("Complete", "True"),), reported=r.execution_id)
    assert decide(r2, NOW, POLICY) == Decision(RunStatus.SUCCEEDED, "")
    other = run(conditions=(Condition("Complete", "True"),), reported="resnet-4d1c7e2a90-ffffffff")
    assert decide(other, NOW, POLICY).actions == (Report(),)


def test_every_status_is_reachable() -> None:
    statuses = {
        decide(run(), NOW, POLICY).status,
        decide(run(pod(c("fetch-data", kind="init"))), NOW, POLICY).status,
        decide(run(pod(c(state="waiting"))), NOW, POLICY).status,
        decide(run(pod(c())), NOW, POLICY).status,
        decide(run(conditions=(Condition("Complete", "True"),)), NOW, POLICY).status,
        decide(run(conditions=failed()), NOW, POLICY).status,
        decide(run(pod(c(state="waiting", reason="InvalidImageName"))), NOW, POLICY).status,
        decide(run(suspended=True), NOW, POLICY).status,
        decide(run(conditions=failed("DeadlineExceeded")), NOW, POLICY).status,
    }
    assert statuses == set(RunStatus)


# -- observed state from API objects -------------------------------------------------------------------

def test_execution_id_is_run_id_and_uid_prefix() -> None:
    assert run().execution_id == "resnet-4d1c7e2a90-0a1b2c3d"


def test_launcher_job_of_an_mpijob_is_not_a_run() -> None:
    job = {"kind": "Job", "metadata": {"name": "h-launcher", "labels": {"anubis.dev/run-id": "h"},
                                       "ownerReferences": [{"kind": "MPIJob", "uid": "u"}]}}
    assert run_from_object(job) is None
    assert run_from_object({"kind": "Job", "metadata": {"name": "x"}}) is None


def test_objects_parse() -> None:
    job = {"kind": "Job", "metadata": {
        "name": "r", "namespace": "ns", "uid": "u-1", "labels": {"anubis.dev/run-id": "r", "anubis.dev/environment": "e"},
        "annotations": {"anubis.dev/reported": "r-u1", "anubis.dev/runspec": "{}"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"suspend": True, "activeDeadlineSeconds": 60},
        "status": {"startTime": "2026-01-01T00:00:10Z", "conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "lastTransitionTime": "2026-01-01T00:01:10Z"}]}}
    state = run_from_object(job)
    assert state is not None
    assert (state.kind, state.suspended, state.reported, state.active_deadline_seconds, state.environment) == (
        "Job", True, "r-u1", 60, "e")
    assert state.started is not None and state.created is not None and state.started - state.created == 10
    mpijob = {"kind": "MPIJob", "metadata": {"name": "m", "uid": "u", "labels": {"anubis.dev/run-id": "m"}},
              "spec": {"runPolicy": {"suspend": True, "activeDeadlineSeconds": 7200}}}
    m = run_from_object(mpijob)
    assert m is not None and m.suspended and m.active_deadline_seconds == 7200
    p = pod_from_object({
        "metadata": {"name": "p", "uid": "pu", "labels": {"anubis.dev/role": "inference"},
                     "ownerReferences": [{"kind": "Job", "uid": "u-1", "controller": True}]},
        "spec": {"nodeName": "n", "initContainers": [{"name": "fetch-data", "image": "f"},
                                                    {"name": "inference-server", "image": "s", "restartPolicy": "Always"}],
                 "containers": [{"name": "benchmark", "image": "b"}]},
        "status": {"phase": "Running", "initContainerStatuses": [
            {"name": "fetch-data", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "inference-server", "state": {"running": {}}, "started": True, "restartCount": 2,
             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]},
    })
    assert (p.role, p.owner_uid, p.node_name) == ("inference", "u-1", "n")
    kinds = {x.name: (x.kind, x.state) for x in p.containers}
    assert kinds == {"fetch-data": ("init", "terminated"), "inference-server": ("sidecar", "running"),
                     "benchmark": ("main", "unknown")}
    server = p.container("inference-server")
    assert server is not None and (server.restarts, server.last_exit_code, server.last_reason) == (2, 137, "OOMKilled")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (45, "45s"), (900, "15m"), (7200, "2h"), (5405, "1h30m5s")])
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


# -- states the controller used to misread (issue 14) -------------------------------------------------

def disruption(reason: str, message: str = "") -> Condition:
    return Condition("DisruptionTarget", "True", reason, message, NOW)


def test_node_pressure_eviction_is_named_before_the_exit_code_of_the_killed_container() -> None:
    p = pod(c(state="terminated", reason="Error", exit_code=137), phase="Failed", reason="Evicted",
            message="The node was low on resource: memory. ", disruption=disruption("TerminationByKubelet"))
    assert decide(run(p, conditions=failed()), NOW, POLICY) == final(
        RunStatus.ERROR, "pod job-abcde was evicted by the kubelet (TerminationByKubelet): The node was low on resource: memory.")


def test_preemption_is_named_before_the_exit_code() -> None:
    p = pod(c(state="terminated", reason="Error", exit_code=143), phase="Failed",
            disruption=disruption("PreemptionByScheduler", "default-scheduler: preempting to accommodate a higher priority pod"))
    assert decide(run(p, conditions=failed()), NOW, POLICY) == final(
        RunStatus.ERROR, "pod job-abcde was preempted by the scheduler for a pod of higher priority "
                         "(PreemptionByScheduler): default-scheduler: preempting to accommodate a higher priority pod")


@pytest.mark.parametrize("reason", ["UnexpectedAdmissionError", "OutOfcpu", "OutOfnvidia.com/gpu"])
def test_admission_failure_keeps_the_pod_reason(reason: str) -> None:
    p = pod(c(state="waiting", reason="ContainerCreating"), phase="Failed", reason=reason,
            message="Pod was rejected: Node didn't have enough resource: cpu, requested: 4000, used: 1000, capacity: 4000")
    assert decide(run(p, conditions=failed()), NOW, POLICY) == final(
        RunStatus.ERROR, f"pod job-abcde was rejected by node node-1 ({reason}): Pod was rejected: Node didn't have "
                         "enough resource: cpu, requested: 4000, used: 1000, capacity: 4000")


def test_failure_target_is_final_not_pending_while_the_pods_terminate() -> None:
    target = (Condition("FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline", NOW),)
    assert decide(run(conditions=target, active_deadline_seconds=3600), NOW, POLICY) == final(
        RunStatus.TIMED_OUT, "the run passed its time limit of 1h and was stopped (DeadlineExceeded)")


def test_success_criteria_met_is_success() -> None:
    met = (Condition("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods", NOW),)
    assert decide(run(conditions=met), NOW, POLICY) == final(RunStatus.SUCCEEDED, "")


def test_sidecar_oom_killed_and_restarted_is_named() -> None:
    server = c("inference-server", kind="sidecar", restarts=1, last_exit_code=137, last_reason="OOMKilled")
    p = pod(server, c(state="terminated", reason="Error", exit_code=1), phase="Failed")
    assert decide(run(p, conditions=failed()), NOW, POLICY) == final(
        RunStatus.FAILED, "container inference-server ran out of memory and was killed (OOMKilled, 1 restart)")


def test_sidecar_crash_loop_after_oom_says_so() -> None:
    server = c("inference-server", "waiting", "CrashLoopBackOff", kind="sidecar", restarts=4, last_exit_code=137,
               last_reason="OOMKilled")
    assert decide(run(pod(server, c(state="waiting", reason="PodInitializing"))), NOW, POLICY) == stopped(
        RunStatus.FAILED, "container inference-server keeps crashing (CrashLoopBackOff after 4 restarts, last exit code 137, OOMKilled)")


@pytest.mark.parametrize("reason", ["ImageInspectError", "SignatureValidationFailed", "InvalidImageName", "ErrImageNeverPull"])
def test_image_errors_that_never_resolve_stop_the_run(reason: str) -> None:
    p = pod(c(state="waiting", reason=reason, message="why"), phase="Pending")
    assert decide(run(p), NOW, POLICY) == stopped(
        RunStatus.ERROR, f"container benchmark cannot pull its image {IMAGE} ({reason}): why")


RATE_LIMITED = ('Back-off pulling image "docker.io/anubis/resnet:1.0": toomanyrequests: You have reached your pull '
                'rate limit.')


def test_a_temporary_pull_back_off_waits_for_its_grace_period() -> None:
    scheduled = Condition("PodScheduled", "True", since=NOW - 120)
    p = pod(c(state="waiting", reason="ImagePullBackOff", message=RATE_LIMITED), phase="Pending", scheduled=scheduled)
    decision = decide(run(p), NOW, POLICY)
    assert (decision.status, decision.actions, decision.recheck) == (RunStatus.INITIALIZING, (), True)
    assert decision.reason == (f"container benchmark is waiting for its image {IMAGE} (ImagePullBackOff, for 2m, "
                               f"stopped after 10m): {RATE_LIMITED}")
    later = decide(run(p), NOW + 600, POLICY)
    assert later == stopped(RunStatus.ERROR, f"container benchmark cannot pull its image {IMAGE}: still backing off "
                                             f"after 12m (ImagePullBackOff): {RATE_LIMITED}")


def test_a_pull_back_off_for_a_missing_image_is_final_at_once() -> None:
    message = 'Back-off pulling image "x": manifest unknown'
    p = pod(c(state="waiting", reason="ImagePullBackOff", message=message), phase="Pending")
    assert decide(run(p), NOW, POLICY) == stopped(
        RunStatus.ERROR, f"container benchmark cannot pull its image {IMAGE} (ImagePullBackOff): {message}")


def test_scheduling_gated_waits_then_times_out() -> None:
    gated = Condition("PodScheduled", "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates", NOW - 60)
    p = pod(c(state="waiting", reason="ContainerCreating"), phase="Pending", node="", scheduled=gated)
    assert decide(run(p), NOW, POLICY) == Decision(
        RunStatus.PENDING, "scheduling gated for 1m: Scheduling is blocked due to non-empty scheduling gates")
    assert decide(run(p), NOW + 900, POLICY) == stopped(
        RunStatus.TIMED_OUT, "scheduling gated (spec.schedulingGates) for 16m: Scheduling is blocked due to non-empty scheduling gates")


def worker(name: str, *containers: ContainerState, phase: str = "Running", ready: bool = True, **extra: object) -> PodState:
    cond = Condition("Ready", "True" if ready else "False", since=NOW - 50)
    return pod(*containers, name=name, phase=phase, role="worker", ready=cond,
               scheduled=Condition("PodScheduled", "True", since=NOW - 100), **extra)


def test_mpijob_with_a_failed_worker_is_stopped_with_the_workers_reason() -> None:
    fetch = c("fetch-data", "terminated", "Error", "s3://bucket/x: Access Denied", 1, kind="init")
    bad = worker("mpi-worker-1", fetch, c(state="waiting", reason="PodInitializing"), phase="Failed", ready=False)
    good = worker("mpi-worker-0", c())
    assert decide(run(good, bad, kind="MPIJob", workers=2), NOW, POLICY) == stopped(
        RunStatus.ERROR, "fetching data failed: init container fetch-data exited with code 1: s3://bucket/x: Access Denied")


def test_mpijob_worker_rejected_at_admission_is_stopped() -> None:
    bad = worker("mpi-worker-1", c(state="waiting", reason="ContainerCreating"), phase="Failed", ready=False,
                 reason="UnexpectedAdmissionError", message="Allocate failed due to no healthy devices present")
    assert decide(run(worker("mpi-worker-0", c()), bad, kind="MPIJob", workers=2), NOW, POLICY) == stopped(
        RunStatus.ERROR, "pod mpi-worker-1 was rejected by node node-1 (UnexpectedAdmissionError): "
                         "Allocate failed due to no healthy devices present")


def test_mpijob_workers_never_ready_time_out() -> None:
    slow = worker("mpi-worker-1", c(ready=False), ready=False)
    state = run(worker("mpi-worker-0", c()), slow, kind="MPIJob", workers=2)
    waiting = decide(state, NOW, POLICY)
    assert (waiting.status, waiting.reason, waiting.recheck) == (
        RunStatus.INITIALIZING, "waiting for its workers to be ready (1 of 2, for 1m40s); the launcher starts then", True)
    assert decide(state, NOW + 1800, POLICY) == stopped(
        RunStatus.TIMED_OUT, "only 1 of 2 workers were ready after 31m40s (the MPI Operator starts the launcher once "
                             "all are): container benchmark of worker pod mpi-worker-1 is running but not ready")


def test_mpijob_evicted_without_pods_left_says_so() -> None:
    cond = (Condition("Failed", "True", "MPIJobEvicted", "1/2 workers are evicted", NOW),)
    assert decide(run(kind="MPIJob", conditions=cond), NOW, POLICY) == Decision(
        RunStatus.ERROR, "the MPIJob's workers were evicted: 1/2 workers are evicted", (Report(),), unexplained=True)


def test_pod_conditions_are_read_from_the_api_object() -> None:
    obj = {"metadata": {"name": "p", "uid": "u"}, "spec": {"nodeName": "n"},
           "status": {"phase": "Failed", "reason": "Evicted", "conditions": [
               {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": "m"},
               {"type": "Ready", "status": "False"}]}}
    p = pod_from_object(obj)
    assert p.disruption is not None and p.disruption.reason == "TerminationByKubelet"
    assert p.ready is not None and p.ready.status == "False"
