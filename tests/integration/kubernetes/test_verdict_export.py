"""The controller judges every finished run against its baseline and hands the verdicts to the
exporters that take them (the Pushgateway's ``anubis_verdict`` series is what the alert rules watch)."""

from __future__ import annotations

from typing import Any

from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import SETTINGS, rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.exporting.base import ExportContext
from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.sqlite_store import SqliteResultStore

SINGLE = "resnet-train-4d1c7e2a90"


class VerdictRecorder:
    """An exporter that keeps what it is given."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def export(self, context: ExportContext) -> None:
        self.calls.append((context.record.execution_id, dict(context.verdicts)))


def test_each_finished_run_is_exported_with_its_verdicts(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                         store: SqliteResultStore) -> None:
    recorder = VerdictRecorder()
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.2))
    ctl = Controller(client, store, settings=SETTINGS, exporters=[recorder])
    ctl.start()
    try:
        assert ctl.wait_synced(10)
        job = rendered("single-node-gpu-data-script", "Job")
        sim.submit(job, scenario.succeed(), logs={"benchmark": ["throughput=100.5", "throughput=101.5"]})
        sim.run_all()
        wait_for(lambda: recorder.calls, sim)
        [record] = results_of(store, SINGLE)
        [(execution, verdicts)] = recorder.calls
        assert execution == record.execution_id
        assert verdicts["throughput"].verdict == "insufficient_data"  # no baseline yet: said, not guessed
    finally:
        ctl.stop(timeout=0)
        fake_api.drop_watches()


def test_a_refused_reported_mark_is_written_later_and_the_run_exported_once(
        fake_api: FakeKubernetes, sim: ClusterSimulator, store: SqliteResultStore) -> None:
    """The mark follows the report (controller/kubernetes/marking.py): a merge patch the API refuses
    past the client's retries is tried again by itself, never by reporting the run again."""
    recorder = VerdictRecorder()
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    ctl = Controller(client, store, settings=SETTINGS, exporters=[recorder])
    ctl.marks.retry_seconds = 0.05
    fake_api.fail(503, count=3, method="PATCH", path_contains="/jobs/")  # two tries, then one more
    ctl.start()
    try:
        assert ctl.wait_synced(10)
        run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(),
                         logs={"benchmark": ["throughput=100.5"]})
        sim.run_all()
        [record] = wait_for(lambda: results_of(store, SINGLE), sim)
        wait_for(lambda: ((fake_api.get("jobs", run.namespace, run.name) or {})["metadata"].get("annotations") or {})
                 .get("anubis.dev/reported") == record.execution_id, sim)
        wait_for(ctl.idle)
        assert [execution for execution, _ in recorder.calls] == [record.execution_id]  # exported once
        assert len([p for p in fake_api.stats.patches if p[1] == "jobs"]) == 1  # refused ones are not recorded
    finally:
        ctl.stop(timeout=0)
        fake_api.drop_watches()
