"""Helpers for tests that drive the controller against the fake Kubernetes API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.kubernetes.settings import ControllerSettings
from controller.kubernetes.statuses import StatusPolicy
from controller.sqlite_store import SqliteResultStore
from fakes.cluster_simulator import ClusterSimulator
from schemas.results import ResultRecord

CASES = Path(__file__).resolve().parents[1] / "unit" / "renderer" / "cases"

SETTINGS = ControllerSettings(
    namespaces=("anubis-runs", "anubis-gpu-runs"),
    policies={"gpu-cluster": StatusPolicy(900), "cpu-cluster": StatusPolicy(900)},
    resync_seconds=30,
    workers=4,
    tick_seconds=0.2,
)


def rendered(case: str, kind: str) -> dict[str, Any]:
    """The object of ``kind`` in a renderer golden file (what Argo CD would create)."""
    for doc in yaml.safe_load_all((CASES / case / "expected.yaml").read_text(encoding="utf-8")):
        if doc and doc["kind"] == kind:
            return dict(doc)
    raise LookupError(f"no {kind} in {case}")


def wait_for(predicate: Callable[[], Any], sim: ClusterSimulator | None = None, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` (applying suspends in the simulator meanwhile) until it answers truthily."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sim is not None:
            sim.watch_suspend()
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def results_of(store: SqliteResultStore, run_id: str) -> list[ResultRecord]:
    return [r for r in store.list_runs(limit=1000) if r.run_id == run_id]


class Clock:
    """The controller's and the simulator's time, moved by the test."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
