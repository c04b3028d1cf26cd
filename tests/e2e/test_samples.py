"""The repository's own sample benchmarks, run the way README.md tells a new user to run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def anubis(tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANUBIS_DATA_DIR": str(tmp_path / "data"),
        "ANUBIS_CACHE_DIR": str(tmp_path / "cache"),
        "ANUBIS_CONTAINER_ENGINE": "none",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "anubis", "--repo", str(ROOT), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.mark.parametrize(
    ("sample", "metrics", "executions"),
    [
        ("digits-mlp", {"train_loss", "accuracy", "throughput", "epoch_time", "train_seconds"}, 1),
        ("hello-world", {"epoch", "train_loss", "accuracy"}, 1),
        ("inference-echo", {"latency_p50", "latency_p99", "throughput", "server_requests"}, 1),
        ("nightly-matmul", {"gflops"}, 5),
    ],
)
def test_sample_runs_on_this_machine(tmp_path: Path, sample: str, metrics: set[str], executions: int) -> None:
    result = anubis(tmp_path, "run", f"benchmarks/{sample}", "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    records = json.loads(result.stdout)["executions"]
    assert len(records) == executions
    for record in records:
        assert record["status"] == "SUCCEEDED", record["reason"]
        assert record["environment"] == "local"
        found = {name for name, m in record["metrics"].items() if m["n"] > 0}
        assert metrics <= found, f"{sample}: metrics without values: {metrics - found}"


def test_digits_mlp_learns(tmp_path: Path) -> None:
    """The README's main job: the table is printed and the model really trains."""
    result = anubis(tmp_path, "run", "benchmarks/digits-mlp")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCEEDED" in result.stdout
    for column in ("metric", "unit", "last", "mean", "median", "min", "max", "n"):
        assert column in result.stdout
    shown = json.loads(anubis(tmp_path, "results", "--output", "json").stdout)
    accuracy = shown["metrics"]["accuracy"]
    assert accuracy["last"] > 0.9  # a 64-128-10 perceptron on digits reaches ~97%
    assert accuracy["n"] == 20  # one value per epoch (`--epochs 20`): the closing line is not read again
    assert shown["metrics"]["train_seconds"]["n"] == 1  # emitted once, declared without a pattern
    loss = shown["metrics"]["train_loss"]["values"]
    assert loss[-1] < loss[0] / 3


def test_horovod_sample_says_what_it_needs(tmp_path: Path) -> None:
    env_path = os.environ.get("PATH", "")
    if any((Path(p) / "mpirun").exists() for p in env_path.split(os.pathsep) if p):
        pytest.skip("an MPI launcher is installed here")
    result = anubis(tmp_path, "run", "benchmarks/horovod-mnist")
    assert result.returncode != 0
    assert "horovod runs need an MPI launcher (mpirun) on this machine" in result.stderr
    assert "Traceback" not in result.stderr
