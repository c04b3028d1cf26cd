"""The history of a benchmark: one row per execution, a sparkline per metric, and the detected steps
and baseline resets marked (``anubis history``)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from anubis.presenting.formatting import (
    MISSING,
    format_numbers,
    format_time,
    status_tone,
)
from anubis.presenting.output import Console, jsonable
from anubis.presenting.plain import Line
from anubis.presenting.sparklines import can_draw_blocks, marked_sparkline, sparkline
from anubis.presenting.tables import STYLES, Cell, Column, TableView, print_table
from controller.store import canonical_matrix_point
from schemas.results import MetricResult, ResultRecord
from schemas.runspec import OVERRIDES_LABEL

if TYPE_CHECKING:
    from controller.store import BaselineReset


def metric_names(records: Iterable[ResultRecord]) -> list[str]:
    """Every metric of ``records``, in the order they first appear."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.metrics))
    return list(names)


def imported_runs_joined(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    """``records`` with the imported executions of one run joined into one: ``anubis import`` of a CSV
    stores one metric per execution, so the histories of two metrics of the same runs (two files, the
    same timestamps and commits) are two executions at the same moment, which would show as two rows
    each missing the other's column. Joined: same benchmark, environment, matrix point, time and
    commit, and no metric in common (the first one's id and fields, the metrics of all)."""
    joined: list[ResultRecord] = []
    slots: dict[tuple[str, ...], int] = {}
    for record in records:
        if record.backend != "import":
            joined.append(record)
            continue
        key = (record.benchmark, record.environment, canonical_matrix_point(record.matrix_point),
               repr(record.started_at), record.commit or "")
        slot = slots.get(key)
        if slot is not None and not joined[slot].metrics.keys() & record.metrics.keys():
            joined[slot] = replace(joined[slot], metrics={**joined[slot].metrics, **record.metrics})
            continue
        slots[key] = len(joined)
        joined.append(record)
    return joined


def by_point(records: Sequence[ResultRecord]) -> list[tuple[dict[str, Any], list[ResultRecord]]]:
    """``records`` split by matrix point (and environment), each series oldest first, in the order
    the points first appear: a matrix benchmark's points are different measurements, never one series."""
    groups: dict[str, tuple[dict[str, Any], list[ResultRecord]]] = {}
    for record in records:
        point = {**({"environment": record.environment} if record.environment else {}), **record.matrix_point}
        if OVERRIDES_LABEL in record.labels:  # a --set variant is a series of its own
            point["--set"] = record.labels[OVERRIDES_LABEL]
        key = json.dumps(point, sort_keys=True, default=str)
        groups.setdefault(key, (point, []))[1].append(record)
    return list(groups.values())


def point_title(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(single point)"


def _unit(records: Sequence[ResultRecord], name: str) -> str:
    return next((r.metrics[name].unit for r in reversed(records) if name in r.metrics), "")


def metric_mean(metric: MetricResult | None) -> float | None:
    summary = metric.summary() if metric else None
    return summary.mean if summary else None


@dataclass(frozen=True)
class HistoryMarks:
    """What ``anubis history`` marks: per metric, the executions where its level stepped (detected
    change points), and the baseline resets with the first execution each one applies from."""

    change_points: Mapping[str, Sequence[str]] = field(default_factory=dict)
    resets: Sequence[tuple[BaselineReset, str | None]] = ()

    def of(self, execution_id: str, metric: str | None = None) -> list[str]:
        notes = [
            f"step in {name}" if metric is None else "step"
            for name, ids in self.change_points.items()
            if execution_id in ids and (metric is None or name == metric)
        ]
        for reset, first in self.resets:
            if first == execution_id and (metric is None or reset.metric in (None, metric)):
                notes.append("baseline reset" + (f" ({reset.metric})" if reset.metric and metric is None else ""))
        return notes


def reset_positions(records: Sequence[ResultRecord], resets: Sequence[BaselineReset]) -> list[tuple[BaselineReset, str | None]]:
    """Each reset with the first of ``records`` (oldest first) at or after it (None: none yet)."""
    out = []
    for reset in resets:
        first = next(
            (r.execution_id for r in records
             if (r.started_at or r.finished_at or 0.0) >= reset.at and reset.environment in (None, r.environment)),
            None,
        )
        out.append((reset, first))
    return out


def history_view(
    records: Sequence[ResultRecord], metric: str | None = None, marks: HistoryMarks | None = None
) -> TableView:
    """One row per execution: each metric's mean, or one metric's mean, min, max and n; with
    ``marks``, a column naming the detected steps and baseline resets."""
    view = TableView(
        columns=[
            Column("time", "time"),
            Column("execution", "execution"),
            Column("status", "status"),
            Column("commit", "commit"),
        ]
    )
    for record in records:
        view.rows.append(
            {
                "time": Cell(format_time(record.started_at or record.finished_at)),
                "execution": Cell(record.execution_id),
                "status": Cell(record.status.value, status_tone(record.status)),
                "commit": Cell((record.commit or MISSING)[:12], "muted"),
            }
        )
    if metric is not None:
        unit = _unit(records, metric)
        view.title = metric + (f" ({unit})" if unit else "")
        summaries = [r.metrics[metric].summary() if metric in r.metrics else None for r in records]
        stats = [[getattr(s, key) if s else None for key in ("mean", "min", "max")] for s in summaries]
        texts = format_numbers([v for row in stats for v in row])
        for i, key in enumerate(("mean", "min", "max")):
            view.add_column(Column(key, key, "right"), [Cell(t) for t in texts[i::3]])
        view.add_column(Column("n", "n", "right"), [Cell(str(s.n if s else 0)) for s in summaries])
    else:
        for name in metric_names(records):
            unit = _unit(records, name)
            means = format_numbers([metric_mean(r.metrics.get(name)) for r in records])
            header = name + (f" ({unit})" if unit else "")
            view.add_column(Column(f"m:{name}", header, "right"), [Cell(t) for t in means])
    if marks is not None and (any(marks.change_points.values()) or marks.resets):
        notes = [", ".join(marks.of(r.execution_id, metric)) for r in records]
        view.add_column(Column("marks", "marks"), [Cell(n, "warn" if n else "plain") for n in notes])
    return view


def history_document(
    benchmark: str,
    records: Sequence[ResultRecord],
    filters: Mapping[str, Any],
    marks: HistoryMarks | None = None,
) -> dict[str, Any]:
    names = metric_names(records)
    marks = marks or HistoryMarks()
    executions = []
    for record in records:
        summaries = {}
        for name, m in record.metrics.items():
            s = m.summary()
            summaries[name] = {
                "unit": m.unit,
                "direction": m.direction,
                **(asdict(s) if s else {"n": 0}),
            }
        executions.append(
            {
                "execution_id": record.execution_id,
                "run_id": record.run_id,
                "status": record.status.value,
                "reason": record.reason,
                "environment": record.environment,
                "matrix_point": record.matrix_point,
                "started_at": record.started_at,
                "finished_at": record.finished_at,
                "commit": record.commit,
                "branch": record.branch,
                "metrics": summaries,
            }
        )
    document: dict[str, Any] = jsonable(
        {
            "benchmark": benchmark,
            "filters": dict(filters),
            "metrics": {
                name: {
                    "unit": _unit(records, name),
                    "means": [metric_mean(r.metrics.get(name)) for r in records],
                    "change_points": list(marks.change_points.get(name, ())),
                }
                for name in names
            },
            "executions": executions,
            "resets": [
                {
                    "at": reset.at,
                    "by": reset.by,
                    "reason": reset.reason,
                    "metric": reset.metric,
                    "environment": reset.environment,
                    "first_execution": first,
                }
                for reset, first in marks.resets
            ],
        }
    )
    return document


def show_history(
    console: Console,
    records: Sequence[ResultRecord],
    metric: str | None = None,
    marks: HistoryMarks | None = None,
) -> None:
    print_table(console, history_view(records, metric, marks))
    console.print()
    names = [metric] if metric is not None else metric_names(records)
    width = max((len(n) for n in names), default=0)
    ascii_only = not can_draw_blocks(console)
    for name in names:
        means = [metric_mean(r.metrics.get(name)) for r in records]
        finite = [m for m in means if m is not None and math.isfinite(m)]
        line = Line(f"{name:<{width}}  ", STYLES["strong"])
        if marks is not None:
            breaks = [bool(marks.of(r.execution_id, name)) for r in records]
            line.append(marked_sparkline(means, breaks, ascii_only=ascii_only))
        else:
            line.append(sparkline(means, ascii_only=ascii_only))
        if finite:
            unit = _unit(records, name)
            low, high, middle = format_numbers([min(finite), max(finite), statistics.median(finite)])
            line.append(
                f"  min {low}  max {high}  median {middle}" + (f" {unit}" if unit else ""),
                STYLES["muted"],
            )
        console.print(line)
    if marks is not None:
        if any(marks.change_points.values()):
            console.print(Line("┃ marks where a metric's level stepped (a detected change point) or its "
                               "baseline was reset; a new execution is judged only against the runs since.",
                               STYLES["muted"]), soft_wrap=True)
        for reset, _first in marks.resets:
            scope = ", ".join(x for x in (reset.metric, reset.environment) if x) or "every metric"
            console.print(
                Line(f"Baseline reset {format_time(reset.at)} by {reset.by} ({scope}): {reset.reason}",
                     STYLES["warn"]),
                soft_wrap=True,
            )
