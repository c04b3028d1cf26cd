"""GPU telemetry of a run read from a real Prometheus that scrapes a dcgm-exporter endpoint.

The endpoint (tests/fakes/dcgm_exporter.py) serves dcgm-exporter's metric names and labels; Prometheus
(Debian's package) scrapes it every second; the controller's reader asks Prometheus for the run's pods
over the run's window. The answers are worked out by hand from the readings the test gives each GPU.
"""

from __future__ import annotations

import time

import pytest
from fakes import dcgm_exporter
from services import observability

from controller.gpu_telemetry import PrometheusTelemetry, TelemetryUnavailable

NAMESPACE = "anubis-gpu-runs"


def _wait_for_samples(server: observability.Server, metric: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = server.get_json(f"/api/v1/query?query=count_over_time({metric}[1m])")
        results = body["data"]["result"]
        if results and min(float(r["value"][1]) for r in results) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {count} samples of {metric} in {timeout} s")


def test_run_telemetry_from_dcgm_exporter_through_prometheus() -> None:
    missing = observability.binaries_missing("prometheus")
    if missing:
        pytest.skip("prometheus not installed (.ci/run installs the Debian package)")
    busy = dcgm_exporter.FakeGpu(
        index=0, uuid="GPU-1a2b3c4d-0000-1111-2222-333344445555", pod=(NAMESPACE, "resnet-7f3a-launcher-x1", "benchmark"),
        utilization=lambda t: 85.0, memory_used=lambda t: 12_000.0 if int(t) % 2 else 15_500.0, power=lambda t: 250.0,
    )
    worker = dcgm_exporter.FakeGpu(
        index=1, uuid="GPU-9f8e7d6c-0000-1111-2222-333344445555", pod=(NAMESPACE, "resnet-7f3a-worker-0", "benchmark"),
        utilization=lambda t: 40.0, memory_used=lambda t: 3_000.0, power=lambda t: 120.0,
    )
    # Another team's pod on the same node, and a free GPU: neither is the run's.
    other = dcgm_exporter.FakeGpu(
        index=2, uuid="GPU-other", pod=("team-b", "resnet-7f3a-launcher-x1", "benchmark"), utilization=lambda t: 99.0
    )
    free = dcgm_exporter.FakeGpu(index=3, uuid="GPU-free", utilization=lambda t: 0.0)
    with dcgm_exporter.serve([busy, worker, other, free]) as target:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "dcgm-exporter", "static_configs": [{"targets": [target]}]}],
        }
        with observability.prometheus(config) as prometheus:
            _wait_for_samples(prometheus, "DCGM_FI_DEV_GPU_UTIL", 2)
            start = time.time()
            time.sleep(6.0)
            end = time.time()
            _wait_for_samples(prometheus, "DCGM_FI_DEV_GPU_UTIL", 8)
            telemetry = PrometheusTelemetry(prometheus.url).collect(
                NAMESPACE, ["resnet-7f3a-launcher-x1", "resnet-7f3a-worker-0"], start, end
            )

    assert telemetry.source == "dcgm-exporter"
    assert [g.gpu.uuid for g in telemetry.gpus] == [busy.uuid, worker.uuid]
    first, second = telemetry.gpus
    assert (first.gpu.index, first.gpu.model, first.gpu.pod) == ("0", "NVIDIA A10G", "resnet-7f3a-launcher-x1")
    assert first.utilization_mean == pytest.approx(85.0)
    assert first.utilization_p95 == pytest.approx(85.0)
    assert first.memory_peak_mib == pytest.approx(15_500.0)
    assert first.power_mean_w == pytest.approx(250.0)
    assert second.utilization_mean == pytest.approx(40.0)
    assert second.memory_peak_mib == pytest.approx(3_000.0)
    # Energy: the counter's increase between the scrapes seen at the window's first and last step.
    # Constant power, so it is power x (time between those scrapes), which is the window give or
    # take one scrape interval at each end.
    window = end - start
    assert 250.0 * (window - 2.0) <= first.energy_j <= 250.0 * (window + 2.0)
    assert first.energy_j / second.energy_j == pytest.approx(250.0 / 120.0, rel=0.02)
    assert telemetry.energy_j == pytest.approx(first.energy_j + second.energy_j)
    assert telemetry.idle is False


def test_unreachable_prometheus_is_a_telemetry_error_not_a_crash() -> None:
    port = observability.free_port()
    reader = PrometheusTelemetry(f"http://127.0.0.1:{port}", timeout=2.0)
    with pytest.raises(TelemetryUnavailable, match="could not be read"):
        reader.collect(NAMESPACE, ["pod-a"], 100.0, 200.0)


def test_prometheus_error_answer_is_named(prometheus_server: observability.Server) -> None:
    reader = PrometheusTelemetry(prometheus_server.url)
    # An empty window is refused before any query.
    with pytest.raises(TelemetryUnavailable, match="window is empty"):
        reader.collect(NAMESPACE, ["pod-a"], 200.0, 100.0)
    # A window of more than 11,000 points a series is refused by Prometheus; the reader picks a step
    # that keeps under it, so a week-long run still reads.
    telemetry = reader.collect(NAMESPACE, ["pod-a"], time.time() - 7 * 86400, time.time())
    assert telemetry.gpus == ()
