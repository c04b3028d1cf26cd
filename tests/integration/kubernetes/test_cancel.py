"""`anubis cancel` of a cluster run: suspended (never deleted), recorded CANCELED with its result kept."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fakes import cluster_simulator as scenario
from fakes.cluster_simulator import ClusterSimulator
from fakes.harness import rendered, results_of, wait_for
from fakes.kubernetes_api import FakeKubernetes

from anubis.cli import cli
from controller.kubernetes.reconciler import Controller
from controller.sqlite_store import SqliteResultStore
from schemas.status import RunStatus

SINGLE = "resnet-train-4d1c7e2a90"


def _cancel(tmp_path: Path, fake_api: FakeKubernetes, ref: str) -> tuple[int, str, str]:
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    result = CliRunner().invoke(
        cli, ["cancel", ref, "--kubeconfig", str(kubeconfig), "--namespace", "anubis-gpu-runs"],
        env={"ANUBIS_DATA_DIR": str(tmp_path / "data")})
    return result.exit_code, result.stdout, result.stderr


def test_cancel_suspends_and_the_controller_records_canceled(
        tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator, controller: Controller,
        store: SqliteResultStore) -> None:
    run = sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.hang(),
                     logs={"benchmark": ["throughput=3"]})
    sim.run_all()
    sim.api.set_log(run.namespace, run.pods[0], "benchmark", ["throughput=3"])
    code, out, err = _cancel(tmp_path, fake_api, SINGLE)
    assert code == 0, err
    execution_id = f"{SINGLE}-{run.uid.replace('-', '')[:8]}"
    assert out == (f"canceled Job anubis-gpu-runs/{SINGLE} (execution {execution_id}); "
                   "the controller records it as CANCELED\n")
    [record] = wait_for(lambda: results_of(store, SINGLE), sim)
    assert record.status is RunStatus.CANCELED
    assert record.reason.startswith("canceled by anubis cancel (")
    assert record.metrics["throughput"].values == (3.0,)  # the result is kept
    job = fake_api.get("jobs", run.namespace, run.name)
    assert job is not None and job["spec"]["suspend"] is True  # suspended, not deleted


def test_cancel_of_a_finished_or_unknown_run(tmp_path: Path, fake_api: FakeKubernetes, sim: ClusterSimulator) -> None:
    sim.submit(rendered("single-node-gpu-data-script", "Job"), scenario.succeed())
    sim.run_all()
    code, _, err = _cancel(tmp_path, fake_api, SINGLE)
    assert code == 2
    assert f"On the cluster: '{SINGLE}' has already finished on the cluster" in err
    code, _, err = _cancel(tmp_path, fake_api, "nothing-like-this")
    assert code == 2
    assert "no active local run matches 'nothing-like-this'" in err
    assert "no run 'nothing-like-this' on this machine or on the cluster (namespaces anubis-gpu-runs)" in err
