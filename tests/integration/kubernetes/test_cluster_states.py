"""States the controller used to misread (issue 14), each driven through the cluster simulator as the
real kubelet, scheduler, Job controller and MPI Operator produce them, each asserting the final
status, its reason, and (for a run Anubis stops) the suspend and the outcome written on the object."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator, SimRun
from fakes.harness import SETTINGS, Clock, rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.kubernetes.sinks import NullMetrics
from controller.sqlite_store import SqliteResultStore
from schemas.results import ResultRecord
from schemas.status import RunStatus

SINGLE = "resnet-train-4d1c7e2a90"
INFERENCE = "bert-serving-5e6f7a8b9c"
HOROVOD = "horovod-resnet-77aa01bc3d"
START = 1_800_000_000.0


class Transitions(NullMetrics):
    """The controller's metrics sink, keeping every status it went through."""

    def __init__(self) -> None:
        self.seen: list[RunStatus] = []

    def transition(self, status: RunStatus) -> None:
        self.seen.append(status)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def transitions() -> Transitions:
    return Transitions()


def make_sim(api: FakeKubernetes, clock: Clock, version: tuple[int, int] = (1, 29)) -> ClusterSimulator:
    simulator = ClusterSimulator(api, clock, k8s_version=version)
    simulator.add_node("node-1", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    return simulator


@pytest.fixture
def sim(fake_api: FakeKubernetes, clock: Clock) -> ClusterSimulator:
    return make_sim(fake_api, clock)


@pytest.fixture
def controller(fake_api: FakeKubernetes, store: SqliteResultStore, clock: Clock,
               transitions: Transitions) -> Iterator[Controller]:
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.2))
    ctl = Controller(client, store, settings=SETTINGS, clock=clock, metrics=transitions)
    ctl.start()
    assert ctl.wait_synced(10)
    yield ctl
    ctl.stop(timeout=0)
    fake_api.drop_watches()


def result(store: SqliteResultStore, sim: ClusterSimulator, run_id: str, timeout: float = 20.0) -> ResultRecord:
    [record] = wait_for(lambda: results_of(store, run_id), sim, timeout=timeout)
    return record


def outcome(api: FakeKubernetes, run: SimRun) -> tuple[bool, dict[str, str]]:
    """(suspended, the outcome annotation) of the run's object."""
    obj = api.get(run.plural, run.namespace, run.name)
    assert obj is not None
    spec = obj["spec"]
    suspended = spec["runPolicy"].get("suspend") if run.plural == "mpijobs" else spec.get("suspend")
    return bool(suspended), json.loads(obj["metadata"].get("annotations", {}).get("anubis.dev/outcome", "{}"))


def settle(sim: ClusterSimulator, controller: Controller, transitions: Transitions, status: RunStatus) -> None:
    """Every step taken, the controller at ``status`` and idle (so a later clock move is what it decides on)."""
    sim.run_all()
    wait_for(lambda: status in transitions.seen and controller.idle(), sim)


# -- disruptions: never "container exited with code 137" ------------------------------------------

EVICTION = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 42Mi."


def test_node_pressure_eviction_is_not_an_exit_code(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                   controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.evicted())
    sim.run_all()
    record = result(store, sim, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.ERROR, f"pod {run.pods[0]} was evicted by the kubelet (TerminationByKubelet): {EVICTION}")


def test_preemption_is_not_an_exit_code(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                        store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.preempted())
    sim.run_all()
    record = result(store, sim, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.ERROR, f"pod {run.pods[0]} was preempted by the scheduler for a pod of higher priority "
                         "(PreemptionByScheduler): default-scheduler: preempting to accommodate a higher priority pod")


def test_mpijob_worker_evicted(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                               store: SqliteResultStore) -> None:
    sim.submit(rendered("horovod", "MPIJob"), scenario.evicted(only="-worker-1"))
    sim.run_all()
    record = result(store, sim, HOROVOD)
    assert (record.status, record.reason) == (
        RunStatus.ERROR, f"pod {HOROVOD}-worker-1 was evicted by the kubelet (TerminationByKubelet): {EVICTION}")


# -- admission failures keep their reason ----------------------------------------------------------

@pytest.mark.parametrize(("reason", "message"), [
    ("UnexpectedAdmissionError", "Allocate failed due to no healthy devices present; cannot allocate unhealthy devices nvidia.com/gpu"),
    ("OutOfcpu", "Pod was rejected: Node didn't have enough resource: cpu, requested: 8000, used: 30000, capacity: 32000"),
])
def test_admission_failure_keeps_the_pod_reason(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                                store: SqliteResultStore, reason: str, message: str) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.rejected(reason, message))
    sim.run_all()
    record = result(store, sim, SINGLE)
    assert (record.status, record.reason) == (RunStatus.ERROR, f"pod {run.pods[0]} was rejected by node node-1 ({reason}): {message}")


def test_mpijob_worker_rejected_at_admission_is_stopped(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                        controller: Controller, store: SqliteResultStore) -> None:
    message = "Allocate failed due to no healthy devices present; cannot allocate unhealthy devices nvidia.com/gpu"
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.rejected("UnexpectedAdmissionError", message))
    sim.run_all()
    record = result(store, sim, HOROVOD)
    expected = f"pod {HOROVOD}-worker-1 was rejected by node node-1 (UnexpectedAdmissionError): {message}"
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    assert outcome(fake_api, run) == (True, {"status": "ERROR", "reason": expected})


# -- Kubernetes >= 1.31: FailureTarget / SuccessCriteriaMet first -------------------------------------

def test_timed_out_job_on_1_31_is_never_pending_while_its_pods_terminate(
        fake_api: FakeKubernetes, clock: Clock, controller: Controller, store: SqliteResultStore,
        transitions: Transitions) -> None:
    sim = make_sim(fake_api, clock, (1, 31))
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    settle(sim, controller, transitions, RunStatus.RUNNING)
    run.steps.extend(scenario.deadline_exceeded()[-1:])
    run.done = False
    sim.step()  # FailureTarget, the pod terminating
    job = fake_api.get("jobs", run.namespace, run.name)
    assert job is not None and [c["type"] for c in job["status"]["conditions"]] == ["FailureTarget"]
    record = result(store, sim, SINGLE)
    sim.run_all()  # the pod gone, Failed
    assert (record.status, record.reason) == (
        RunStatus.TIMED_OUT, "the run passed its time limit of 2h and was stopped (DeadlineExceeded)")
    assert RunStatus.PENDING not in transitions.seen[transitions.seen.index(RunStatus.RUNNING):]


def test_successful_job_on_1_31(fake_api: FakeKubernetes, clock: Clock, controller: Controller,
                                store: SqliteResultStore) -> None:
    sim = make_sim(fake_api, clock, (1, 31))
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(),
                     logs={"benchmark": ["throughput=5"]})
    sim.run_all()
    record = result(store, sim, SINGLE)
    job = fake_api.get("jobs", run.namespace, run.name)
    assert job is not None and [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert (record.status, record.reason) == (RunStatus.SUCCEEDED, "")


# -- a sidecar's OOMKilled is named ----------------------------------------------------------------

def test_inference_server_oom_killed_is_named(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                              store: SqliteResultStore) -> None:
    sim.submit(rendered("inference", "Job"), scenario.sidecar_oom_killed())
    sim.run_all()
    record = result(store, sim, INFERENCE)
    assert (record.status, record.reason) == (
        RunStatus.FAILED, "container inference-server ran out of memory and was killed (OOMKilled, 1 restart)")


# -- image errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("reason", "message"), [
    ("ImageInspectError", "Failed to inspect image \"x\": rpc error: code = Unknown desc = image config is corrupt"),
    ("SignatureValidationFailed", "image pull failed for x because the signature validation failed"),
    ("InvalidImageName", "Failed to apply default image tag \"x\": couldn't parse image name"),
    ("ErrImageNeverPull", "Container image \"x\" is not present with pull policy of Never"),
])
def test_image_errors_that_never_resolve_stop_the_run(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                      controller: Controller, store: SqliteResultStore,
                                                      reason: str, message: str) -> None:
    job = rendered("single-node-gpu-data-script", "Job")
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    run = sim.submit(job, scenario.image_error(reason, message))
    sim.run_all()
    record = result(store, sim, SINGLE)
    expected = f"container benchmark cannot pull its image {image} ({reason}): {message}"
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    assert outcome(fake_api, run) == (True, {"status": "ERROR", "reason": expected})


def test_a_rate_limited_pull_gets_a_grace_period(fake_api: FakeKubernetes, sim: ClusterSimulator, clock: Clock,
                                                 controller: Controller, store: SqliteResultStore,
                                                 transitions: Transitions) -> None:
    job = rendered("single-node-gpu-data-script", "Job")
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    message = (f'Back-off pulling image "{image}": toomanyrequests: You have reached your pull rate limit. '
               "You may increase the limit by authenticating and upgrading")
    run = sim.submit(job, scenario.image_pull_failure(message, rounds=2))
    settle(sim, controller, transitions, RunStatus.INITIALIZING)
    assert results_of(store, SINGLE) == [] and RunStatus.ERROR not in transitions.seen
    assert outcome(fake_api, run) == (False, {})
    clock.advance(601)
    record = result(store, sim, SINGLE)
    expected = f"container benchmark cannot pull its image {image}: still backing off after 10m1s (ImagePullBackOff): {message}"
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    assert outcome(fake_api, run) == (True, {"status": "ERROR", "reason": expected})


# -- SchedulingGated -------------------------------------------------------------------------------

def test_scheduling_gated_past_the_deadline_times_out(fake_api: FakeKubernetes, sim: ClusterSimulator, clock: Clock,
                                                      controller: Controller, store: SqliteResultStore,
                                                      transitions: Transitions) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.scheduling_gated())
    settle(sim, controller, transitions, RunStatus.PENDING)
    assert results_of(store, SINGLE) == []
    clock.advance(901)
    record = result(store, sim, SINGLE)
    expected = "scheduling gated (spec.schedulingGates) for 15m: Scheduling is blocked due to non-empty scheduling gates"
    assert (record.status, record.reason) == (RunStatus.TIMED_OUT, expected)
    assert outcome(fake_api, run) == (True, {"status": "TIMED_OUT", "reason": expected})


# -- MPIJobs the operator would never finish ---------------------------------------------------------

def test_mpijob_whose_workers_fail_to_fetch_is_stopped(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                       controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.fetch_failure("s3://anubis-datasets/synthetic.bin: Access Denied"))
    sim.run_all()
    record = result(store, sim, HOROVOD)
    expected = "fetching data failed: init container fetch-data exited with code 1: s3://anubis-datasets/synthetic.bin: Access Denied"
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    assert outcome(fake_api, run) == (True, {"status": "ERROR", "reason": expected})
    assert run.launcher is None  # the operator never created it, and never failed the MPIJob
    wait_for(lambda: sim.watch_suspend() or not any(fake_api.get("pods", run.namespace, p) for p in run.pods), sim)


def test_mpijob_whose_workers_never_get_ready_times_out(fake_api: FakeKubernetes, sim: ClusterSimulator, clock: Clock,
                                                        controller: Controller, store: SqliteResultStore,
                                                        transitions: Transitions) -> None:
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.workers_never_ready())
    settle(sim, controller, transitions, RunStatus.INITIALIZING)
    assert results_of(store, HOROVOD) == [] and run.launcher is None
    clock.advance(1800)
    record = result(store, sim, HOROVOD)
    expected = (f"only 1 of 2 workers were ready after 30m (the MPI Operator starts the launcher once all are): "
                f"container benchmark of worker pod {HOROVOD}-worker-1 is running but not ready")
    assert (record.status, record.reason) == (RunStatus.TIMED_OUT, expected)
    assert outcome(fake_api, run) == (True, {"status": "TIMED_OUT", "reason": expected})


def test_a_missing_secret_key_stops_the_run(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                            store: SqliteResultStore) -> None:
    message = 'couldn\'t find key token in Secret anubis-runs/hub'
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.image_error("CreateContainerConfigError", message))
    sim.run_all()
    record = result(store, sim, SINGLE)
    expected = f"container benchmark cannot be created (CreateContainerConfigError): {message}"
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    assert outcome(fake_api, run) == (True, {"status": "ERROR", "reason": expected})


def test_the_simulated_operator_starts_the_launcher_only_when_every_worker_is_ready(
        fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    """The simulator itself, as mpi-operator v0.6.0 behaves (see its module docstring)."""
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.succeed())
    sim.step()  # workers created
    sim.step()  # scheduled
    assert run.launcher is None and fake_api.objects("jobs", run.namespace) == []
    sim.step()  # started and Ready: the operator creates the launcher Job
    [launcher] = fake_api.objects("jobs", run.namespace)
    mpijob = fake_api.get("mpijobs", run.namespace, run.name)
    assert mpijob is not None
    assert launcher["spec"]["activeDeadlineSeconds"] == mpijob["spec"]["runPolicy"]["activeDeadlineSeconds"]
    assert launcher["metadata"]["ownerReferences"][0]["kind"] == "MPIJob"
    worker = fake_api.get("pods", run.namespace, f"{HOROVOD}-worker-0")
    assert worker is not None and "activeDeadlineSeconds" not in worker["spec"]  # the workers have no deadline
    assert worker["metadata"]["ownerReferences"][0]["kind"] == "MPIJob"
    sim.run_all()
    mpijob = fake_api.get("mpijobs", run.namespace, run.name)
    assert mpijob is not None
    assert [c["type"] for c in mpijob["status"]["conditions"]] == ["Created", "Running", "Succeeded"]


def test_the_simulated_operator_never_fails_an_mpijob_for_a_failed_worker(
        fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.fetch_failure("no data"))
    sim.run_all()
    mpijob = fake_api.get("mpijobs", run.namespace, run.name)
    assert mpijob is not None and [c["type"] for c in mpijob["status"]["conditions"]] == ["Created"]
    worker = fake_api.get("pods", run.namespace, f"{HOROVOD}-worker-0")
    assert worker is not None and worker["status"]["phase"] == "Failed"  # and never re-created
    assert run.launcher is None
