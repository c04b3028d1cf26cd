"""End-to-end: the real `anubis` process follows a cluster run through a kubeconfig pointing at the fake
Kubernetes API: no `--cluster` needed when no local run matches and a kubeconfig exists."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import rendered
from fakes.kubernetes_api import FakeKubernetes

SINGLE = "resnet-train-4d1c7e2a90"
NS = "anubis-gpu-runs"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, ClusterSimulator, dict[str, str]]]:
    api = FakeKubernetes(watch_chunk_wait=0.05).start()
    sim = ClusterSimulator(api)
    sim.add_node("node-1", "p3.8xlarge", "Tesla-V100-SXM2-16GB")
    env = dict(os.environ, KUBECONFIG=str(api.write_kubeconfig(tmp_path / "kubeconfig")),
               ANUBIS_DATA_DIR=str(tmp_path / "data"), NO_COLOR="1")
    env.pop("ANUBIS_DEBUG", None)
    yield api, sim, env
    api.stop()
    assert api.unexpected == []


def test_logs_follow_and_status_of_a_cluster_run(cluster: tuple[FakeKubernetes, ClusterSimulator, dict[str, str]]) -> None:
    api, sim, env = cluster
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    sim.run_all()
    pod = run.pods[0]
    api.set_log(NS, pod, "benchmark", ["step 1"])
    follower = subprocess.Popen([sys.executable, "-m", "anubis", "logs", SINGLE, "--follow", "--namespace", NS],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "step 1\n"
        api.append_log(NS, pod, "benchmark", ["step 2"])
        assert follower.stdout.readline() == "step 2\n"  # while the run goes on

        def finish(obj: dict[str, Any]) -> None:
            for c in obj["status"]["containerStatuses"]:
                c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
            obj["status"]["phase"] = "Succeeded"

        api.mutate("pods", NS, pod, finish)
        sim.set_condition(run, "Complete")
        rest, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert rest == ""
    assert "Looking for it on the cluster" in err
    status = subprocess.run([sys.executable, "-m", "anubis", "status", SINGLE, "--watch", "--namespace", NS],
                            env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "SUCCEEDED" in status.stdout
