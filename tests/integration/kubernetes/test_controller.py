"""The controller against the fake Kubernetes API over HTTP: one test per strategy and per failure
mode, each asserting the exact status, reason and the one stored result."""

from __future__ import annotations

import json
import re

import pytest
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator, SimRun
from fakes.harness import rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.reconciler import Controller
from controller.kubernetes.statuses import Decision
from controller.sqlite_store import SqliteResultStore
from schemas.results import ResultRecord
from schemas.status import RunStatus

SINGLE = "resnet-train-4d1c7e2a90"
INFERENCE = "bert-serving-5e6f7a8b9c"
HOROVOD = "horovod-resnet-77aa01bc3d"
CRON = "nightly-cpu-12ab34cd56"
LOGS = {"benchmark": ["epoch 1", "throughput=100.5", "ANUBIS_METRICS {\"loss\": 0.5}", "throughput=101.5"]}


def finished(store: SqliteResultStore, sim: ClusterSimulator, run_id: str, count: int = 1) -> list[ResultRecord]:
    return list(wait_for(lambda: (lambda rs: rs if len(rs) >= count else None)(results_of(store, run_id)), sim))


def only_result(store: SqliteResultStore, sim: ClusterSimulator, fake: FakeKubernetes, run: SimRun,
                run_id: str) -> ResultRecord:
    [record] = finished(store, sim, run_id)
    wait_for(lambda: (fake.get(run.plural, run.namespace, run.name) or {"metadata": {"annotations": {
        "anubis.dev/reported": record.execution_id}}})["metadata"].get("annotations", {}).get("anubis.dev/reported"))
    assert len(results_of(store, run_id)) == 1
    return record


def annotations(fake: FakeKubernetes, run: SimRun) -> dict[str, str]:
    obj = fake.get(run.plural, run.namespace, run.name)
    assert obj is not None
    return dict(obj["metadata"].get("annotations", {}))


# -- strategies -------------------------------------------------------------------------------------

def test_single_node_job_succeeds_with_metrics_and_reproducibility(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs=LOGS)
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert record.execution_id == f"{SINGLE}-{run.uid.replace('-', '')[:8]}"
    assert (record.status, record.reason, record.backend) == (RunStatus.SUCCEEDED, "", "kubernetes")
    assert record.metrics["throughput"].values == (100.5, 101.5)
    assert record.metrics["loss"].values == (0.5,)
    assert record.reproducibility.image_digest == "sha256:" + "d" * 64
    assert record.reproducibility.instance_type == "p3.8xlarge"
    assert record.reproducibility.accelerator == "Tesla-V100-SXM2-16GB"
    assert record.reproducibility.node == "node-1"
    assert record.commit == "ab" * 20
    assert record.reproducibility.dataset_checksums  # from the RunSpec's data sources
    assert annotations(fake_api, run)["anubis.dev/reported"] == record.execution_id
    assert record.started_at is not None and record.finished_at is not None


def test_cronjob_spawned_jobs_are_each_their_own_execution(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    cron = sim.submit(rendered("scheduled", "CronJob"), [])
    first = sim.fire(cron, "28950000", scenario.succeed(), logs=LOGS)
    sim.run_all()
    second = sim.fire(cron, "28951440", scenario.exit_code(2), logs=LOGS)
    sim.run_all()
    records = {r.execution_id: r for r in finished(store, sim, CRON, count=2)}
    assert records[f"{CRON}-{first.uid.replace('-', '')[:8]}"].status is RunStatus.SUCCEEDED
    failed = records[f"{CRON}-{second.uid.replace('-', '')[:8]}"]
    assert (failed.status, failed.reason) == (RunStatus.FAILED, "container benchmark exited with code 2")
    assert "anubis.dev/reported" not in annotations(fake_api, cron)


def test_mpijob_with_two_workers_reads_every_pod(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    mpijob = rendered("horovod", "MPIJob")
    run = sim.submit(mpijob, scenario.succeed(),
                     logs={"benchmark": ["[1,0]<stdout>:throughput=812.0"], "worker": ["ANUBIS_METRICS {\"loss\": 0.25}"]})
    sim.run_all()
    record = only_result(store, sim, fake_api, run, HOROVOD)
    assert (record.status, record.reason) == (RunStatus.SUCCEEDED, "")
    assert record.metrics["throughput"].values == (812.0,)
    assert record.metrics["loss"].values == (0.25, 0.25)  # one line from each of the two workers
    assert record.execution_id == f"{HOROVOD}-{run.uid.replace('-', '')[:8]}"


def test_mpijob_worker_oom_names_the_worker(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("horovod", "MPIJob"), scenario.oom_killed(only="-worker-1"))
    sim.run_all()
    record = only_result(store, sim, fake_api, run, HOROVOD)
    assert (record.status, record.reason) == (
        RunStatus.FAILED,
        f"container benchmark of worker pod {HOROVOD}-worker-1 ran out of memory and was killed (OOMKilled)")


def test_inference_job_reads_client_and_server(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("inference", "Job"), scenario.succeed(),
                     logs={"benchmark": ["throughput=55"], "inference-server": ["latency=12", "latency=14"]})
    sim.run_all()
    record = only_result(store, sim, fake_api, run, INFERENCE)
    assert (record.status, record.reason) == (RunStatus.SUCCEEDED, "")
    assert record.metrics["throughput"].values == (55.0,)
    assert record.metrics["server_latency"].values == (12.0, 14.0)


# -- failure modes ------------------------------------------------------------------------------------

def test_exit_code(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                   store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.exit_code(3), logs=LOGS)
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (RunStatus.FAILED, "container benchmark exited with code 3")
    assert record.metrics["throughput"].values == (100.5, 101.5)  # a failed run keeps what it printed


def test_oom_killed(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                    store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.oom_killed())
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.FAILED, "container benchmark ran out of memory and was killed (OOMKilled)")


def test_image_pull_failure_stops_the_job(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                          store: SqliteResultStore) -> None:
    job = rendered("single-node-gpu-data-script", "Job")
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    run = sim.submit(job, scenario.image_pull_failure())
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    expected = f'container benchmark cannot pull its image {image} (ImagePullBackOff): Back-off pulling image "{image}"'
    assert (record.status, record.reason) == (RunStatus.ERROR, expected)
    obj = fake_api.get("jobs", run.namespace, run.name)
    assert obj is not None and obj["spec"]["suspend"] is True
    assert json.loads(obj["metadata"]["annotations"]["anubis.dev/outcome"]) == {"status": "ERROR", "reason": expected}


def test_sidecar_crash_loop(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                            store: SqliteResultStore) -> None:
    run = sim.submit(rendered("inference", "Job"), scenario.crash_loop("inference-server", restarts=4))
    sim.run_all()
    record = only_result(store, sim, fake_api, run, INFERENCE)
    assert (record.status, record.reason) == (
        RunStatus.FAILED, "container inference-server keeps crashing (CrashLoopBackOff after 4 restarts, last exit code 1)")


def test_unschedulable_past_the_deadline_times_out(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                   controller: Controller, store: SqliteResultStore) -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.unschedulable(16 * 60 + 10, message))
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (RunStatus.TIMED_OUT, f"unschedulable for 16m: {message}")
    obj = fake_api.get("jobs", run.namespace, run.name)
    assert obj is not None and obj["spec"]["suspend"] is True


def test_unschedulable_within_the_deadline_stays_pending(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                                         controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.unschedulable(60, "0/3 nodes are available"))
    sim.run_all()
    key = f"{run.namespace}/{run.uid}"
    seen = []

    def scheduler_said() -> Decision | None:
        # the watch may show the pod before its PodScheduled condition: "waiting for a node" at first
        decision = controller.reconcile(key)
        if decision is not None:
            seen.append(decision)
        return decision if decision is not None and "nodes are available" in decision.reason else None

    decision = wait_for(scheduler_said)
    # the pod has been unschedulable for 60 s by the wall clock when the test starts: a second may pass
    said = re.compile(r"waiting for a node for 1m(\d+s)?: 0/3 nodes are available")
    assert said.fullmatch(decision.reason), decision.reason
    assert all(d.status is RunStatus.PENDING for d in seen)
    assert all(d.reason in {"waiting for its pods to be created", "waiting for a node"} or said.fullmatch(d.reason)
               for d in seen), seen
    assert results_of(store, SINGLE) == []


def test_data_fetch_checksum_mismatch(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                      store: SqliteResultStore) -> None:
    message = ("checksum mismatch for s3://anubis-datasets/imagenet.tar: expected sha256:aaaa, got sha256:bbbb; "
               "fix the descriptor's checksum or the source")
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.fetch_failure(message))
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.ERROR, f"fetching data failed: init container fetch-data exited with code 1: {message}")


def test_a_fetch_job_is_not_a_run_and_its_failure_is_the_runs_reason(
        fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller, store: SqliteResultStore) -> None:
    """Issue 15 item 10: with a shared cache the data is fetched by ``<run>-fetch``, a plain Job under the
    fetcher's account. The controller does not take it for a run; the run's pod waits in its credential-less
    ``fetch-data`` init container, which exits 1 with the fetcher's reason, and that is the run's reason."""
    fetch_job = rendered("scheduled", "Job")
    assert fetch_job["metadata"]["name"] == f"{CRON}-fetch"
    message = ("checksum mismatch for https://example.com/corpus.txt: expected sha256:aaaa, got sha256:bbbb; "
               "fix the descriptor's checksum or the source")
    fetch = sim.submit(fetch_job, scenario.exit_code(1, "fetch-data"))
    cron = sim.submit(rendered("scheduled", "CronJob"), [])
    sim.fire(cron, "28950000", scenario.fetch_failure(message))
    sim.run_all()
    [record] = finished(store, sim, CRON)
    assert (record.status, record.reason) == (
        RunStatus.ERROR, f"fetching data failed: init container fetch-data exited with code 1: {message}")
    sim.run_all()
    assert "anubis.dev/reported" not in annotations(fake_api, fetch)
    assert len(results_of(store, CRON)) == 1 and store.count() == 1


def test_deadline_exceeded(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                           store: SqliteResultStore) -> None:
    job = rendered("single-node-gpu-data-script", "Job")
    job["spec"]["activeDeadlineSeconds"] = 7200
    run = sim.submit(job, scenario.deadline_exceeded())
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.TIMED_OUT, "the run passed its time limit of 2h and was stopped (DeadlineExceeded)")


def test_suspended_by_someone_is_canceled(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                          store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang(), logs=LOGS)
    sim.run_all()
    fake_api.mutate("jobs", run.namespace, run.name, lambda o: o["spec"].update(suspend=True))
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert (record.status, record.reason) == (
        RunStatus.CANCELED, f"the Job {SINGLE} was suspended (spec.suspend: true) before it finished")


def test_deleted_job_is_canceled(fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
                                 store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang())
    sim.run_all()
    wait_for(lambda: controller.tracked() == 1 and fake_api.get("pods", run.namespace, run.pods[0]))
    fake_api.delete("jobs", run.namespace, run.name)
    [record] = finished(store, sim, SINGLE)
    assert (record.status, record.reason) == (RunStatus.CANCELED, f"the Job {SINGLE} was deleted before it finished")


def test_a_reported_job_is_not_reported_again(fake_api: FakeKubernetes, sim: ClusterSimulator,
                                              controller: Controller, store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs=LOGS)
    sim.run_all()
    only_result(store, sim, fake_api, run, SINGLE)
    patches = len(fake_api.stats.patches)
    fake_api.mutate("jobs", run.namespace, run.name, lambda o: o["metadata"]["labels"].update(touched="yes"))
    wait_for(lambda: controller.idle())
    assert len(fake_api.stats.patches) == patches
    assert controller.tracked() == 0


@pytest.mark.parametrize("status", [500, 429])
def test_api_errors_are_retried(status: int, fake_api: FakeKubernetes, sim: ClusterSimulator,
                                controller: Controller, store: SqliteResultStore) -> None:
    fake_api.fail(status, count=3, retry_after=0.05 if status == 429 else None, path_contains="/log")
    fake_api.fail(status, count=2, method="PATCH")
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed(), logs=LOGS)
    sim.run_all()
    record = only_result(store, sim, fake_api, run, SINGLE)
    assert record.metrics["throughput"].values == (100.5, 101.5)
