"""A finished execution exported to a real Pushgateway and read back through a real Prometheus.

Prometheus scrapes the Pushgateway (``honor_labels: true``, as the deployment does) and the test asks
``/api/v1/query`` for the series of docs/dev/contracts.md: values and every label, the user's
``info.labels`` and the original's ``BAI_METRICS_<name>`` alias included.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.runs import STARTED, make_record, make_spec
from services import observability

from controller.exporting.base import ExportContext
from controller.exporting.prometheus import PushgatewayExporter, run_status_push
from schemas.errors import ReporterError
from schemas.status import RunStatus

pytestmark = pytest.mark.skipif(
    bool(observability.binaries_missing("prometheus", "prometheus-pushgateway")),
    reason="prometheus and prometheus-pushgateway not installed (.ci/run installs the Debian packages)",
)

RUN = {
    "benchmark": "resnet",
    "environment": "cpu-cluster",
    "run_id": "r0123456789a",
    "execution_id": "r0123456789a-1a2b3c4d",
    "family_id": "f0123456789a",
    "action_id": "r0123456789a-1a2b3c4d",
    "task_name": "resnet-train",
    "team": "vision",
    "example_com_tier": "gold",
}


@dataclasses.dataclass
class Stack:
    gateway: observability.Server
    prometheus: observability.Server

    def query(self, expr: str, *, count: int = 1, wait: float = 60.0) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` once it has ``count`` series (Prometheus scrapes every second)."""
        deadline = time.monotonic() + wait
        while True:
            answer = self.prometheus.get_json("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            assert answer["status"] == "success", answer
            result: list[dict[str, Any]] = answer["data"]["result"]
            if len(result) >= count or time.monotonic() > deadline:
                return result
            time.sleep(0.2)


@pytest.fixture
def stack(pushgateway: observability.Server) -> Iterator[Stack]:
    target = pushgateway.url.removeprefix("http://")
    config = {"scrape_configs": [{"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [target]}]}]}
    with observability.prometheus(config) as prometheus:
        yield Stack(pushgateway, prometheus)


def _labels(series: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in series["metric"].items() if k not in ("__name__", "instance")}


def test_finished_run_is_queried_back_through_prometheus(stack: Stack) -> None:
    spec = make_spec()
    record = make_record(spec)
    PushgatewayExporter(stack.gateway.url).export(ExportContext(spec, record, []))

    (throughput,) = stack.query('anubis_metric{metric="throughput"}')
    assert _labels(throughput) == {**RUN, "job": "anubis", "metric": "throughput", "unit": "images/s"}
    assert float(throughput["value"][1]) == 120.0  # the last value
    (latency,) = stack.query('anubis_metric{metric="latency"}')
    assert float(latency["value"][1]) == 3.0  # NaN values are skipped
    (mean,) = stack.query('anubis_metric_mean{metric="throughput"}')
    assert float(mean["value"][1]) == 110.0

    (alias,) = stack.query("BAI_METRICS_throughput")
    assert _labels(alias) == {**RUN, "job": "anubis"} and float(alias["value"][1]) == 120.0

    (finished,) = stack.query("anubis_run_finished_timestamp_seconds")
    assert _labels(finished) == {**RUN, "job": "anubis", "status": "SUCCEEDED"}
    assert float(finished["value"][1]) == STARTED + 125.0
    (duration,) = stack.query('anubis_run_duration_seconds{status="SUCCEEDED"}')
    assert float(duration["value"][1]) == 125.0
    (status,) = stack.query("anubis_run_status")
    assert _labels(status)["status"] == "SUCCEEDED" and float(status["value"][1]) == 1.0

    # the user's labels select the series, as the original's dashboards did
    (by_team,) = stack.query('BAI_METRICS_latency{team="vision", task_name="resnet-train"}')
    assert float(by_team["value"][1]) == 3.0


def test_status_while_running_then_the_latest_execution_replaces_the_previous(stack: Stack) -> None:
    spec = make_spec()
    first = make_record(spec)
    exporter = PushgatewayExporter(stack.gateway.url)
    exporter.export(ExportContext(spec, first, []))
    exporter.export(ExportContext(spec, first, []))  # idempotent: the same values again

    # a second execution of the same run starts: its status is added to the run's group...
    run_status_push(spec, RunStatus.RUNNING, execution_id="r0123456789a-99999999", gateway=stack.gateway.url)
    (running,) = stack.query('anubis_run_status{execution_id="r0123456789a-99999999"}')
    assert running["metric"]["status"] == "RUNNING"
    assert stack.query('anubis_run_status{execution_id="r0123456789a-1a2b3c4d"}', count=0, wait=0) == []
    # ...while the previous execution's metrics stay until the new one finishes
    (previous,) = stack.query('anubis_metric{metric="throughput"}')
    assert previous["metric"]["execution_id"] == "r0123456789a-1a2b3c4d"

    second = make_record(spec, execution_id="r0123456789a-99999999", status=RunStatus.FAILED, reason="exit code 1")
    second = dataclasses.replace(second, metrics={"throughput": dataclasses.replace(second.metrics["throughput"], values=(7.0,), times=(1.0,))})
    exporter.export(ExportContext(spec, second, []))
    deadline = time.monotonic() + 30
    while True:
        series = stack.query('anubis_metric{run_id="r0123456789a"}')
        if [s["metric"]["execution_id"] for s in series] == ["r0123456789a-99999999"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(s["metric"]["metric"], float(s["value"][1])) for s in series] == [("throughput", 7.0)]
    (status,) = stack.query('anubis_run_status{run_id="r0123456789a"}')
    assert status["metric"]["status"] == "FAILED"


def test_runs_with_different_labels_live_side_by_side(stack: Stack) -> None:
    exporter = PushgatewayExporter(stack.gateway.url)
    one = make_spec()
    other = make_spec(run_id="r999", benchmark="bert", labels={"task_name": "bert", "status": "x"})
    exporter.export(ExportContext(one, make_record(one), []))
    exporter.export(ExportContext(other, make_record(other, execution_id="r999-00000000"), []))
    series = stack.query('anubis_metric{metric="throughput"}', count=2)
    assert sorted(s["metric"]["benchmark"] for s in series) == ["bert", "resnet"]
    (bert,) = [s for s in series if s["metric"]["benchmark"] == "bert"]
    assert bert["metric"]["label_status"] == "x"  # a user label never hides a name Anubis uses


@dataclasses.dataclass
class _Verdict:
    verdict: str
    change: float | None


def test_verdicts_are_added_to_the_run(stack: Stack) -> None:
    spec = make_spec()
    record = make_record(spec)
    exporter = PushgatewayExporter(stack.gateway.url)
    exporter.export(ExportContext(spec, record, []))
    exporter.push_verdicts(spec, record, {"throughput": _Verdict("regression", -0.25), "latency": _Verdict("insufficient_data", None)})
    verdicts = stack.query("anubis_verdict", count=2)
    assert sorted((v["metric"]["metric"], v["metric"]["verdict"]) for v in verdicts) == [
        ("latency", "insufficient_data"),
        ("throughput", "regression"),
    ]
    (ratio,) = stack.query("anubis_metric_change_ratio")
    assert ratio["metric"]["metric"] == "throughput" and float(ratio["value"][1]) == -0.25
    assert stack.query("anubis_metric", count=2)  # the run's other series are kept


def test_unreachable_pushgateway_is_a_reporter_error() -> None:
    port = observability.free_port()
    spec = make_spec()
    with pytest.raises(ReporterError, match="Pushgateway at http://127.0.0.1:.* refused or did not answer"):
        PushgatewayExporter(f"http://127.0.0.1:{port}", timeout=2).export(ExportContext(spec, make_record(spec), []))
