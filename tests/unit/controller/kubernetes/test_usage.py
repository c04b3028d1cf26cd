"""What a finished cluster run used: GPU telemetry and cost added to its record, from the controller's
settings. The telemetry source is the controller's own reader interface, answered here with what
PrometheusTelemetry returns (tests/integration/test_dcgm_telemetry.py checks that reader against a real
Prometheus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.runs import STARTED, make_record, make_spec

from controller.gpu_telemetry import GpuSample, RunTelemetry, TelemetryUnavailable, summarize
from controller.kubernetes.observed import PodState, RunState
from controller.kubernetes.settings import load_settings
from controller.kubernetes.usage import UsageRecorder, usage_recorder
from schemas.errors import BackendError
from schemas.runspec import Placement

GPU_SPEC = make_spec(environment="gpu-cluster", placement=Placement(instance_type="p3.8xlarge", gpus=4), num_instances=2)
STATE = RunState(
    kind="MPIJob", namespace="anubis-gpu-runs", name="resnet-r0123", uid="u1", run_id="r0123456789a",
    environment="gpu-cluster",
    pods=(
        PodState("resnet-r0123-worker-0", "p0", "Succeeded", "worker", "u1", node_name="node-a"),
        PodState("resnet-r0123-worker-1", "p1", "Succeeded", "worker", "u1", node_name="node-b"),
        PodState("resnet-r0123-launcher-x", "p2", "Succeeded", "launcher", "u1", node_name="node-c"),
    ),
)
NODES = {"node-a": "p3.8xlarge", "node-b": "p3.8xlarge", "node-c": "c5.xlarge"}


class Answers:
    """Records what it was asked; answers with a fixed telemetry, or fails like an unreachable Prometheus."""

    def __init__(self, answer: RunTelemetry | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, list[str], float, float]] = []

    def collect(self, namespace: str, pods: list[str], start: float, end: float) -> RunTelemetry:
        self.asked.append((namespace, pods, start, end))
        if self.answer is None:
            raise TelemetryUnavailable("Prometheus at http://prometheus:9090 could not be read: connection refused")
        return self.answer


TELEMETRY = summarize(
    [GpuSample(STARTED, "GPU-1", utilization=90.0, power=250.0, energy_mj=1_000_000.0),
     GpuSample(STARTED + 125, "GPU-1", utilization=80.0, power=250.0, energy_mj=1_000_000.0 + 31_250_000.0)],
    source="dcgm-exporter", window=(STARTED, STARTED + 125),
)


def test_telemetry_and_cost_by_hand() -> None:
    source = Answers(TELEMETRY)
    record = UsageRecorder(telemetry=source).annotate(make_record(GPU_SPEC), STATE, GPU_SPEC, NODES)
    assert source.asked == [("anubis-gpu-runs", sorted(p.name for p in STATE.pods), STARTED, STARTED + 125.0)]
    assert record.telemetry is not None and record.telemetry["energy_j"] == pytest.approx(31_250.0)
    # Two p3.8xlarge nodes (the launcher's c5.xlarge is not the run's instance type) for 125 s at 12.24 $/h.
    assert record.cost is not None
    assert record.cost["nodes"] == 2 and record.cost["total"] == pytest.approx(2 * 125 / 3600 * 12.24)


def test_prometheus_down_leaves_telemetry_out_and_keeps_the_cost(caplog: pytest.LogCaptureFixture) -> None:
    record = UsageRecorder(telemetry=Answers(None)).annotate(make_record(GPU_SPEC), STATE, GPU_SPEC, NODES)
    assert record.telemetry is None and record.cost is not None
    assert "no GPU telemetry" in caplog.text and "connection refused" in caplog.text


def test_cpu_runs_are_not_asked_for_gpu_telemetry() -> None:
    source = Answers(TELEMETRY)
    spec = make_spec()
    record = UsageRecorder(telemetry=source).annotate(make_record(spec), STATE, spec, {})
    assert source.asked == [] and record.telemetry is None
    assert record.cost is not None and record.cost["instance_type"] == "c5.xlarge" and record.cost["nodes"] == 1


def test_settings_give_prometheus_region_and_environment_prices(tmp_path: Path) -> None:
    path = tmp_path / "controller.toml"
    path.write_text(
        'namespaces = ["anubis-gpu-runs"]\n'
        '[telemetry]\nprometheus_url = "http://prometheus:9090"\n'
        '[pricing]\nregion = "eu-west-1"\n'
        '[environments.gpu-cluster]\nunschedulable_deadline_seconds = 600\n'
        '[environments.gpu-cluster.prices]\n"p3.8xlarge" = 3.67\n'
    )
    recorder = usage_recorder(load_settings(path))
    assert recorder.telemetry is not None and recorder.region == "eu-west-1"
    record = recorder.annotate(make_record(GPU_SPEC), STATE, GPU_SPEC, NODES)
    assert record.cost is not None and record.cost["price_per_hour"] == 3.67
    assert record.cost["source"] == "environment gpu-cluster"
    path.write_text('[environments.gpu-cluster.prices]\n"p3.8xlarge" = "cheap"\n')
    with pytest.raises(BackendError, match=r"environments.gpu-cluster.prices.p3.8xlarge: 'cheap' is not of type 'number'"):
        load_settings(path)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert usage_recorder(load_settings(empty)).telemetry is None
