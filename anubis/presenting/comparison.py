"""Two results side by side: each metric's mean in A and B, the change, whether B is better, and a
statistical verdict where both have enough samples (``anubis compare``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from anubis.presenting.formatting import (
    MISSING,
    VERDICT_TONES,
    format_change,
    format_numbers,
    format_time,
    status_tone,
)
from anubis.presenting.history import metric_mean, metric_names
from anubis.presenting.output import Console, jsonable
from anubis.presenting.plain import Line
from anubis.presenting.tables import STYLES, Cell, Column, TableView, Tone, print_table
from schemas.results import ResultRecord

Assessment = Literal["better", "worse", "unchanged"]


@dataclass(frozen=True)
class MetricComparison:
    """One metric of two results. ``verdict`` is for a statistical judgement made elsewhere
    (``regression`` / ``improvement`` / ``no_change``); views show it when it is set."""

    name: str
    unit: str
    direction: str
    a_mean: float | None
    b_mean: float | None
    change: float | None
    change_percent: float | None
    assessment: Assessment | None  # None: cannot tell (missing on one side, units differ)
    note: str = ""
    verdict: str | None = None


def compare_metrics(a: ResultRecord, b: ResultRecord) -> list[MetricComparison]:
    """Every metric of ``a`` or ``b``: B's mean against A's, judged by the metric's direction."""
    rows = []
    for name in metric_names((a, b)):
        ma, mb = a.metrics.get(name), b.metrics.get(name)
        ref = ma or mb
        assert ref is not None
        a_mean, b_mean = metric_mean(ma), metric_mean(mb)
        change = percent = None
        assessment: Assessment | None = None
        note = ""
        if ma is None or mb is None:
            note = f"only in {'A' if mb is None else 'B'}"
        elif ma.unit != mb.unit:
            note = f"units differ: {ma.unit} / {mb.unit}"
        elif a_mean is not None and b_mean is not None:
            change = b_mean - a_mean
            percent = change / abs(a_mean) * 100 if a_mean != 0 else None
            if change == 0:
                assessment = "unchanged"
            else:
                improved = change > 0 if ref.direction == "higher" else change < 0
                assessment = "better" if improved else "worse"
        rows.append(
            MetricComparison(
                name=name,
                unit=ref.unit,
                direction=ref.direction,
                a_mean=a_mean,
                b_mean=b_mean,
                change=change,
                change_percent=percent,
                assessment=assessment,
                note=note,
            )
        )
    return rows


def judge_comparison(
    rows: Sequence[MetricComparison],
    a: ResultRecord,
    b: ResultRecord,
    policies: Mapping[str, Any] | None = None,
) -> list[MetricComparison]:
    """``rows`` with a ``verdict`` where both executions have at least :data:`MIN_SAMPLES` finite
    samples: a two-sided Mann-Whitney U test between A's and B's samples at the policy's confidence,
    plus the policy's minimum change of B's median against A's. This says whether *these two
    executions* differ; their samples (epochs of one run) share a machine and a build, so it cannot
    say whether the code changed: that is the verdict against the baseline (``anubis results``)."""
    from scipy import stats  # only when comparing

    from schemas.runspec import RegressionPolicy

    out = []
    for row in rows:
        ma, mb = a.metrics.get(row.name), b.metrics.get(row.name)
        if row.assessment is None or ma is None or mb is None:
            out.append(row)
            continue
        xa = [v for v in ma.values if math.isfinite(v)]
        xb = [v for v in mb.values if math.isfinite(v)]
        if len(xa) < MIN_SAMPLES or len(xb) < MIN_SAMPLES:
            out.append(row)  # too few to test: the assessment alone
            continue
        policy = (policies or {}).get(row.name, RegressionPolicy())
        centre_a, centre_b = statistics.median(xa), statistics.median(xb)
        p_value = float(stats.mannwhitneyu(xb, xa, alternative="two-sided").pvalue)
        change = (centre_b - centre_a) / abs(centre_a) if centre_a != 0 else math.inf
        significant = 1.0 - p_value >= policy.confidence
        if not (significant and abs(change) >= policy.min_change):
            verdict = "no_change"
        else:
            better = change > 0 if row.direction == "higher" else change < 0
            verdict = "improvement" if better else "regression"
        out.append(replace(row, verdict=verdict, note=f"Mann-Whitney p={p_value:.3g}"))
    return out


#: The fewest finite samples each execution needs before two executions are tested against each other.
MIN_SAMPLES = 5

_ASSESSMENT_TONES: dict[str, Tone] = {"better": "good", "worse": "bad", "unchanged": "muted"}


def comparison_view(rows: Sequence[MetricComparison]) -> TableView:
    view = TableView(
        columns=[
            Column("metric", "metric"),
            Column("unit", "unit"),
            Column("a", "A mean", "right"),
            Column("b", "B mean", "right"),
            Column("change", "change", "right"),
            Column("assessment", "B is"),
        ]
    )
    for row in rows:
        tone = _ASSESSMENT_TONES.get(row.assessment or "", "muted")
        better = "higher" if row.direction == "higher" else "lower"
        means = [row.a_mean, row.b_mean]
        a_text, b_text = format_numbers(means)
        view.rows.append(
            {
                "metric": Cell(row.name, "strong"),
                "unit": Cell(row.unit),
                "a": Cell(a_text),
                "b": Cell(b_text),
                "change": Cell(format_change(row.change, row.change_percent, means), tone),
                "assessment": Cell(
                    f"{row.assessment} ({better} is better)" if row.assessment else row.note or MISSING,
                    tone,
                ),
            }
        )
    if any(row.verdict for row in rows):
        view.add_column(
            Column("verdict", "verdict"),
            [Cell(r.verdict or MISSING, VERDICT_TONES.get(r.verdict or "", "muted")) for r in rows],
        )
    return view


def _identity(record: ResultRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "execution_id": record.execution_id,
        "benchmark": record.benchmark,
        "environment": record.environment,
        "matrix_point": record.matrix_point,
        "status": record.status.value,
        "reason": record.reason,
        "started_at": record.started_at,
        "commit": record.commit,
    }


def comparison_document(
    a: ResultRecord, b: ResultRecord, rows: Sequence[MetricComparison]
) -> dict[str, Any]:
    document: dict[str, Any] = jsonable(
        {
            "a": _identity(a),
            "b": _identity(b),
            "metrics": {
                row.name: {
                    "unit": row.unit,
                    "direction": row.direction,
                    "a_mean": row.a_mean,
                    "b_mean": row.b_mean,
                    "change": row.change,
                    "change_percent": row.change_percent,
                    "assessment": row.assessment,
                    "note": row.note,
                    "verdict": row.verdict,
                }
                for row in rows
            },
        }
    )
    return document


def show_comparison(
    console: Console, a: ResultRecord, b: ResultRecord, rows: Sequence[MetricComparison]
) -> None:
    for label, record in (("A", a), ("B", b)):
        line = Line(f"{label}  ", STYLES["strong"])
        line.append(f"{record.benchmark}  {record.execution_id}  ")
        line.append(record.status.value, STYLES[status_tone(record.status)])
        line.append(f"  {format_time(record.started_at)}  {(record.commit or MISSING)[:12]}",
                    STYLES["muted"])
        console.print(line)
    console.print()
    if rows:
        print_table(console, comparison_view(rows))
    else:
        console.print(Line("Neither result has metrics to compare.", STYLES["muted"]))
