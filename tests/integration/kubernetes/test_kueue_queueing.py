"""Runs queued by Kueue, through the cluster simulator with a fake Kueue that admits Workloads as Kueue
does (tests/fakes/kueue.py: the webhook suspends a labelled job at creation, quota is all or nothing,
queue order, the visibility API's positions): the controller says why a queued run waits instead of
calling it canceled, a cancelled queued run ends CANCELED and its Workload is deactivated (so Kueue
never starts it), and the next run in the queue is admitted once quota frees."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import SETTINGS, Clock, rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes
from fakes.kueue import ClusterQueue, FakeKueue

from controller.kubernetes.cancel import cancel_on_cluster
from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.following import find_run
from controller.kubernetes.reconciler import Controller
from controller.sqlite_store import SqliteResultStore
from schemas.status import RunStatus

NAMESPACE = "anubis-gpu-runs"
QUEUE = "anubis-p3-8xlarge"
START = 1_800_000_000.0


def _mpijob(name: str, run_id: str, queue: str = QUEUE) -> dict[str, Any]:
    """The golden horovod MPIJob (2 workers x 4 GPUs), as another run of its own, in a queue."""
    obj = copy.deepcopy(rendered("horovod", "MPIJob"))
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"]["anubis.dev/run-id"] = run_id
    annotations = obj["metadata"]["annotations"]
    runspec = json.loads(annotations["anubis.dev/runspec"])
    runspec["run_id"] = run_id
    annotations["anubis.dev/runspec"] = json.dumps(runspec)
    obj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = queue
    for replica in obj["spec"]["mpiReplicaSpecs"].values():
        replica["template"]["metadata"]["labels"]["anubis.dev/run-id"] = run_id
    return obj


@pytest.fixture
def cluster(fake_api: FakeKubernetes) -> tuple[ClusterSimulator, FakeKueue]:
    clock = Clock(START)
    sim = ClusterSimulator(fake_api, clock)
    sim.add_node("node-1", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    kueue = FakeKueue(fake_api, [ClusterQueue(QUEUE, "p3-8xlarge", {"nvidia.com/gpu": 8, "cpu": 200})],
                      {(NAMESPACE, QUEUE): QUEUE})
    sim.controllers.append(kueue.sync)
    return sim, kueue


@pytest.fixture
def running(fake_api: FakeKubernetes, store: SqliteResultStore) -> Iterator[tuple[Controller, KubeClient]]:
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.2))
    ctl = Controller(client, store, settings=SETTINGS)
    ctl.start()
    assert ctl.wait_synced(10)
    yield ctl, client
    ctl.stop(timeout=0)
    fake_api.drop_watches()


def _message(client: KubeClient, run_id: str) -> tuple[RunStatus, str]:
    decision = find_run(client, run_id, (NAMESPACE,)).decision(START)
    return decision.status, decision.reason


def test_queued_runs_say_why_they_wait_and_run_in_turn(
    fake_api: FakeKubernetes, cluster: tuple[ClusterSimulator, FakeKueue], running: tuple[Controller, KubeClient],
    store: SqliteResultStore,
) -> None:
    sim, _kueue = cluster
    _ctl, client = running
    sim.submit(_mpijob("mpi-first", "horovod-first-0000000001"), scenario.succeed())
    second = sim.submit(_mpijob("mpi-second", "horovod-second-000000002"), scenario.succeed())
    third = sim.submit(_mpijob("mpi-third", "horovod-third-0000000003"), scenario.succeed())
    sim.watch_suspend()  # Kueue: Workloads made, the first admitted (8 of 8 GPUs), the others pending
    # (the first one's scenario runs only once it is admitted; a queued one has no pods at all)
    assert fake_api.get("mpijobs", NAMESPACE, "mpi-second")["spec"]["runPolicy"]["suspend"] is True
    assert not second.pods and not third.pods

    status, reason = _message(client, "horovod-third-0000000003")
    assert status is RunStatus.PENDING
    assert reason == (
        "queued in cluster queue anubis-p3-8xlarge: 1 workload ahead, quota 8 of 8 nvidia.com/gpu in use "
        "(couldn't assign flavors to pod set worker: insufficient unused quota for nvidia.com/gpu in flavor "
        "p3-8xlarge, 8 more needed)"
    )
    assert _message(client, "horovod-second-000000002")[1].startswith("queued in cluster queue anubis-p3-8xlarge: 0 workloads ahead")

    # Cancelling a queued run: suspended already, so the Workload must be deactivated (Kueue would start it)
    [canceled] = cancel_on_cluster(client, "horovod-third-0000000003", (NAMESPACE,))
    assert canceled.name == "mpi-third"
    workloads = {w["metadata"]["ownerReferences"][0]["name"]: w for w in fake_api.objects("workloads", NAMESPACE)}
    assert workloads["mpi-third"]["spec"]["active"] is False

    # The first runs to the end; its quota goes to the second, which then runs too.
    for _ in range(40):
        sim.step()
        if results_of(store, "horovod-second-000000002"):
            break
    [done_first] = wait_for(lambda: results_of(store, "horovod-first-0000000001"), sim)
    assert done_first.status is RunStatus.SUCCEEDED
    [done_second] = wait_for(lambda: results_of(store, "horovod-second-000000002"), sim)
    assert done_second.status is RunStatus.SUCCEEDED
    [done_third] = wait_for(lambda: results_of(store, "horovod-third-0000000003"), sim)
    assert done_third.status is RunStatus.CANCELED
    assert done_third.reason.startswith("canceled by anubis cancel (")
    assert not third.pods  # Kueue never admitted it: it never held a GPU


def test_a_queue_that_does_not_exist_is_an_error_after_the_deadline(
    fake_api: FakeKubernetes, cluster: tuple[ClusterSimulator, FakeKueue], store: SqliteResultStore,
) -> None:
    from controller.kubernetes.statuses import StatusPolicy

    sim, _kueue = cluster
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1))
    sim.submit(_mpijob("mpi-lost", "horovod-lost-00000000004", queue="no-such-queue"), scenario.succeed())
    sim.watch_suspend()
    run = find_run(client, "horovod-lost-00000000004", (NAMESPACE,))
    created = run.state.created
    assert created is not None
    early = run.decision(created + 60, StatusPolicy(900))
    assert (early.status, early.reason) == (RunStatus.PENDING, "Kueue cannot admit the run: LocalQueue no-such-queue doesn't exist")
    late = run.decision(created + 901, StatusPolicy(900))
    assert late.status is RunStatus.ERROR and late.final
    assert late.reason.startswith("Kueue cannot admit the run: LocalQueue no-such-queue doesn't exist (for 15m")


def test_an_admitted_job_suspended_by_hand_is_started_again_by_kueue(
    fake_api: FakeKubernetes, cluster: tuple[ClusterSimulator, FakeKueue],
) -> None:
    """The fake is as strict as Kueue: suspending an admitted job without deactivating its Workload
    does not stop it (the job reconciler starts it again) — why cancel deactivates the Workload."""
    sim, _kueue = cluster
    sim.submit(_mpijob("mpi-solo", "horovod-solo-00000000005"), scenario.hang())
    sim.watch_suspend()
    assert fake_api.get("mpijobs", NAMESPACE, "mpi-solo")["spec"]["runPolicy"]["suspend"] is False  # admitted
    fake_api.mutate("mpijobs", NAMESPACE, "mpi-solo", lambda o: o["spec"]["runPolicy"].update(suspend=True))
    sim.watch_suspend()
    assert fake_api.get("mpijobs", NAMESPACE, "mpi-solo")["spec"]["runPolicy"]["suspend"] is False
