"""Verdicts in the views: compare's test between two executions, the results table's columns and
history's marks."""

from __future__ import annotations

from pathlib import Path

from anubis.presenting.comparison import compare_metrics, judge_comparison
from anubis.presenting.history import HistoryMarks, history_view, reset_positions
from anubis.presenting.results import metrics_view
from anubis.presenting.sparklines import marked_sparkline
from controller.baselines import judge_record
from controller.sqlite_store import SqliteResultStore
from controller.store import BaselineReset
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.runspec import RegressionPolicy
from schemas.status import RunStatus

T0 = 1_700_000_000.0


def rec(i: int, values: tuple[float, ...], direction: str = "lower") -> ResultRecord:
    return ResultRecord(
        execution_id=f"e{i}", run_id="r", family_id="f", benchmark="b", environment="local", backend="local",
        status=RunStatus.SUCCEEDED, reason="", started_at=T0 + i, finished_at=T0 + i + 1,
        metrics={"t": MetricResult("t", "ms", direction, values, tuple(T0 for _ in values))},
        reproducibility=Reproducibility(descriptor_hash="d", image="i"), branch="main",
    )


def test_compare_tests_two_executions_with_enough_samples() -> None:
    a = rec(1, (10.0, 10.1, 9.9, 10.0, 10.05, 9.95))
    slower = rec(2, (12.0, 12.1, 11.9, 12.0, 12.05, 11.95))
    same = rec(3, (10.02, 10.08, 9.92, 10.01, 10.03, 9.97))
    few = rec(4, (12.0, 12.1))
    [row] = judge_comparison(compare_metrics(a, slower), a, slower)
    assert row.verdict == "regression" and row.note.startswith("Mann-Whitney p=")
    assert judge_comparison(compare_metrics(a, same), a, same)[0].verdict == "no_change"
    assert judge_comparison(compare_metrics(a, few), a, few)[0].verdict is None  # too few samples


def test_results_table_columns(tmp_path: Path) -> None:
    with SqliteResultStore(tmp_path / "s.sqlite3") as store:
        for i in range(8):
            store.put(rec(i, (10.0 + 0.01 * (i % 3),)))
        new = rec(9, (13.0,))
        suspected = judge_record(store, new)  # one run of the new level: confirm = 1 asks for another
        judged = judge_record(store, new, {next(iter(new.metrics)): RegressionPolicy(confirm=0)})
    row = metrics_view(new, suspected).rows[0]
    assert row["verdict"].text.startswith("suspected") and row["verdict"].tone == "warn"
    view = metrics_view(new, judged)
    assert [c.key for c in view.columns][-3:] == ["baseline", "change", "verdict"]
    row = view.rows[0]
    assert row["verdict"].text.startswith("regression") and row["verdict"].tone == "bad"
    assert row["change"].text == "+29.9%" and "(n=8)" in row["baseline"].text
    assert [c.key for c in metrics_view(new).columns][-1] == "n"  # no judgements: no columns


def test_history_marks_steps_and_resets() -> None:
    records = [rec(i, (10.0,)) for i in range(4)]
    reset = BaselineReset("b", at=T0 + 2, by="ana", reason="new model")
    marks = HistoryMarks(change_points={"t": ["e1"]}, resets=reset_positions(records, [reset]))
    assert marks.resets[0][1] == "e2"
    view = history_view(records, None, marks)
    assert [r["marks"].text for r in view.rows] == ["", "step in t", "baseline reset", ""]
    assert marked_sparkline([1.0, 2.0, 3.0], [False, True, False]) == "▁┃▅█"
    assert marked_sparkline([1.0, 2.0], [True, True], ascii_only=True) == "_|@"
