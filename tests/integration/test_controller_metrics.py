"""The controller's own /metrics, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.exporting.prometheus import ControllerMetrics, MetricsServer
from schemas.status import RunStatus


@pytest.fixture
def served() -> Iterator[tuple[ControllerMetrics, MetricsServer]]:
    metrics = ControllerMetrics()
    server = metrics.serve(0, addr="127.0.0.1")
    try:
        yield metrics, server
    finally:
        server.stop()


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_gauges_and_histogram_over_http(served: tuple[ControllerMetrics, MetricsServer]) -> None:
    metrics, server = served
    before = scrape(server)
    assert before[("anubis_controller_runs_total", (("status", "FAILED"),))] == 0.0  # present from the start
    assert before[("anubis_controller_transitions_total", (("status", "PENDING"),))] == 0.0
    assert ("anubis_controller_runs_total", (("status", "RUNNING"),)) not in before  # not a final status

    for status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        metrics.transition(status)
    metrics.run_finished(RunStatus.SUCCEEDED, 90.0)
    metrics.run_finished(RunStatus.TIMED_OUT, None)  # never started: counted, no duration
    metrics.watch_restart("Job", "expired")
    metrics.watch_restart("Job", "expired")
    metrics.watch_restart("Pod", "connection reset")
    metrics.api_error("list_namespaced_job")
    metrics.tracked(42)

    after = scrape(server)
    assert after[("anubis_controller_transitions_total", (("status", "RUNNING"),))] == 2.0
    assert after[("anubis_controller_runs_total", (("status", "SUCCEEDED"),))] == 1.0
    assert after[("anubis_controller_runs_total", (("status", "TIMED_OUT"),))] == 1.0
    assert after[("anubis_controller_run_duration_seconds_count", ())] == 1.0
    assert after[("anubis_controller_run_duration_seconds_sum", ())] == 90.0
    assert after[("anubis_controller_run_duration_seconds_bucket", (("le", "60.0"),))] == 0.0
    assert after[("anubis_controller_run_duration_seconds_bucket", (("le", "120.0"),))] == 1.0
    assert after[("anubis_controller_watch_restarts_total", (("kind", "Job"), ("reason", "expired")))] == 2.0
    assert after[("anubis_controller_watch_restarts_total", (("kind", "Pod"), ("reason", "connection reset")))] == 1.0
    assert after[("anubis_controller_api_errors_total", (("operation", "list_namespaced_job"),))] == 1.0
    assert after[("anubis_controller_tracked_runs", ())] == 42.0


def test_registries_are_separate() -> None:
    one, two = ControllerMetrics(), ControllerMetrics()  # no process-wide singleton: both can exist
    one.tracked(3)
    assert b"anubis_controller_tracked_runs 3.0" in one.exposition()
    assert b"anubis_controller_tracked_runs 0.0" in two.exposition()
    assert b"python_gc" not in one.exposition()  # only the controller's own series


def test_wsgi_app_serves_the_same_series() -> None:
    metrics = ControllerMetrics()
    metrics.api_error("watch")
    seen: list[str] = []
    body = b"".join(metrics.wsgi_app()({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""}, lambda status, headers: seen.append(status)))
    assert seen == ["200 OK"] and b'anubis_controller_api_errors_total{operation="watch"} 1.0' in body
