"""`anubis results`, `anubis history`, `anubis compare` through the root command, and their views."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from anubis.presenting.comparison import (
    MetricComparison,
    compare_metrics,
    comparison_view,
)
from anubis.presenting.formatting import format_change, format_duration, format_numbers
from anubis.presenting.output import jsonable, make_console
from anubis.presenting.results import show_result
from anubis.presenting.sparklines import sparkline
from controller.sqlite_store import SqliteResultStore
from schemas.loading import load_schema
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def metric(name: str, values: tuple[float, ...], *, unit: str = "images/s", direction: str = "higher") -> MetricResult:
    return MetricResult(name, unit, direction, values, tuple(T0 + i for i in range(len(values))))


def record(
    execution_id: str,
    *,
    run_id: str | None = None,
    started_at: float = T0,
    status: RunStatus = RunStatus.SUCCEEDED,
    reason: str = "",
    metrics: dict[str, MetricResult] | None = None,
    environment: str = "local",
    benchmark: str = "resnet",
) -> ResultRecord:
    return ResultRecord(
        execution_id=execution_id,
        run_id=run_id or f"run-{execution_id}",
        family_id="fam",
        benchmark=benchmark,
        environment=environment,
        backend="local",
        status=status,
        reason=reason,
        started_at=started_at,
        finished_at=started_at + 125.0,
        metrics=metrics
        if metrics is not None
        else {
            "throughput": metric("throughput", (100.0, 110.0, 120.0)),
            "latency": metric("latency", (20.0, 10.0), unit="ms", direction="lower"),
        },
        reproducibility=Reproducibility(descriptor_hash="sha256:d", image="python:3.11", image_digest="sha256:i"),
        matrix_point={"batch": 32},
        repository="github.com/example/benchmarks",
        commit="c0ffee1234567890",
        branch="main",
        pull_request=7,
    )


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture()
def seeded(data_dir: Path) -> Path:
    with SqliteResultStore(data_dir / "results.sqlite3") as store:
        store.put(record("exec-1", started_at=T0))
        store.put(
            record(
                "exec-2",
                started_at=T0 + 3600,
                metrics={
                    "throughput": metric("throughput", (150.0, math.nan)),
                    "latency": metric("latency", (30.0,), unit="ms", direction="lower"),
                },
            )
        )
        store.put(
            record(
                "exec-3",
                started_at=T0 + 7200,
                status=RunStatus.FAILED,
                reason="exit code 1 in container main",
                metrics={"throughput": metric("throughput", (90.0,))},
            )
        )
    return data_dir


def invoke(data_dir: Path, *args: str) -> Result:
    runner = CliRunner()
    env = {
        "ANUBIS_DATA_DIR": str(data_dir),
        "ANUBIS_REPO": str(data_dir.parent),
        "FORCE_COLOR": None,
        "NO_COLOR": None,
    }
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema("result"))


# -- anubis results -------------------------------------------------------------------------------


def test_results_shows_the_latest_execution(seeded: Path) -> None:
    result = invoke(seeded, "results")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "exec-3" in out and "run-exec-3" in out
    assert "FAILED — exit code 1 in container main" in out
    assert "2m 05s" in out
    assert "github.com/example/benchmarks@c0ffee1234567890 (main, PR #7)" in out
    assert "resnet [batch=32]" in out
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "unit", "last", "mean", "median", "min", "max", "n"]  # FAILED: no verdict
    assert "\x1b[" not in out  # no colour codes outside a terminal


def test_results_of_a_run_by_prefix(seeded: Path) -> None:
    result = invoke(seeded, "results", "exec-1")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("throughput"))
    assert row.split()[:8] == ["throughput", "images/s", "120.0", "110.0", "110.0", "100.0", "120.0", "3"]
    assert row.split()[8:] == ["—", "—", "insufficient", "data"]  # the verdict: no earlier execution


def test_results_counts_values_that_are_not_finite(seeded: Path) -> None:
    result = invoke(seeded, "results", "run-exec-2")
    row = next(line for line in result.stdout.splitlines() if line.startswith("throughput"))
    assert row.split()[6:11] == ["150.0", "1", "(+1", "not", "finite)"]


def test_results_json_is_one_object_valid_against_the_schema(seeded: Path) -> None:
    result = invoke(seeded, "results", "exec-2", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # strict JSON: NaN is written as null
    validator().validate(document)
    assert document["execution_id"] == "exec-2" and document["run_id"] == "run-exec-2"
    assert document["status"] == "SUCCEEDED" and document["reason"] == ""
    throughput = document["metrics"]["throughput"]
    assert throughput["values"] == [150.0, None]
    assert (throughput["unit"], throughput["n"], throughput["mean"]) == ("images/s", 1, 150.0)
    assert document["reproducibility"]["image_digest"] == "sha256:i"
    assert "NaN" not in result.stdout


def test_results_without_any_store_says_how_to_get_one(data_dir: Path) -> None:
    result = invoke(data_dir, "results")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error: No results are stored yet" in result.stderr
    assert "anubis run" in result.stderr
    assert "Traceback" not in result.output
    assert not (data_dir / "results.sqlite3").exists()  # reading creates nothing


def test_results_with_an_empty_store(data_dir: Path) -> None:
    SqliteResultStore(data_dir / "results.sqlite3").close()
    result = invoke(data_dir, "results", "-o", "json")
    assert result.exit_code == 2
    assert "No results are stored yet" in result.stderr


def test_results_unknown_and_ambiguous_refs(seeded: Path) -> None:
    unknown = invoke(seeded, "results", "nope")
    assert unknown.exit_code == 2
    assert "No stored result matches 'nope'" in unknown.stderr
    ambiguous = invoke(seeded, "results", "exec-")
    assert ambiguous.exit_code == 2
    assert "ambiguous" in ambiguous.stderr and "exec-1" in ambiguous.stderr


def test_results_rejects_an_unknown_output_format(seeded: Path) -> None:
    result = invoke(seeded, "results", "--output", "yaml")
    assert result.exit_code == 2
    assert "'yaml' is not one of" in result.stderr


# -- anubis history -------------------------------------------------------------------------------


def test_history_table_and_sparklines(seeded: Path) -> None:
    result = invoke(seeded, "history", "resnet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["time", "execution", "status", "commit"]
    assert "throughput" in header and "latency" in header
    rows = [line for line in lines if line.startswith("2023-")]
    assert [row.split()[2] for row in rows] == ["exec-1", "exec-2", "exec-3"]  # oldest first
    assert rows[0].startswith("2023-11-14 22:13:20Z")
    assert rows[2].split()[-2:] == ["90.0", "—"]  # no latency in exec-3
    sparks = {line.split()[0]: line.split()[1] for line in lines if line.startswith(("throughput ", "latency "))}
    assert sparks == {"throughput": "▃█▁", "latency": "▁█"}


def test_history_of_one_metric(seeded: Path) -> None:
    result = invoke(seeded, "history", "resnet", "--metric", "latency", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "latency (ms)"
    assert lines[1].split() == ["time", "execution", "status", "commit", "mean", "min", "max", "n"]
    rows = [line.split() for line in lines if line.startswith("2023-")]
    assert [row[2] for row in rows] == ["exec-2", "exec-3"]
    assert rows[0][-4:] == ["30.00", "30.00", "30.00", "1"]
    assert rows[1][-4:] == ["—", "—", "—", "0"]


def test_history_json(seeded: Path) -> None:
    result = invoke(seeded, "history", "resnet", "-o", "json", "-e", "local")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["benchmark"] == "resnet"
    assert document["filters"]["environment"] == "local"
    assert [e["execution_id"] for e in document["executions"]] == ["exec-1", "exec-2", "exec-3"]
    assert document["metrics"]["throughput"]["means"] == [110.0, 150.0, 90.0]
    assert document["metrics"]["latency"]["means"] == [15.0, 30.0, None]
    assert document["executions"][0]["metrics"]["latency"]["direction"] == "lower"


def test_history_errors(seeded: Path) -> None:
    missing = invoke(seeded, "history", "bert")
    assert missing.exit_code == 2 and "No finished executions of benchmark 'bert'" in missing.stderr
    assert "similar name" not in missing.stderr  # nothing stored is like it
    for command in (["history", "ResNet"], ["history", "resnt"], ["baseline", "show", "ResNet"],
                    ["baseline", "reset", "resnet50", "--reason", "x"]):  # case (an imported suite) or a typo
        near = invoke(seeded, *command)
        assert near.exit_code == 2 and "Stored benchmarks with a similar name: resnet." in near.stderr, command
    elsewhere = invoke(seeded, "history", "resnet", "--environment", "cluster")
    assert elsewhere.exit_code == 2 and "in 'cluster'" in elsewhere.stderr
    no_metric = invoke(seeded, "history", "resnet", "--metric", "accuracy")
    assert no_metric.exit_code == 2 and "Its metrics: throughput, latency." in no_metric.stderr
    bad_limit = invoke(seeded, "history", "resnet", "--limit", "0")
    assert bad_limit.exit_code == 2


# -- anubis compare -------------------------------------------------------------------------------


def test_compare_table(seeded: Path) -> None:
    result = invoke(seeded, "compare", "exec-1", "exec-2")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("throughput", "latency"))}
    assert "110.0" in rows["throughput"] and "150.0" in rows["throughput"]
    assert "+40.0 (+36.4%)" in rows["throughput"] and "better (higher is better)" in rows["throughput"]
    assert "+15.00 (+100.0%)" in rows["latency"] and "worse (lower is better)" in rows["latency"]
    assert "verdict" not in result.stdout


def test_compare_json(seeded: Path) -> None:
    result = invoke(seeded, "compare", "exec-1", "exec-3", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["a"]["execution_id"] == "exec-1" and document["b"]["status"] == "FAILED"
    throughput = document["metrics"]["throughput"]
    assert (throughput["a_mean"], throughput["b_mean"], throughput["change"]) == (110.0, 90.0, -20.0)
    assert throughput["change_percent"] == pytest.approx(-18.18, abs=0.01)
    assert throughput["assessment"] == "worse"
    latency = document["metrics"]["latency"]
    assert latency["b_mean"] is None and latency["assessment"] is None and latency["note"] == "only in A"


def test_compare_unknown_run(seeded: Path) -> None:
    result = invoke(seeded, "compare", "exec-1", "zzz")
    assert result.exit_code == 2 and "'zzz'" in result.stderr


# -- the views, without a command -----------------------------------------------------------------


def test_compare_metrics_directions_and_edge_cases() -> None:
    a = record("a", metrics={"t": metric("t", (0.0,)), "u": metric("u", (1.0,), unit="s"), "same": metric("same", (2.0,))})
    b = record("b", metrics={"t": metric("t", (5.0,)), "u": metric("u", (1.0,), unit="ms"), "same": metric("same", (2.0,))})
    rows = {row.name: row for row in compare_metrics(a, b)}
    assert rows["t"].change == 5.0 and rows["t"].change_percent is None and rows["t"].assessment == "better"
    assert rows["u"].assessment is None and rows["u"].note == "units differ: s / ms"
    assert rows["same"].assessment == "unchanged"


def test_a_verdict_column_appears_when_rows_carry_verdicts() -> None:
    rows = compare_metrics(record("a"), record("b"))
    assert [c.key for c in comparison_view(rows).columns][-1] == "assessment"
    judged = [dataclasses.replace(rows[0], verdict="regression"), rows[1]]
    view = comparison_view(judged)
    assert view.columns[-1].key == "verdict"
    assert view.rows[0]["verdict"].text == "regression" and view.rows[0]["verdict"].tone == "bad"
    assert view.rows[1]["verdict"].text == "—"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        show_result(make_console(stream), record("e", status=RunStatus.FAILED, reason="OOM killed"))
    assert "\x1b[" in terminal.getvalue()
    assert "\x1b[" not in pipe.getvalue() and "FAILED — OOM killed" in pipe.getvalue()


def test_markup_in_data_is_printed_as_it_is() -> None:
    pipe = io.StringIO()
    show_result(make_console(pipe), record("e", status=RunStatus.ERROR, reason="[bold]not markup[/bold]"))
    assert "[bold]not markup[/bold]" in pipe.getvalue()


def test_sparkline_is_nan_safe() -> None:
    assert sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, math.nan, None, math.inf, 3.0]) == "▁   █"
    assert sparkline([2.0, 2.0]) == "▄▄"
    assert sparkline([math.nan]) == " "
    assert sparkline([]) == ""
    assert sparkline([0.0, 1.0], ascii_only=True) == "_@"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([12345.678], ["12,346"]),
        ([1.23456], ["1.235"]),
        ([0.0123456], ["0.01235"]),
        ([9.0, 10.5, 15.0], ["9.00", "10.50", "15.00"]),
        ([None, math.nan, math.inf, -math.inf, 0.0], ["—", "NaN", "inf", "-inf", "0"]),
        ([3.2e10], ["3.2e+10"]),
    ],
)
def test_format_numbers(values: list[float | None], expected: list[str]) -> None:
    assert format_numbers(values) == expected


def test_small_formatters() -> None:
    assert format_change(-1.5, -14.2857, [10.5, 9.0]) == "-1.50 (-14.3%)"
    assert format_change(None, None) == "—"
    assert [format_duration(s) for s in (None, 12.34, 125.0, 3723.0)] == ["—", "12.3s", "2m 05s", "1h 02m 03s"]
    assert jsonable({"x": (1.0, math.nan), "s": RunStatus.FAILED}) == {"x": [1.0, None], "s": "FAILED"}


def test_comparison_rows_are_frozen() -> None:
    row: Any = compare_metrics(record("a"), record("b"))[0]
    assert isinstance(row, MetricComparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.verdict = "regression"
