"""`anubis compare --by instance_type BENCHMARK`: hardware side by side with cost and energy, checked
against hand computation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from controller.costs import run_cost, shipped_prices
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus

T0 = 1_700_000_000.0


def _record(execution_id: str, instance_type: str, throughput: float, *, started_at: float, seconds: float = 600.0,
            energy_j: float | None = None, status: RunStatus = RunStatus.SUCCEEDED) -> ResultRecord:
    cost = run_cost(shipped_prices(), instance_type, 1, seconds)
    telemetry = None
    if energy_j is not None:
        telemetry = {"source": "dcgm-exporter", "window": [started_at, started_at + seconds], "energy_j": energy_j,
                     "idle": False, "gpus": [{"uuid": f"GPU-{execution_id}", "samples": 10, "utilization_mean": 75.0,
                                              "energy_j": energy_j}]}
    return ResultRecord(
        execution_id=execution_id, run_id=f"run-{instance_type}", family_id="fam", benchmark="resnet",
        environment="gpu-cluster", backend="kubernetes", status=status, reason="", started_at=started_at,
        finished_at=started_at + seconds,
        metrics={"throughput": MetricResult("throughput", "images/s", "higher", (throughput,) * 3, (started_at,) * 3),
                 "latency": MetricResult("latency", "ms", "lower", (5.0,), (started_at,))},
        reproducibility=Reproducibility(descriptor_hash="sha256:d", image="img", instance_type=instance_type),
        matrix_point={"hardware.instance_type": instance_type},
        telemetry=telemetry, cost=cost.to_dict() if cost else None,
    )


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with SqliteResultStore(data / "results.sqlite3") as store:
        store.put(_record("old-p3", "p3.2xlarge", 100.0, started_at=T0))  # superseded by new-p3
        store.put(_record("new-p3", "p3.2xlarge", 400.0, started_at=T0 + 100, energy_j=150_000.0))
        store.put(_record("g5", "g5.xlarge", 300.0, started_at=T0 + 50, energy_j=90_000.0))
        store.put(_record("failed-g4", "g4dn.xlarge", 999.0, started_at=T0 + 200, status=RunStatus.FAILED))
    return data


def invoke(data_dir: Path, *args: str) -> Result:
    env = {"ANUBIS_DATA_DIR": str(data_dir), "ANUBIS_REPO": str(data_dir.parent), "FORCE_COLOR": None, "NO_COLOR": None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_by_hand(data_dir: Path) -> None:
    result = invoke(data_dir, "compare", "--by", "instance_type", "resnet", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["metric"] == "throughput"  # the first throughput, by default
    rows = {r["instance_type"]: r for r in document["hardware"]}
    assert set(rows) == {"p3.2xlarge", "g5.xlarge"}  # the failed run is no result
    p3, g5 = rows["p3.2xlarge"], rows["g5.xlarge"]
    assert p3["execution_id"] == "new-p3" and p3["mean"] == 400.0
    # 10 minutes on a p3.2xlarge at 3.06 $/h = 0.51 $; 400 images/s x 600 s = 240,000 images.
    assert p3["cost"] == pytest.approx(0.51)
    assert p3["per_dollar"] == pytest.approx(240_000 / 0.51)
    assert p3["per_joule"] == pytest.approx(240_000 / 150_000)
    # g5.xlarge at 1.006 $/h: 0.1677 $; 300 x 600 = 180,000 images; 2 images/J.
    assert g5["cost"] == pytest.approx(1.006 / 6)
    assert g5["per_dollar"] == pytest.approx(180_000 / (1.006 / 6))
    assert g5["per_joule"] == pytest.approx(2.0)
    assert g5["gpu_utilization"] == 75.0


def test_table_marks_the_best(data_dir: Path) -> None:
    result = invoke(data_dir, "compare", "--by", "instance_type", "resnet")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip().startswith(("p3.", "g5."))}
    # p3 has the higher throughput; g5 buys more images per dollar and per joule, and costs less.
    assert lines["p3.2xlarge"].count("★") == 1
    assert lines["g5.xlarge"].count("★") == 4


def test_other_metric_and_errors(data_dir: Path) -> None:
    latency = invoke(data_dir, "compare", "--by", "instance_type", "resnet", "--metric", "latency", "--output", "json")
    rows = json.loads(latency.stdout)["hardware"]
    assert all(r["per_dollar"] is None for r in rows)  # a latency is not work
    missing = invoke(data_dir, "compare", "--by", "instance_type", "resnet", "--metric", "nope")
    assert missing.exit_code == 1 and "latency, throughput" in missing.stderr
    unknown = invoke(data_dir, "compare", "--by", "instance_type", "nothing")
    assert unknown.exit_code == 1 and "no succeeded result" in unknown.stderr
    two = invoke(data_dir, "compare", "--by", "instance_type", "a", "b")
    assert two.exit_code == 2 and "one BENCHMARK" in two.stderr
    one = invoke(data_dir, "compare", "new-p3")
    assert one.exit_code == 2 and "two results" in one.stderr
