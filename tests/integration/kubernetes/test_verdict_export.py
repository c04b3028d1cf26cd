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
