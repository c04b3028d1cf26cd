"""Faults: watch expiry (410 Gone), connections reset mid-stream, API 5xx/429, and the controller
killed with SIGKILL and started again in the middle of many runs. Every run ends with exactly one
stored result and its final status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator, SimRun
from fakes.harness import SETTINGS, rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.sqlite_store import SqliteResultStore
from schemas.status import RunStatus

ROOT = Path(__file__).resolve().parents[3]
LOGS = {"benchmark": ["throughput=10", "ANUBIS_METRICS {\"loss\": 1.5}"]}


class Restarts:
    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def watch_restart(self, kind: str, reason: str) -> None:
        self.seen[(kind, reason)] += 1

    def transition(self, status: RunStatus) -> None:
        pass

    def run_finished(self, status: RunStatus, duration: float | None) -> None:
        pass

    def api_error(self, operation: str) -> None:
        self.seen[("api", operation)] += 1

    def tracked(self, n: int) -> None:
        pass


def job(i: int) -> dict[str, Any]:
    """A distinct run: the golden single-node Job under another run id (labels, names, RunSpec)."""
    text = json.dumps(rendered("single-node-gpu-data-script", "Job"))
    result: dict[str, Any] = json.loads(text.replace("resnet-train-4d1c7e2a90", f"resnet-train-{i:010d}"))
    return result


def assert_one_final_result_each(store: SqliteResultStore, runs: list[SimRun], expected: dict[str, RunStatus]) -> None:
    for run in runs:
        records = results_of(store, run.name)
        assert len(records) == 1, run.name
        assert records[0].status is expected[run.name]
        assert records[0].execution_id == f"{run.name}-{run.uid.replace('-', '')[:8]}"


@pytest.fixture
def restarts() -> Restarts:
    return Restarts()


@pytest.fixture
def in_process(fake_api: FakeKubernetes, store: SqliteResultStore, restarts: Restarts):  # type: ignore[no-untyped-def]
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.1),
                        errors=restarts)
    ctl = Controller(client, store, settings=SETTINGS, metrics=restarts)
    ctl.start()
    assert ctl.wait_synced(10)
    yield ctl
    ctl.stop(timeout=0)
    fake_api.drop_watches()


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-410"])
def test_watch_expiry_lists_again(as_http: bool, fake_api: FakeKubernetes, sim: ClusterSimulator, in_process: Controller,
                                  store: SqliteResultStore, restarts: Restarts) -> None:
    fake_api.gone_as_http = as_http
    runs = [sim.submit(job(i), scenario.succeed(), logs=LOGS) for i in range(3)]
    sim.step()
    sim.step()
    wait_for(lambda: in_process.tracked() == 3)
    fake_api.compact()  # everything before now is forgotten ...
    sim.run_all()  # ... the runs finish meanwhile ...
    fake_api.drop_watches()  # ... and the watches come back with a resourceVersion that is gone
    wait_for(lambda: all(results_of(store, r.name) for r in runs), sim)
    wait_for(lambda: restarts.seen[("jobs", "gone")] >= 1)
    assert_one_final_result_each(store, runs, {r.name: RunStatus.SUCCEEDED for r in runs})


def test_connections_reset_mid_stream(fake_api: FakeKubernetes, sim: ClusterSimulator, in_process: Controller,
                                      store: SqliteResultStore, restarts: Restarts) -> None:
    runs = [sim.submit(job(i), scenario.succeed() if i % 2 else scenario.exit_code(1), logs=LOGS) for i in range(6)]
    for _ in range(8):
        sim.step()
        fake_api.drop_watches()
    wait_for(lambda: all(results_of(store, r.name) for r in runs), sim)
    assert restarts.seen[("jobs", "error")] >= 1
    expected = {r.name: RunStatus.SUCCEEDED if i % 2 else RunStatus.FAILED for i, r in enumerate(runs)}
    assert_one_final_result_each(store, runs, expected)
    assert [results_of(store, r.name)[0].metrics["throughput"].values for r in runs] == [(10.0,)] * len(runs)


def test_api_errors_on_lists_watches_logs_and_patches(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                      store: SqliteResultStore, restarts: Restarts) -> None:
    fake_api.fail(500, count=4, path_contains="/jobs", method="GET")
    fake_api.fail(429, count=3, retry_after=0.05, path_contains="/pods")
    fake_api.fail(503, count=3, method="PATCH")
    runs = [sim.submit(job(i), scenario.succeed(), logs=LOGS) for i in range(3)]
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
                        errors=restarts)
    ctl = Controller(client, store, settings=SETTINGS, metrics=restarts)
    ctl.start()
    try:
        sim.run_all()
        wait_for(lambda: all(results_of(store, r.name) for r in runs), sim)
        wait_for(lambda: all((fake_api.get("jobs", r.namespace, r.name) or {})["metadata"].get("annotations", {})
                             .get("anubis.dev/reported") for r in runs))
    finally:
        ctl.stop(timeout=0)
        fake_api.drop_watches()
    assert_one_final_result_each(store, runs, {r.name: RunStatus.SUCCEEDED for r in runs})
    assert any(kind == "api" for kind, _ in restarts.seen)


def _start_controller(kubeconfig: Path, store_path: Path, settings: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ANUBIS_DATA_DIR": str(store_path.parent), "KUBECONFIG": str(kubeconfig)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "anubis.cli", "--repo", str(ROOT), "controller", "--kubeconfig", str(kubeconfig),
             "--store", f"sqlite:{store_path}", "--settings", str(settings)],
            stdout=out, stderr=out, env=env, cwd=ROOT)


def test_controller_killed_and_restarted_in_the_middle_of_many_runs(
        fake_api: FakeKubernetes, sim: ClusterSimulator, tmp_path: Path) -> None:
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    settings = tmp_path / "controller.toml"
    settings.write_text('namespaces = ["anubis-gpu-runs"]\nresync_seconds = 5\nworkers = 4\ntick_seconds = 0.2\n'
                        '[environments.gpu-cluster]\nunschedulable_deadline_seconds = 900\n', encoding="utf-8")
    store_path = tmp_path / "results.sqlite3"
    log = tmp_path / "controller.log"
    outcomes = {0: (scenario.succeed, RunStatus.SUCCEEDED), 1: (lambda: scenario.exit_code(2), RunStatus.FAILED),
                2: (scenario.oom_killed, RunStatus.FAILED),
                3: (lambda: scenario.unschedulable(3600, "0/3 nodes are available"), RunStatus.TIMED_OUT),
                4: (lambda: scenario.fetch_failure("checksum mismatch"), RunStatus.ERROR)}
    runs: list[SimRun] = []
    expected: dict[str, RunStatus] = {}
    for i in range(40):
        steps, status = outcomes[i % 5]
        run = sim.submit(job(i), steps(), logs=LOGS)
        runs.append(run)
        expected[run.name] = status
    store = SqliteResultStore(store_path)
    process = _start_controller(kubeconfig, store_path, settings, log)
    try:
        for _ in range(4):
            sim.step()
        sim.run_all()
        wait_for(lambda: len(store.list_runs(limit=1000)) >= 5, sim, timeout=60)
        process.send_signal(signal.SIGKILL)  # in the middle: some results stored, some not, maybe one half-done
        process.wait(10)
        stored_before = len(store.list_runs(limit=1000))
        for _ in range(3):
            sim.step()
        process = _start_controller(kubeconfig, store_path, settings, log)
        wait_for(lambda: len(store.list_runs(limit=1000)) >= len(runs), sim, timeout=120)
        wait_for(lambda: all((fake_api.get("jobs", r.namespace, r.name) or {})["metadata"].get("annotations", {})
                             .get("anubis.dev/reported") for r in runs), sim, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    assert stored_before < len(runs), "the controller was killed after everything was done; kill it sooner"
    assert_one_final_result_each(store, runs, expected)
    assert len(store.list_runs(limit=1000)) == len(runs), log.read_text()[-3000:]
