"""Following cluster runs from the terminal: `anubis status/logs/list/search` against the fake Kubernetes
API over HTTP (pods moved through their phases by the cluster simulator) and the fake Elasticsearch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fakes import cluster_simulator as scenario
from fakes import runs
from fakes.cluster_simulator import ClusterSimulator, SimRun
from fakes.elasticsearch_api import serve
from fakes.harness import rendered, wait_for
from fakes.kubernetes_api import FakeKubernetes, rfc3339

from anubis.cli import cli
from controller.exporting.base import ExportContext, LogLine
from controller.exporting.elasticsearch import ElasticsearchExporter
from controller.kubernetes.client import KubeClient, RetryPolicy
from controller.kubernetes.following import find_run
from controller.kubernetes.podlogs import PodLogs

SINGLE = "resnet-train-4d1c7e2a90"
HOROVOD = "horovod-resnet-77aa01bc3d"
NS = "anubis-gpu-runs"


def _anubis(tmp_path: Path, fake_api: FakeKubernetes, *args: str) -> Result:
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kubeconfig), "--namespace", NS],
                              env={"ANUBIS_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1", "COLUMNS": "200"})


def _execution(run: SimRun, run_id: str = SINGLE) -> str:
    return f"{run_id}-{run.uid.replace('-', '')[:8]}"


def _watch(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator, ref: str) -> Result:
    """`anubis status REF --cluster --watch` while the simulator moves the run on, one step at a time."""
    answer: list[Result] = []
    thread = threading.Thread(target=lambda: answer.append(_anubis(tmp_path, fake_api, "status", ref, "--watch")))
    thread.start()
    wait_for(lambda: fake_api.watching() >= 2)  # both watches (the run's object, its pods) are open
    while thread.is_alive():
        sim.watch_suspend()
        sim.step()
        thread.join(0.05)
    return answer[0]


def test_status_of_a_running_job_says_why(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    sim.run_all()
    result = _anubis(tmp_path, fake_api, "status", SINGLE)
    assert result.exit_code == 0, result.output
    assert _execution(run) in result.output
    assert "RUNNING" in result.output and "container benchmark is running" in result.output
    as_json = _anubis(tmp_path, fake_api, "status", _execution(run), "--output", "json")
    assert '"status": "RUNNING"' in as_json.stdout and '"backend": "kubernetes"' in as_json.stdout


def test_watch_of_a_succeeding_run_exits_0(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed())
    result = _watch(tmp_path, fake_api, sim, SINGLE)
    assert result.exit_code == 0, result.output
    statuses = [s for s in ("PENDING", "SUCCEEDED") if s in result.output]
    assert statuses == ["PENDING", "SUCCEEDED"]


def test_watch_of_a_failing_run_exits_1_with_the_sentence(tmp_path: Path, fake_api: FakeKubernetes,
                                                        sim: ClusterSimulator) -> None:
    sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.exit_code(3))
    result = _watch(tmp_path, fake_api, sim, SINGLE)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "container benchmark exited with code 3" in result.output


def test_watch_of_a_preempted_run_names_the_preemption(tmp_path: Path, fake_api: FakeKubernetes,
                                                       sim: ClusterSimulator) -> None:
    """The pod is deleted before the Job's Failed: the watch keeps its last state to say why."""
    sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.preempted())
    result = _watch(tmp_path, fake_api, sim, SINGLE)
    assert result.exit_code == 1, result.output
    assert "ERROR" in result.output and "was preempted by the scheduler" in result.output


def test_watch_of_a_cancelled_run_exits_3(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    sim.run_all()
    answer: list[Result] = []
    thread = threading.Thread(target=lambda: answer.append(_anubis(tmp_path, fake_api, "status", SINGLE, "--watch")))
    thread.start()
    wait_for(lambda: fake_api.watching() >= 2)
    cancel = _anubis(tmp_path, fake_api, "cancel", SINGLE)
    assert cancel.exit_code == 0, cancel.output
    while thread.is_alive():
        sim.watch_suspend()
        thread.join(0.05)
    assert answer[0].exit_code == 3, answer[0].output
    assert "CANCELED" in answer[0].output and "canceled by anubis cancel" in answer[0].output


def test_status_of_an_unknown_run_exits_2(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    result = _anubis(tmp_path, fake_api, "status", "nothing-like-this", "--watch")
    assert result.exit_code == 2
    assert "no run or execution 'nothing-like-this' on the cluster" in result.output


def _client(fake_api: FakeKubernetes) -> KubeClient:
    return KubeClient(fake_api.api_client(), retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1))


def test_follow_prints_lines_as_the_pod_prints_them(fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    sim.run_all()
    pod = run.pods[0]
    fake_api.set_log(NS, pod, "benchmark", ["step 1"])
    client = _client(fake_api)
    lines: Iterator[LogLine] = PodLogs(client, poll_interval=0.05).read(find_run(client, SINGLE, (NS,)), follow=True)
    assert next(lines).text == "step 1"
    fake_api.append_log(NS, pod, "benchmark", ["step 2"])
    assert next(lines).text == "step 2"  # printed while the run goes on
    fake_api.append_log(NS, pod, "benchmark", ["done"])
    assert next(lines).text == "done"

    def finish(obj: dict[str, Any]) -> None:
        for c in obj["status"]["containerStatuses"]:
            c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
        obj["status"]["phase"] = "Succeeded"

    fake_api.mutate("pods", NS, pod, finish)
    sim.set_condition(run, "Complete")
    assert list(lines) == []  # the stream ends with the container, and the run is final
    follow_reads = [line for line in fake_api.unexpected if "follow" in line]
    assert follow_reads == []


def test_logs_of_an_mpijob_label_every_worker(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    sim.submit(rendered("horovod", "MPIJob"), scenario.succeed(),
               logs={"benchmark": ["launching"], "worker": ["rank ready"]})
    sim.run_all()
    result = _anubis(tmp_path, fake_api, "logs", HOROVOD, "--cluster")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "[launcher] launching"
    assert sorted(lines[1:]) == [f"[worker-{i}] rank ready" for i in range(len(lines) - 1)]
    assert len(lines) >= 3
    tail = _anubis(tmp_path, fake_api, "logs", HOROVOD, "--cluster", "--tail", "1")
    assert tail.stdout.splitlines()[0] == "[launcher] launching"


def test_logs_come_from_elasticsearch_once_the_pods_are_gone(tmp_path: Path, fake_api: FakeKubernetes,
                                                             sim: ClusterSimulator) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs={"benchmark": ["x"]})
    sim.run_all()
    for pod in list(run.pods):
        fake_api.delete("pods", NS, pod)
    execution_id = _execution(run)
    with serve() as es:
        from elasticsearch import Elasticsearch

        spec = runs.make_spec()
        record = runs.make_record(spec, execution_id=execution_id)
        lines = [LogLine(runs.STARTED + i, f"{run.name}-p0x/benchmark", f"epoch {i} loss=0.{i}") for i in range(1200)]
        ElasticsearchExporter(Elasticsearch(es.url, max_retries=0)).export(ExportContext(spec, record, lines))
        without = _anubis(tmp_path, fake_api, "logs", SINGLE, "--cluster")
        assert without.exit_code != 0 and "--elasticsearch URL" in without.output
        result = _anubis(tmp_path, fake_api, "logs", SINGLE, "--cluster", "--elasticsearch", es.url)
        assert result.exit_code == 0, result.output
        printed = result.stdout.splitlines()
        assert len(printed) == 1200  # no 500-line cap: paged
        assert printed[0] == "epoch 0 loss=0.0" and printed[-1] == "epoch 1199 loss=0.1199"
        assert es.unexpected == []


def test_search_over_elasticsearch_hits_and_misses(tmp_path: Path) -> None:
    with serve() as es:
        from elasticsearch import Elasticsearch

        spec = runs.make_spec()
        record = runs.make_record(spec, execution_id="r0123456789a-1a2b3c4d")
        ElasticsearchExporter(Elasticsearch(es.url, max_retries=0)).export(ExportContext(spec, record, [
            LogLine(runs.STARTED, "p/benchmark", "epoch 1 fine"),
            LogLine(runs.STARTED + 1, "p/benchmark", "CUDA_ERROR_ILLEGAL_ADDRESS in kernel"),
        ]))
        env = {"ANUBIS_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1", "COLUMNS": "200"}
        hit = CliRunner().invoke(cli, ["search", "CUDA_ERROR_ILLEGAL_ADDRESS", "--elasticsearch", es.url], env=env)
        assert hit.exit_code == 0, hit.output
        assert "r0123456789a-1a2b3c4d p/benchmark:2" in hit.stdout and "in kernel" in hit.stdout
        assert "epoch 1" not in hit.stdout
        run = CliRunner().invoke(cli, ["search", "epoch", "--run", "r0123456789a-1a2b3c4d", "--benchmark",
                                       spec.benchmark, "--elasticsearch", es.url, "--output", "json"], env=env)
        assert run.exit_code == 0 and '"line": 1' in run.stdout
        since = CliRunner().invoke(cli, ["search", "epoch", "--since", "1h", "--elasticsearch", es.url], env=env)
        assert since.exit_code == 1  # exported lines are from 2023
        miss = CliRunner().invoke(cli, ["search", "nothing_like_this", "--elasticsearch", es.url], env=env)
        assert miss.exit_code == 1 and "No log line matches" in miss.stdout
        assert es.unexpected == []


def test_list_includes_cluster_runs(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    single = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.exit_code(2))
    mpi = sim.submit(rendered("horovod", "MPIJob"), scenario.hang())
    sim.run_all()
    result = _anubis(tmp_path, fake_api, "list", "--cluster", "--output", "json")
    assert result.exit_code == 0, result.output
    import json

    found = {r["execution_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert found[_execution(single)]["status"] == "FAILED"
    assert found[_execution(mpi, HOROVOD)]["status"] == "RUNNING"
    assert found[_execution(mpi, HOROVOD)]["backend"] == "kubernetes"
    failed = _anubis(tmp_path, fake_api, "list", "--cluster", "--status", "failed", "--output", "json")
    assert [r["run_id"] for r in json.loads(failed.stdout)["runs"]] == [SINGLE]


@pytest.fixture(autouse=True)
def _quiet_clock() -> None:
    """The simulator's times are now; nothing here depends on how long a step takes."""
    assert rfc3339(0.0) == "1970-01-01T00:00:00Z"
