"""``anubis history`` of a matrix benchmark shows each point as its own series; ``anubis results
BENCHMARK`` shows the benchmark's latest execution."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus

T0 = 1_700_000_000.0


def record(execution_id: str, batch: int, value: float, started_at: float) -> ResultRecord:
    return ResultRecord(
        execution_id=execution_id, run_id=f"matmul-{batch}", family_id=f"fam-{batch}", benchmark="matmul",
        environment="local", backend="local", status=RunStatus.SUCCEEDED, reason="",
        started_at=started_at, finished_at=started_at + 10,
        metrics={"gflops": MetricResult("gflops", "GFLOP/s", "higher", (value,), (started_at,))},
        reproducibility=Reproducibility(descriptor_hash="sha256:d", image="python:3.11"),
        matrix_point={"batch": batch},
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        for i in range(3):
            store.put(record(f"small-{i}", 32, 10.0 + i, T0 + 100 * i))
            store.put(record(f"large-{i}", 512, 900.0 + i, T0 + 100 * i + 50))
        other = record("other-0", 1, 1.0, T0 + 1000)
        store.put(dataclasses.replace(other, benchmark="other", run_id="other-run"))
    return tmp_path / "data"


def invoke(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"ANUBIS_DATA_DIR": str(data_dir), "ANUBIS_REPO": str(data_dir.parent)},
                              catch_exceptions=False)


def test_each_point_is_its_own_series(data_dir: Path) -> None:
    result = invoke(data_dir, "history", "matmul")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "matmul: 2 series (matrix points, environments, --set variants), each on its own" in text
    small = text.index("── environment=local, batch=32 (3 executions)")
    large = text.index("── environment=local, batch=512 (3 executions)")
    assert small < large
    assert "small-0" in text[small:large] and "large-0" not in text[small:large]
    assert "large-2" in text[large:] and "small-2" not in text[large:]
    assert "min 10.00  max 12.00" in text[small:large] or "min 10  max 12" in text[small:large]


def test_each_point_is_its_own_series_in_json(data_dir: Path) -> None:
    document = json.loads(invoke(data_dir, "history", "matmul", "--output", "json").stdout)
    assert [p["point"] for p in document["points"]] == [{"environment": "local", "batch": 32},
                                                        {"environment": "local", "batch": 512}]
    assert [p["metrics"]["gflops"]["means"] for p in document["points"]] == [[10.0, 11.0, 12.0], [900.0, 901.0, 902.0]]
    assert document["metrics"] == {}


def test_results_of_a_benchmark_is_its_latest_execution(data_dir: Path) -> None:
    document = json.loads(invoke(data_dir, "results", "matmul", "--output", "json").stdout)
    assert document["execution_id"] == "large-2"
    assert json.loads(invoke(data_dir, "results", "small-1", "--output", "json").stdout)["execution_id"] == "small-1"
