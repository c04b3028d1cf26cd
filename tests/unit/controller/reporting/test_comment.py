"""The pull-request comment against golden Markdown (ANUBIS_REGENERATE=1 rewrites the files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes.runs import make_record

from controller.reporting.comment import MAX_COMMENT, render_comment
from controller.reporting.github import MARKER
from controller.reporting.runreport import MetricVerdict, RunReport
from schemas.environment import Links
from schemas.results import MetricResult, Reproducibility
from schemas.status import RunStatus

CASES = Path(__file__).parent / "cases"
LINKS = Links(argocd_url="https://argocd.example.com/applications/argocd/anubis-cpu-cluster",
              grafana_url="https://grafana.example.com/d/anubis-runs", logs_url="https://logs.example.com/{execution_id}")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _finished(benchmark: str, status: RunStatus = RunStatus.SUCCEEDED, **kw: object) -> RunReport:
    record = make_record(benchmark=benchmark, run_id=f"{benchmark}-1a2b3c4d5e", execution_id=f"{benchmark}-1a2b3c4d5e-0f0f0f0f",
                         status=status, reason=str(kw.pop("reason", "")),
                         reproducibility=Reproducibility(descriptor_hash="9" * 64, image="ghcr.io/acme/train:1.0",
                                                         image_digest="sha256:" + "ab" * 32, instance_type="c5.xlarge",
                                                         dataset_checksums={"/data/mnist": "sha256:" + "cd" * 32}))
    return RunReport.from_record(record, links=LINKS, **kw)  # type: ignore[arg-type]


def _cases() -> dict[str, str]:
    regression = {
        "throughput": MetricVerdict("regression", change=-0.123, confidence=0.995, baseline=125.0),
        "latency": MetricVerdict("no_change", change=0.01, confidence=0.4, baseline=3.95),
    }
    improved = {"throughput": MetricVerdict("improvement", change=0.2, confidence=0.999, baseline=91.0),
                "latency": MetricVerdict("insufficient_data", reason="the baseline has 2 execution(s)")}
    history = {"throughput": (120.0, 124.0, 126.5, 125.0, 123.0), "latency": (4.0, 3.9, 4.1)}
    return {
        "all-good": render_comment([_finished("resnet", verdicts=improved, history=history)], commit=COMMIT),
        "regression-and-failure": render_comment([
            _finished("resnet", verdicts=regression, fail_on_regression=frozenset({"throughput"}), history=history),
            _finished("bert", RunStatus.FAILED, reason="container benchmark was OOM-killed | limit 2Gi <script>"),
            RunReport(benchmark="gpt", run_id="gpt-0000000000", status=RunStatus.RUNNING, matrix_point={"batch": 64}),
        ], commit=COMMIT),
        "matrix-soft-regression": render_comment([
            RunReport.from_record(
                make_record(benchmark="matmul", run_id=f"matmul-{n}", matrix_point={"n": n}, execution_id=f"matmul-{n}-1",
                            metrics={"gflops": MetricResult("gflops", "GFLOP/s", "higher", (float(n),), (1.0,))}),
                verdicts={"gflops": MetricVerdict("regression", change=-0.06, confidence=0.999, baseline=n * 1.06)},
            )
            for n in (256, 1024)
        ]),
        "suspected-confirming": render_comment([_finished("resnet", verdicts={
            "throughput": MetricVerdict("suspected", change=-0.123, confidence=0.9995, baseline=125.0),
            "latency": MetricVerdict("no_change", change=0.01, confidence=0.4, baseline=3.95),
        }, fail_on_regression=frozenset({"throughput"}), history=history)], commit=COMMIT),
        "empty": render_comment([]),
        "hardware-energy-cost": render_comment([_on_hardware(t, tp, energy) for t, tp, energy in (
            ("p3.2xlarge", 400.0, 150_000.0), ("g5.xlarge", 300.0, 90_000.0), ("c5.4xlarge", 40.0, None))], commit=COMMIT),
    }


def _on_hardware(instance_type: str, throughput: float, energy_j: float | None) -> RunReport:
    """A 600-second run of one matrix point per instance type, with GPU telemetry where it has GPUs."""
    from dataclasses import replace

    from controller.costs import run_cost, shipped_prices
    from controller.gpu_telemetry import GpuIdentity, GpuSample, summarize

    start = 1_700_000_000.0
    cost = run_cost(shipped_prices(), instance_type, 1, 600.0)
    assert cost is not None
    telemetry = None
    if energy_j is not None:
        watts = energy_j / 600.0
        telemetry = summarize(
            [GpuSample(start + t, "GPU-0", utilization=u, memory_used=8000.0, power=watts) for t, u in ((0.0, 80.0), (600.0, 90.0))],
            {"GPU-0": GpuIdentity("GPU-0", "0", "NVIDIA V100" if instance_type.startswith("p3") else "NVIDIA A10G")},
            source="dcgm-exporter", window=(start, start + 600.0),
        ).to_dict()
    record = make_record(
        benchmark="resnet", run_id=f"resnet-{instance_type}", execution_id=f"resnet-{instance_type}-1",
        matrix_point={"hardware.instance_type": instance_type}, started_at=start, finished_at=start + 600.0,
        metrics={"throughput": MetricResult("throughput", "images/s", "higher", (throughput,), (start,))},
    )
    return RunReport.from_record(replace(record, telemetry=telemetry, cost=cost.to_dict()))


@pytest.mark.parametrize("name", sorted(_cases()))
def test_golden(name: str) -> None:
    text = _cases()[name]
    expected = CASES / name / "expected.md"
    if os.environ.get("ANUBIS_REGENERATE"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")


def test_marker_first_and_overall_verdict_before_the_table() -> None:
    text = _cases()["regression-and-failure"]
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1].startswith("### ❌")
    assert text.index("### ") < text.index("| Benchmark |")


def test_text_from_runs_cannot_break_the_table_or_inject_html() -> None:
    text = _cases()["regression-and-failure"]
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "OOM-killed \\| limit" in text


def test_mermaid_history_chart() -> None:
    text = _cases()["all-good"]
    assert "```mermaid\nxychart-beta\n" in text
    assert "line [120, 124, 126.5, 125, 123, 110]" in text


def test_huge_comment_stays_within_githubs_limit() -> None:
    reports = [_finished(f"bench-{i:03d}", history={"throughput": tuple(float(x) for x in range(20))}) for i in range(300)]
    text = render_comment(reports)
    assert len(text) <= MAX_COMMENT and text.startswith(MARKER)


def test_same_input_same_bytes() -> None:
    assert _cases() == _cases()


def test_a_suspected_change_says_it_is_being_confirmed_and_fails_nothing() -> None:
    text = _cases()["suspected-confirming"]
    assert "suspected — confirming" in text
    assert not text.splitlines()[1].startswith("### ❌")
