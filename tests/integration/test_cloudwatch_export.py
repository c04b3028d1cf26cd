"""Metrics put into moto's CloudWatch server over real HTTP, then read back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from fakes.runs import STARTED, make_record, make_spec

from controller.exporting.base import ExportContext, Exporter
from controller.exporting.cloudwatch import CloudWatchExporter
from schemas.errors import ReporterError
from schemas.results import MetricResult

NOW = STARTED + 3600.0
DIMENSIONS = [
    {"Name": "benchmark", "Value": "resnet"},
    {"Name": "environment", "Value": "cpu-cluster"},
    {"Name": "task_name", "Value": "resnet-train"},
    {"Name": "example_com_tier", "Value": "gold"},
    {"Name": "team", "Value": "vision"},
]


@pytest.fixture
def cloudwatch(moto_url: str) -> Any:
    client = boto3.client("cloudwatch", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    return client  # moto keeps its state for the module: each test uses a namespace of its own


class Calls:
    def __init__(self, client: Any) -> None:
        self.sizes: list[int] = []
        client.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.sizes.append(len(params["MetricData"]))


def statistics(client: Any, namespace: str, name: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
    answer = client.get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=dimensions,
        StartTime=datetime.fromtimestamp(STARTED, tz=UTC),
        EndTime=datetime.fromtimestamp(STARTED, tz=UTC) + timedelta(hours=1), Period=3600,
        Statistics=["SampleCount", "Average", "Minimum", "Maximum", "Sum"],
    )  # fmt: skip
    (point,) = answer["Datapoints"]
    return dict(point)


def test_metrics_are_put_and_read_back(cloudwatch: Any) -> None:
    spec = make_spec()
    exporter = CloudWatchExporter(cloudwatch, namespace="Anubis/t1", clock=lambda: NOW)
    assert isinstance(exporter, Exporter)
    exporter.export(ExportContext(spec, make_record(spec), []))

    listed = cloudwatch.list_metrics(Namespace="Anubis/t1")["Metrics"]
    assert sorted({m["MetricName"] for m in listed}) == ["RunDuration", "RunFinished", "latency", "throughput"]
    throughput = next(m for m in listed if m["MetricName"] == "throughput")
    assert sorted(throughput["Dimensions"], key=lambda d: d["Name"]) == sorted(DIMENSIONS, key=lambda d: d["Name"])

    point = statistics(cloudwatch, "Anubis/t1", "throughput", DIMENSIONS)
    assert (point["SampleCount"], point["Average"], point["Minimum"], point["Maximum"]) == (3.0, 110.0, 100.0, 120.0)
    latency = statistics(cloudwatch, "Anubis/t1", "latency", DIMENSIONS)
    assert (latency["SampleCount"], latency["Average"]) == (2.0, 4.0)  # NaN left out
    assert latency["Unit"] == "Milliseconds"
    assert statistics(cloudwatch, "Anubis/t1", "RunDuration", DIMENSIONS)["Maximum"] == 125.0
    finished = statistics(cloudwatch, "Anubis/t1", "RunFinished", [*DIMENSIONS, {"Name": "status", "Value": "SUCCEEDED"}])
    assert finished["Sum"] == 1.0


def test_exporting_twice_in_one_process_puts_once(cloudwatch: Any) -> None:
    spec = make_spec()
    calls = Calls(cloudwatch)
    exporter = CloudWatchExporter(cloudwatch, namespace="Anubis/t2", clock=lambda: NOW)
    exporter.export(ExportContext(spec, make_record(spec), []))
    exporter.export(ExportContext(spec, make_record(spec), []))
    assert len(calls.sizes) == 1
    assert statistics(cloudwatch, "Anubis/t2", "throughput", DIMENSIONS)["SampleCount"] == 3.0


def test_many_values_are_batched(cloudwatch: Any) -> None:
    spec = make_spec()
    values = tuple(float(i) for i in range(400))  # three data of ≤ 150 values
    record = make_record(spec, metrics={
        f"m{i}": MetricResult(f"m{i}", "count", "higher", values, tuple(STARTED for _ in values)) for i in range(5)
    })  # fmt: skip
    calls = Calls(cloudwatch)
    CloudWatchExporter(cloudwatch, namespace="Anubis/t3", max_data_per_call=4, clock=lambda: NOW).export(ExportContext(spec, record, []))
    assert calls.sizes == [4, 4, 4, 4, 1]  # 15 data for the metrics, 2 for the run
    point = statistics(cloudwatch, "Anubis/t3", "m4", DIMENSIONS)
    assert (point["SampleCount"], point["Maximum"], point["Sum"]) == (400.0, 399.0, sum(values))


def test_dimensions_are_chosen_and_capped(cloudwatch: Any, caplog: pytest.LogCaptureFixture) -> None:
    labels = {f"k{i:02d}": "v" for i in range(40)} | {"task_name": "t"}
    spec = make_spec(labels=labels)
    record = make_record(spec)
    dimensions = CloudWatchExporter(cloudwatch).dimensions(spec, record)
    assert len(dimensions) == 30 and [d["Name"] for d in dimensions[:4]] == ["benchmark", "environment", "task_name", "k00"]
    assert "dropping k27" in caplog.text
    chosen = CloudWatchExporter(cloudwatch, dimensions=("benchmark", "run_id", "missing")).dimensions(spec, record)
    assert chosen == [{"Name": "benchmark", "Value": "resnet"}, {"Name": "run_id", "Value": "r0123456789a"}]


def test_old_executions_are_skipped(cloudwatch: Any) -> None:
    spec = make_spec()
    calls = Calls(cloudwatch)
    CloudWatchExporter(cloudwatch, namespace="Anubis/t5", clock=lambda: STARTED + 30 * 86400).export(ExportContext(spec, make_record(spec), []))
    assert calls.sizes == []


def test_refusal_is_a_reporter_error(cloudwatch: Any) -> None:
    spec = make_spec()
    record = make_record(spec)
    bad = dataclasses.replace(record, metrics={"x" * 300: MetricResult("x", "s", "lower", (1.0,), (STARTED,))})
    with pytest.raises(ReporterError, match="CloudWatch refused the metrics of execution"):
        CloudWatchExporter(cloudwatch, namespace="", clock=lambda: NOW).export(ExportContext(spec, bad, []))
