"""A finished execution of a sample run (spec and record), for the exporter and store tests."""

from __future__ import annotations

from typing import Any

from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.runspec import MetricSpec, Placement, RunSpec
from schemas.status import RunStatus

STARTED = 1_700_000_000.0


def make_spec(**changes: Any) -> RunSpec:
    values: dict[str, Any] = dict(
        run_id="r0123456789a",
        family_id="f0123456789a",
        benchmark="resnet",
        descriptor_path="benchmarks/resnet/descriptor.toml",
        descriptor_hash="sha256:00",
        environment="cpu-cluster",
        matrix_point={},
        strategy="single_node",
        execution_engine="default",
        schedule=None,
        image="ghcr.io/anubis-bench/anubis:0.1.0",
        command=("python", "train.py"),
        env={},
        privileged=False,
        extended_shm=False,
        placement=Placement(instance_type="c5.xlarge"),
        num_instances=1,
        processes_per_instance=1,
        availability_zone=None,
        aws_zone_id=None,
        timeout_seconds=3600,
        data=(),
        metrics=(
            MetricSpec(name="throughput", units="images/s", pattern=r"tp=([0-9.]+)", direction="higher"),
            MetricSpec(name="latency", units="ms", pattern=r"lat=([0-9.]+)", direction="lower"),
        ),
        labels={"task_name": "resnet-train", "team": "vision", "example.com/tier": "gold"},
    )
    values.update(changes)
    return RunSpec(**values)


def make_record(spec: RunSpec | None = None, execution_id: str = "r0123456789a-1a2b3c4d", **changes: Any) -> ResultRecord:
    spec = spec or make_spec()
    values: dict[str, Any] = dict(
        execution_id=execution_id,
        run_id=spec.run_id,
        family_id=spec.family_id,
        benchmark=spec.benchmark,
        environment=spec.environment,
        backend="kubernetes",
        status=RunStatus.SUCCEEDED,
        reason="",
        started_at=STARTED,
        finished_at=STARTED + 125.0,
        metrics={
            "throughput": MetricResult(
                "throughput", "images/s", "higher", (100.0, 110.0, 120.0), (STARTED + 10, STARTED + 20, STARTED + 30)
            ),
            "latency": MetricResult("latency", "ms", "lower", (5.0, float("nan"), 3.0), (STARTED + 11, STARTED + 21, STARTED + 31)),
        },
        reproducibility=Reproducibility(descriptor_hash=spec.descriptor_hash, image=spec.image),
        labels=dict(spec.labels),
        branch="main",
    )
    values.update(changes)
    return ResultRecord(**values)
