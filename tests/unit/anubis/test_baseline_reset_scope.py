"""``anubis baseline reset --metric/--environment``: a misspelt metric or environment is an error
naming the ones the benchmark has, not a reset that changes nothing judged."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with SqliteResultStore(tmp_path / "data" / "results.sqlite3") as store:
        store.put(ResultRecord(
            execution_id="train-0", run_id="train", family_id="train", benchmark="train", environment="local",
            backend="local", status=RunStatus.SUCCEEDED, reason="", started_at=1.0e9, finished_at=1.0e9 + 5,
            metrics={"throughput": MetricResult("throughput", "img/s", "higher", (10.0,), (1.0e9,))},
            reproducibility=Reproducibility(descriptor_hash="sha256:d", image="python:3.11"),
        ))
    return tmp_path / "data"


def reset(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["baseline", "reset", "train", "--reason", "new loader", *args],
                              env={"ANUBIS_DATA_DIR": str(data_dir), "ANUBIS_REPO": str(data_dir.parent)})


def resets(data_dir: Path) -> int:
    with SqliteResultStore(data_dir / "results.sqlite3") as store:
        return len(store.resets("train"))


def test_a_metric_the_benchmark_has_is_reset(data_dir: Path) -> None:
    result = reset(data_dir, "--metric", "throughput", "--environment", "local")
    assert result.exit_code == 0, result.output
    assert resets(data_dir) == 1


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--metric", "througput", "has the metric 'througput' (its metrics: throughput)"),
    ("--environment", "gpu-cluster", "has the environment 'gpu-cluster' (its environments: local)"),
])
def test_a_misspelt_scope_is_an_error_and_resets_nothing(data_dir: Path, option: str, value: str, message: str) -> None:
    result = reset(data_dir, option, value)
    assert result.exit_code != 0 and message in result.output and f"Check {option}." in result.output
    assert resets(data_dir) == 0
