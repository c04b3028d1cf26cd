"""What keeps the controller lean at scale (issue 16): its watches stream their lists a page at a
time, a completed Job is reported from the pod cache without a fresh LIST, verdicts are judged only
for exporters; and the fake API served from a process of its own (the load bench's setup)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fakes import cluster_simulator as scenario
from fakes.cluster_process import ClusterProcess
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import SETTINGS, rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.client import PODS, KubeClient, Resource, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.kubernetes.recording import Reported
from controller.kubernetes.watching import Watcher
from controller.sqlite_store import SqliteResultStore
from schemas.status import RunStatus

NS = "anubis-runs"
SINGLE = "resnet-train-4d1c7e2a90"
LOGS = {"benchmark": ["throughput=100.5", "throughput=101.5"]}


def client(api: FakeKubernetes) -> KubeClient:
    return KubeClient(api.api_client(), retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))


def make_pods(api: FakeKubernetes, count: int) -> None:
    for i in range(count):
        api.create("pods", {"metadata": {"name": f"p{i:05d}", "namespace": NS,
                                         "labels": {"app.kubernetes.io/managed-by": "anubis"}},
                            "spec": {"containers": [{"name": "benchmark", "image": "x"}]},
                            "status": {"phase": "Pending"}})


def test_a_listing_asks_for_the_next_page_only_when_the_last_one_is_used(fake_api: FakeKubernetes) -> None:
    make_pods(fake_api, 1100)
    listing = client(fake_api).listing(PODS, NS, "app.kubernetes.io/managed-by=anubis")
    items = iter(listing)
    lists = fake_api.stats.lists
    first = next(items)
    assert (first["metadata"]["name"], first["kind"], first["apiVersion"]) == ("p00000", "Pod", "v1")
    assert fake_api.stats.lists == lists + 1 and listing.resource_version == ""  # one page of 500 so far
    rest = [o["metadata"]["name"] for o in items]
    assert len(rest) == 1099 and listing.pages == 3
    assert listing.resource_version == str(fake_api._rv)


class Recording:
    """A watch sink that keeps the names of each snapshot and checks it was handed a stream."""

    def __init__(self) -> None:
        self.snapshots: list[list[str]] = []
        self.streamed = True
        self.lock = threading.Lock()

    def snapshot(self, resource: Resource, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        names: list[str] = []
        with self.lock:
            self.streamed = self.streamed and not isinstance(objects, (list, tuple))
        for obj in objects:
            names.append(obj["metadata"]["name"])
        with self.lock:
            self.snapshots.append(names)

    def event(self, resource: Resource, kind: str, obj: dict[str, Any]) -> None:
        pass


def test_a_watch_streams_its_list_and_lists_again_when_the_continue_token_expires(fake_api: FakeKubernetes) -> None:
    make_pods(fake_api, 1100)
    fake_api.compact_after_pages(1)  # the second page's token is then too old: 410 Gone mid-list

    class Restarts:
        def __init__(self) -> None:
            self.reasons: list[str] = []

        def watch_restart(self, kind: str, reason: str) -> None:
            self.reasons.append(reason)

    sink, restarts, stop = Recording(), Restarts(), threading.Event()
    watcher = Watcher(client(fake_api), PODS, NS, "app.kubernetes.io/managed-by=anubis", sink, stop=stop,
                      resync_seconds=30, restarts=restarts)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.synced.wait(10)
        assert sink.streamed
        # the interrupted list handed nothing over as a snapshot; the list after it is whole
        assert [len(s) for s in sink.snapshots] == [1100]
        assert restarts.reasons == ["gone"]
        assert watcher.seen >= fake_api._compacted
    finally:
        stop.set()
        fake_api.drop_watches()
        thread.join(5)


def test_a_completed_job_is_reported_from_the_pod_cache_without_listing_its_pods(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs=LOGS)
    steps = len(run.steps)
    for _ in range(steps - 1):  # everything up to the Job's Complete, the pod's Succeeded included
        sim.step()
    wait_for(lambda: any(p.phase == "Succeeded" for pods in controller._pods.values() for p in pods.values()))
    lists = fake_api.stats.lists
    sim.step()  # Complete
    [record] = wait_for(lambda: results_of(store, SINGLE))
    assert record.status is RunStatus.SUCCEEDED and record.metrics["throughput"].values == (100.5, 101.5)
    assert record.reproducibility.node == "node-1"
    assert fake_api.stats.lists == lists  # no LIST of the run's pods (nor any other)


class NoHistory(SqliteResultStore):
    def history(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the baseline history was read with no exporter to take the verdicts")


def test_no_verdicts_are_judged_when_no_exporter_takes_them(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                            tmp_path: Path) -> None:
    reported: list[Reported] = []
    store = NoHistory(tmp_path / "results.sqlite3")
    ctl = Controller(client(fake_api), store, settings=SETTINGS, on_report=reported.append)
    ctl.start()
    try:
        assert ctl.wait_synced(10)
        sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs=LOGS)
        sim.run_all()
        wait_for(lambda: reported, sim)
        assert [r.status for r in reported] == [RunStatus.SUCCEEDED] and reported[0].stored
    finally:
        ctl.stop(timeout=0)
        fake_api.drop_watches()


def test_the_fake_api_served_from_its_own_process_moves_a_run_to_its_result(tmp_path: Path) -> None:
    reported: list[Reported] = []
    with ClusterProcess() as cluster:
        cluster.call("node", name="node-1", instance_type="p3.8xlarge", gpu_product="Tesla-V100-SXM2-16GB")
        store = SqliteResultStore(tmp_path / "results.sqlite3")
        ctl = Controller(KubeClient(cluster.api_client()), store, settings=SETTINGS, on_report=reported.append)
        ctl.start()
        try:
            assert ctl.wait_synced(10)
            cluster.call("submit", objects=[rendered("single-node-gpu-data-script", "Job")], scenario="succeed",
                         logs=LOGS)
            [(name, uid, finished)] = cluster.call("run")
            wait_for(lambda: reported)
        finally:
            ctl.stop(timeout=0)
        assert name == SINGLE and reported[0].execution_id == f"{SINGLE}-{uid.replace('-', '')[:8]}"
        [record] = results_of(store, SINGLE)
        assert record.metrics["throughput"].values == (100.5, 101.5)
        assert cluster.call("stats")["unexpected"] == []
