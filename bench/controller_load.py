"""The cluster controller under load, against the fake Kubernetes API over HTTP.

    python bench/controller_load.py [--runs 1000] [--tracked 1000 10000] [--workers 16]

1. ``--runs`` runs submitted at once, each moved by the cluster simulator through pod creation,
   scheduling, start, termination and Job completion (every run in each step, as a busy cluster
   would). Prints the status transitions the controller handled per second, and p50/p99 from the
   Job's final event (the simulator's ``Complete`` condition) to the result stored (``on_report``
   after ``put``). The fake API runs in this process (same GIL): the figures are a floor.
2. For each of ``--tracked``: that many runs left RUNNING; prints the growth of this process's
   resident memory once the controller tracks them all (the fake's own objects are made first, so
   they are not counted; the controller's list buffers are).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the package it measures: keep bench/ off the path, put tests/ (the fakes) on.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))

from fakes import cluster_simulator as scenario  # noqa: E402
from fakes.cluster_simulator import ClusterSimulator  # noqa: E402
from fakes.harness import rendered  # noqa: E402
from fakes.kubernetes_api import FakeKubernetes  # noqa: E402

from controller.kubernetes.client import KubeClient  # noqa: E402
from controller.kubernetes.reconciler import Controller  # noqa: E402
from controller.kubernetes.recording import Reported  # noqa: E402
from controller.kubernetes.settings import ControllerSettings  # noqa: E402
from controller.kubernetes.sinks import NullMetrics  # noqa: E402
from controller.sqlite_store import SqliteResultStore  # noqa: E402
from schemas.status import RunStatus  # noqa: E402

TEMPLATE = json.dumps(rendered("single-node-gpu-data-script", "Job"))


def job(i: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(TEMPLATE.replace("resnet-train-4d1c7e2a90", f"resnet-train-{i:010d}"))
    return result


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Counting(NullMetrics):
    def __init__(self) -> None:
        self.transitions = 0

    def transition(self, status: RunStatus) -> None:
        self.transitions += 1


def throughput(runs: int, workers: int) -> None:
    api = FakeKubernetes(watch_chunk_wait=0.05).start()
    sim = ClusterSimulator(api)
    sim.add_node("node-1", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    reported: dict[str, float] = {}
    metrics = Counting()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteResultStore(Path(tmp) / "results.sqlite3")
        settings = ControllerSettings(namespaces=("anubis-gpu-runs",), workers=workers, resync_seconds=600)

        def on_report(r: Reported) -> None:
            reported[r.execution_id] = time.monotonic()

        ctl = Controller(KubeClient(api.api_client()), store, settings=settings, metrics=metrics, on_report=on_report)
        ctl.start()
        ctl.wait_synced(30)
        started = time.monotonic()
        final_at: dict[str, float] = {}

        def timed(step: scenario.Step) -> scenario.Step:
            def run_step(s: ClusterSimulator, run: scenario.SimRun) -> None:
                step(s, run)
                final_at[f"{run.name}-{run.uid.replace('-', '')[:8]}"] = time.monotonic()
            return run_step

        for i in range(runs):
            steps = scenario.succeed()
            steps[-1] = timed(steps[-1])
            sim.submit(job(i), steps, logs={"benchmark": ["throughput=10", "throughput=11"]})
        while sim.step():
            pass
        deadline = time.monotonic() + 600
        while len(reported) < runs and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        ctl.stop(timeout=0)
        api.drop_watches()
        api.stop()
    latencies = sorted(reported[e] - final_at[e] for e in reported)
    print(f"runs: {runs}, reported: {len(reported)}, workers: {workers}")
    print(f"transitions handled: {metrics.transitions} in {elapsed:.1f}s = {metrics.transitions / elapsed:.0f}/s")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"final event -> stored result: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms")


def memory(tracked: int, workers: int) -> None:
    api = FakeKubernetes(watch_chunk_wait=0.2).start()
    sim = ClusterSimulator(api)
    sim.add_node("node-1", "p3.8xlarge")
    for i in range(tracked):
        sim.submit(job(i), scenario.hang())
    sim.run_all()
    gc.collect()
    before = rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteResultStore(Path(tmp) / "results.sqlite3")
        settings = ControllerSettings(namespaces=("anubis-gpu-runs",), workers=workers, resync_seconds=3600,
                                      tick_seconds=3600)
        ctl = Controller(KubeClient(api.api_client()), store, settings=settings)
        ctl.start()
        ctl.wait_synced(300)
        deadline = time.monotonic() + 300
        while (ctl.tracked() < tracked or not ctl.idle()) and time.monotonic() < deadline:
            time.sleep(0.1)
        gc.collect()
        after = rss_mib()
        ctl.stop(timeout=0)
        api.drop_watches()
        api.stop()
    print(f"tracked runs: {tracked}: resident memory +{after - before:.1f} MiB "
          f"({(after - before) * 1024 / tracked:.1f} KiB per run; process {after:.0f} MiB)")


def main() -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tracked", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    throughput(args.runs, args.workers)
    for n in args.tracked:
        memory(n, args.workers)


if __name__ == "__main__":
    main()
