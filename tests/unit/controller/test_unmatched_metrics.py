"""A declared metric that never matched: a warning in the run, the record and the PR comment; with
``required = true``, the run FAILED."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli
from controller.reporting.comment import render_comment
from controller.reporting.runreport import RunReport
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "One metric matches, one does not."

[info.labels]
task_name = "m"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 -c \\"print('speed=3.5')\\""

[[output.metrics]]
name = "speed"
units = "it/s"
pattern = 'speed=([0-9.]+)'

[[output.metrics]]
name = "accuracy"
units = "ratio"
pattern = 'acc=([0-9.]+)'
{required}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANUBIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANUBIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ANUBIS_CONTAINER_ENGINE", "none")
    monkeypatch.delenv("ANUBIS_REPO", raising=False)
    return tmp_path


def run(folder: Path, required: str) -> tuple[int, dict[str, object], str]:
    (folder / "m.toml").write_text(DESCRIPTOR.format(required=required))
    result = CliRunner().invoke(cli, ["run", "--output", "json", str(folder / "m.toml")])
    [record] = json.loads(result.stdout)["executions"]
    return result.exit_code, record, result.stderr


def test_an_optional_metric_that_never_matched_is_a_warning(env: Path) -> None:
    code, record, stderr = run(env, "")
    assert code == 0 and record["status"] == "SUCCEEDED"
    assert record["metrics"]["accuracy"]["n"] == 0  # in the record, without a value
    assert "metric 'accuracy' never matched the output (pattern 'acc=([0-9.]+)'): it has no value" in stderr
    shown = CliRunner().invoke(cli, ["results"])
    assert "warning: metric 'accuracy' never matched the benchmark's output" in " ".join(shown.stdout.split())


def test_a_required_metric_that_never_matched_fails_the_run(env: Path) -> None:
    code, record, _ = run(env, "required = true")
    assert code == 1 and record["status"] == "FAILED"
    assert record["reason"].startswith("required metric never matched the output: 'accuracy' (pattern 'acc=([0-9.]+)')")


def test_a_required_metric_that_matched_passes(env: Path) -> None:
    text = DESCRIPTOR.replace("print('speed=3.5')", "print('speed=3.5 acc=0.9')")
    (env / "m.toml").write_text(text.format(required="required = true"))
    result = CliRunner().invoke(cli, ["run", "--output", "json", str(env / "m.toml")])
    [record] = json.loads(result.stdout)["executions"]
    assert result.exit_code == 0 and record["status"] == "SUCCEEDED" and record["metrics"]["accuracy"]["n"] == 1


def test_the_pr_comment_says_which_metrics_never_matched() -> None:
    record = ResultRecord(
        execution_id="e", run_id="r", family_id="f", benchmark="b", environment="cpu-cluster", backend="kubernetes",
        status=RunStatus.SUCCEEDED, reason="", started_at=1.0, finished_at=2.0,
        metrics={"speed": MetricResult("speed", "it/s", "higher", (3.5,), (1.5,)),
                 "accuracy": MetricResult("accuracy", "ratio", "higher", (), ())},
        reproducibility=Reproducibility(descriptor_hash="d", image="i"),
    )
    comment = render_comment([RunReport.from_record(record)])
    assert "| accuracy | ⚠️ never matched | ratio |" in comment
    assert "**Metrics without a value**" in comment
    assert "- ⚠️ **b** (`r`): `accuracy` never matched the output" in comment
