"""The fake Kubernetes API, the cluster simulator and an in-process controller, for the tests here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import SETTINGS
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.sqlite_store import SqliteResultStore


@pytest.fixture
def fake_api() -> Iterator[FakeKubernetes]:
    api = FakeKubernetes(watch_chunk_wait=0.05).start()
    yield api
    api.stop()
    assert api.unexpected == [], "the controller sent requests the fake does not know"


@pytest.fixture
def sim(fake_api: FakeKubernetes) -> ClusterSimulator:
    simulator = ClusterSimulator(fake_api)
    simulator.add_node("node-1", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    simulator.add_node("node-2", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    return simulator


@pytest.fixture
def store(tmp_path: Path) -> SqliteResultStore:
    return SqliteResultStore(tmp_path / "results.sqlite3")


@pytest.fixture
def controller(fake_api: FakeKubernetes, store: SqliteResultStore) -> Iterator[Controller]:
    client = KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.2))
    ctl = Controller(client, store, settings=SETTINGS)
    ctl.start()
    assert ctl.wait_synced(10)
    yield ctl
    ctl.stop(timeout=0)
    fake_api.drop_watches()
