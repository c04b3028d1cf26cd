"""One result: its header, its metrics with their verdicts, and its JSON document (``anubis results``,
``anubis run``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from anubis.presenting.formatting import (
    MISSING,
    VERDICT_TONES,
    format_duration,
    format_numbers,
    format_time,
    status_tone,
)
from anubis.presenting.output import Console, jsonable
from anubis.presenting.plain import Line
from anubis.presenting.tables import (
    STYLES,
    Cell,
    Column,
    TableView,
    print_fields,
    print_table,
)
from anubis.presenting.usage import usage_fields
from schemas.results import ResultRecord

if TYPE_CHECKING:
    from controller.baselines import Judgement


def _describe_point(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(point.items()))


def result_document(record: ResultRecord, judgements: Mapping[str, Judgement] | None = None) -> dict[str, Any]:
    """The JSON of ``anubis results``: the record as ``schemas/result.schema.json`` describes it,
    with ``verdicts`` (metric name -> verdict, change, confidence, baseline). Without
    ``judgements``, they are computed when a command's settings are at hand (``anubis run``)."""
    if judgements is None:
        judgements = _judgements_in_context(record)
    raw = record.to_dict()
    raw["verdicts"] = {name: j.to_dict() for name, j in judgements.items()}
    document: dict[str, Any] = jsonable(raw)
    return document


def _judgements_in_context(record: ResultRecord) -> Mapping[str, Judgement]:
    from anubis.judging import (
        judgements_in_context,  # numpy and scipy only when judging
    )

    return judgements_in_context(record)


def _source(record: ResultRecord) -> str:
    parts = [f"{record.repository}@" if record.repository else "", record.commit or "unknown commit"]
    extras = [record.branch or "", f"PR #{record.pull_request}" if record.pull_request else ""]
    if record.reproducibility.source_dirty:
        extras.append("uncommitted changes")
    extra = ", ".join(e for e in extras if e)
    return "".join(parts) + (f" ({extra})" if extra else "")


def result_fields(record: ResultRecord) -> list[tuple[str, Cell]]:
    status = record.status.value + (f" — {record.reason}" if record.reason else "")
    benchmark = record.benchmark + (
        f" [{_describe_point(record.matrix_point)}]" if record.matrix_point else ""
    )
    repro = record.reproducibility
    image = repro.image + (f"@{repro.image_digest}" if repro.image_digest else "")
    if repro.host_environment:
        image += " (ran on the host, not in the image)"
    hardware = ", ".join(
        x
        for x in (repro.instance_type, repro.accelerator, repro.cpu_model, *repro.gpus, repro.node)
        if x
    )
    fields = [
        ("Run", Cell(record.run_id, "strong")),
        ("Execution", Cell(record.execution_id)),
        ("Benchmark", Cell(benchmark)),
        ("Environment", Cell(f"{record.environment} ({record.backend})")),
        ("Status", Cell(status, status_tone(record.status))),
        ("Started", Cell(format_time(record.started_at))),
        ("Duration", Cell(format_duration(record.duration))),
        ("Source", Cell(_source(record))),
        ("Image", Cell(image or MISSING)),
    ]
    if hardware:
        fields.append(("Hardware", Cell(hardware)))
    fields.extend(usage_fields(record))
    return fields


def metrics_view(record: ResultRecord, judgements: Mapping[str, Judgement] | None = None) -> TableView:
    """One row per metric: its statistics and, with ``judgements``, the baseline, the change and
    the verdict."""
    numbers = ("last", "mean", "median", "min", "max")
    view = TableView(
        columns=[Column("metric", "metric"), Column("unit", "unit")]
        + [Column(k, k, "right") for k in numbers]
        + [Column("n", "n", "right")],
        title="Metrics",
    )
    for name, metric in record.metrics.items():
        s = metric.summary()
        row = {"metric": Cell(name, "strong"), "unit": Cell(metric.unit)}
        texts = format_numbers([getattr(s, key) if s else None for key in numbers])
        for key, text in zip(numbers, texts):
            row[key] = Cell(text)
        n = s.n if s else 0
        dropped = len(metric.values) + metric.values_dropped - n  # not finite
        notes = ([f"+{dropped} not finite"] if dropped else []) + (
            [f"{metric.values_dropped} not stored"] if metric.values_dropped else [])
        row["n"] = Cell(f"{n} ({', '.join(notes)})" if notes else str(n), "warn" if notes else "plain")
        view.rows.append(row)
    if judgements:
        found = [judgements.get(name) for name in record.metrics]
        view.add_column(Column("baseline", "baseline", "right"), [_baseline_cell(j) for j in found])
        view.add_column(Column("change", "change", "right"), [_change_cell(j) for j in found])
        view.add_column(Column("verdict", "verdict"), [_verdict_cell(j) for j in found])
    return view


def _baseline_cell(judgement: Judgement | None) -> Cell:
    baseline = judgement.verdict.baseline if judgement else None
    if baseline is None:
        return Cell(MISSING, "muted")
    centre, spread = format_numbers([baseline.center, baseline.spread])
    return Cell(f"{centre} ± {spread} (n={baseline.n})")


def _change_cell(judgement: Judgement | None) -> Cell:
    change = judgement.verdict.change if judgement else None
    if change is None:
        return Cell(MISSING, "muted")
    tone = VERDICT_TONES.get(judgement.verdict.verdict if judgement else "", "plain")
    return Cell(f"{change:+.1%}", tone)


def _verdict_cell(judgement: Judgement | None) -> Cell:
    if judgement is None:
        return Cell(MISSING, "muted")
    verdict = judgement.verdict.verdict
    text = verdict.replace("_", " ")
    if judgement.verdict.confidence is not None and judgement.verdict.is_change:
        text += f" ({judgement.verdict.confidence:.1%})"
    return Cell(text, VERDICT_TONES.get(verdict, "muted"))


def unmatched(record: ResultRecord) -> list[str]:
    """The declared metrics of ``record`` that never got a value."""
    return [name for name, metric in record.metrics.items() if not metric.values]


def show_result(
    console: Console, record: ResultRecord, judgements: Mapping[str, Judgement] | None = None
) -> None:
    """A record's header and metrics; with the verdicts (computed when a command's settings are at
    hand if not given), a baseline, change and verdict per metric and why, for the ones that moved."""
    if judgements is None:
        judgements = _judgements_in_context(record)
    print_fields(console, result_fields(record))
    console.print()
    if not record.metrics:
        console.print(Line("No metrics were recorded.", STYLES["muted"]))
        return
    print_table(console, metrics_view(record, judgements))
    for name in unmatched(record):
        console.print(Line(f"warning: metric '{name}' never matched the benchmark's output: it has no value; check"
                           " its pattern against `anubis logs`", STYLES["warn"]), soft_wrap=True)
    notes = [(name, j) for name, j in judgements.items() if j.verdict.verdict != "no_change"]
    if judgements:
        first = next(iter(judgements.values()))
        console.print(Line(f"Baseline: {first.history.note}.", STYLES["muted"]), soft_wrap=True)
    for name, judgement in notes:
        line = Line(f"{name}: ", STYLES["strong"])
        line.append(judgement.verdict.verdict.replace("_", " "), STYLES[VERDICT_TONES.get(judgement.verdict.verdict, "muted")])
        line.append(f" — {judgement.verdict.reason}")
        if judgement.change_point:
            line.append(f" (level changed at execution {judgement.change_point})", STYLES["muted"])
        console.print(line, soft_wrap=True)
