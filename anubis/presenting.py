"""How the commands show results: rich tables for people, one JSON document for machines.

A view is built as plain data first (:class:`TableView`: columns with keys, rows of :class:`Cell`
keyed by column), then printed; so a column can be added to a view without touching the printers
(the comparison view shows a ``verdict`` column as soon as a row carries one). Colour comes only
from a cell's *tone* and only reaches a terminal: rich leaves it out when stdout is a pipe or a file,
and honours ``NO_COLOR``/``FORCE_COLOR``.

``--output json`` prints exactly one JSON object. JSON has no NaN or infinity: such values are
written as ``null``.
"""

from __future__ import annotations

import enum
import io
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from schemas.results import MetricResult, ResultRecord
from schemas.status import RunStatus

if TYPE_CHECKING:
    from controller.baselines import Judgement
    from controller.store import BaselineReset

OutputFormat = Literal["table", "json"]
Tone = Literal["plain", "good", "bad", "warn", "muted", "strong"]
Justify = Literal["left", "right", "center"]

_STYLES: dict[Tone, str] = {
    "plain": "",
    "good": "green",
    "bad": "bold red",
    "warn": "yellow",
    "muted": "dim",
    "strong": "bold",
}
#: Width of tables that go to a pipe or a file (a terminal's own width is used otherwise).
PIPE_WIDTH = 160
BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-=+*#@"
MISSING = "—"

F = TypeVar("F", bound=Callable[..., Any])


def output_option(function: F) -> F:
    """The ``--output table|json`` option every reading command takes."""
    decorator = click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table: for people; json: one JSON object, for scripts.",
    )
    return decorator(function)


# -- building blocks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = "plain"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    justify: Justify = "left"
    no_wrap: bool = True


@dataclass
class TableView:
    """Columns and rows of a table, before it is printed. A row lacking a column's key is blank."""

    columns: list[Column]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    title: str | None = None

    def add_column(self, column: Column, values: Sequence[Cell] | None = None) -> None:
        self.columns.append(column)
        for row, cell in zip(self.rows, values or ()):
            row[column.key] = cell


def make_console(stream: IO[str] | None = None) -> Console:
    out = stream if stream is not None else sys.stdout
    if isinstance(out, io.TextIOWrapper) and not out.encoding.lower().startswith("utf"):
        out.reconfigure(errors="replace")  # an ASCII-only stdout shows "?" rather than failing
    terminal = out.isatty()
    return Console(file=out, highlight=False, width=None if terminal else PIPE_WIDTH)


def _text(cell: Cell) -> Text:
    return Text(cell.text, style=_STYLES[cell.tone])


def print_table(console: Console, view: TableView) -> None:
    if view.title:
        console.print(Text(view.title, style=_STYLES["strong"]))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in view.columns:
        table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap)
    for row in view.rows:
        table.add_row(*(_text(row.get(column.key, Cell(""))) for column in view.columns))
    console.print(table)


def print_fields(console: Console, fields: Sequence[tuple[str, Cell]]) -> None:
    """A block of ``label  value`` lines (a record's header)."""
    width = max((len(label) for label, _ in fields), default=0)
    for label, cell in fields:
        line = Text(f"{label:<{width}}  ", style=_STYLES["strong"])
        line.append_text(_text(cell))
        console.print(line, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, enums as their values and non-finite floats as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def emit_json(document: Mapping[str, Any]) -> None:
    click.echo(json.dumps(jsonable(document), indent=2, allow_nan=False, ensure_ascii=False))


# -- formatting -----------------------------------------------------------------------------------


def format_numbers(values: Sequence[float | None]) -> list[str]:
    """Numbers that are read side by side (a row of statistics, a column of means), with the same
    decimals: four significant digits on the largest, no exponent for everyday magnitudes."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    magnitude = math.floor(math.log10(max(finite))) if finite else 0
    scientific = magnitude >= 9 or magnitude < -4
    decimals = max(0, 3 - magnitude)
    out = []
    for v in values:
        if v is None:
            out.append(MISSING)
        elif math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        elif v == 0:
            out.append("0")
        elif scientific:
            out.append(f"{v:.4g}")
        else:
            out.append(f"{v:,.{decimals}f}")
    return out


def format_number(value: float | None) -> str:
    return format_numbers([value])[0]


def format_change(change: float | None, percent: float | None, like: Sequence[float | None] = ()) -> str:
    """``+1.50 (+14.3%)``; ``like`` are the numbers it is read beside (for the same decimals)."""
    if change is None:
        return MISSING
    text = f"{'+' if change > 0 else ''}{format_numbers([*like, change])[-1]}"
    if percent is not None:
        text += f" ({'+' if percent > 0 else ''}{percent:.1f}%)"
    return text


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def format_time(timestamp: float | None) -> str:
    """UTC, to the second: the same on every machine of a team."""
    if timestamp is None or not math.isfinite(timestamp):
        return MISSING
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_tone(status: RunStatus) -> Tone:
    if status is RunStatus.SUCCEEDED:
        return "good"
    if status in (RunStatus.FAILED, RunStatus.ERROR, RunStatus.TIMED_OUT):
        return "bad"
    if status is RunStatus.CANCELED:
        return "warn"
    return "muted"


def sparkline(values: Sequence[float | None], *, ascii_only: bool = False) -> str:
    """One block character per value, scaled between the finite minimum and maximum.

    A missing or non-finite value is a space; when every finite value is equal, all sit mid-height.
    """
    blocks = ASCII_BLOCKS if ascii_only else BLOCKS
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    top = len(blocks) - 1
    chars = []
    for v in values:
        if v is None or not math.isfinite(v):
            chars.append(" ")
        elif high == low:
            chars.append(blocks[top // 2])
        else:
            chars.append(blocks[min(top, int((v - low) / (high - low) * top + 0.5))])
    return "".join(chars)


def _can_draw_blocks(console: Console) -> bool:
    try:
        BLOCKS.encode(console.encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _describe_point(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(point.items()))


def _mean(metric: MetricResult | None) -> float | None:
    summary = metric.summary() if metric else None
    return summary.mean if summary else None


# -- one result -----------------------------------------------------------------------------------


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
        dropped = len(metric.values) - n
        row["n"] = Cell(f"{n} (+{dropped} not finite)" if dropped else str(n), "warn" if dropped else "plain")
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
    tone = _VERDICT_TONES.get(judgement.verdict.verdict if judgement else "", "plain")
    return Cell(f"{change:+.1%}", tone)


def _verdict_cell(judgement: Judgement | None) -> Cell:
    if judgement is None:
        return Cell(MISSING, "muted")
    verdict = judgement.verdict.verdict
    text = verdict.replace("_", " ")
    if judgement.verdict.confidence is not None and judgement.verdict.is_change:
        text += f" ({judgement.verdict.confidence:.1%})"
    return Cell(text, _VERDICT_TONES.get(verdict, "muted"))


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
        console.print(Text("No metrics were recorded.", style=_STYLES["muted"]))
        return
    print_table(console, metrics_view(record, judgements))
    notes = [(name, j) for name, j in judgements.items() if j.verdict.verdict != "no_change"]
    if judgements:
        first = next(iter(judgements.values()))
        console.print(Text(f"Baseline: {first.history.note}.", style=_STYLES["muted"]), soft_wrap=True)
    for name, judgement in notes:
        line = Text(f"{name}: ", style=_STYLES["strong"])
        line.append(judgement.verdict.verdict.replace("_", " "), style=_STYLES[_VERDICT_TONES.get(judgement.verdict.verdict, "muted")])
        line.append(f" — {judgement.verdict.reason}")
        if judgement.change_point:
            line.append(f" (level changed at execution {judgement.change_point})", style=_STYLES["muted"])
        console.print(line, soft_wrap=True)


# -- history of a benchmark -----------------------------------------------------------------------


def metric_names(records: Iterable[ResultRecord]) -> list[str]:
    """Every metric of ``records``, in the order they first appear."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.metrics))
    return list(names)


def _unit(records: Sequence[ResultRecord], name: str) -> str:
    return next((r.metrics[name].unit for r in reversed(records) if name in r.metrics), "")


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
            means = format_numbers([_mean(r.metrics.get(name)) for r in records])
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
                    "means": [_mean(r.metrics.get(name)) for r in records],
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


def marked_sparkline(
    values: Sequence[float | None], breaks: Sequence[bool], *, ascii_only: bool = False
) -> str:
    """:func:`sparkline` with a bar before each value whose ``breaks`` entry is true (a step or a
    baseline reset starts there)."""
    line = sparkline(values, ascii_only=ascii_only)
    bar = "|" if ascii_only else "┃"
    return "".join((bar if brk and i else "") + ch for i, (ch, brk) in enumerate(zip(line, breaks)))


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
    ascii_only = not _can_draw_blocks(console)
    for name in names:
        means = [_mean(r.metrics.get(name)) for r in records]
        finite = [m for m in means if m is not None and math.isfinite(m)]
        line = Text(f"{name:<{width}}  ", style=_STYLES["strong"])
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
                style=_STYLES["muted"],
            )
        console.print(line)
    if marks is not None:
        if any(marks.change_points.values()):
            console.print(Text("┃ marks where a metric's level stepped (a detected change point) or its "
                               "baseline was reset; a new execution is judged only against the runs since.",
                               style=_STYLES["muted"]), soft_wrap=True)
        for reset, first in marks.resets:
            scope = ", ".join(x for x in (reset.metric, reset.environment) if x) or "every metric"
            console.print(
                Text(f"Baseline reset {format_time(reset.at)} by {reset.by} ({scope}): {reset.reason}",
                     style=_STYLES["warn"]),
                soft_wrap=True,
            )


# -- comparing two results ------------------------------------------------------------------------

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
        a_mean, b_mean = _mean(ma), _mean(mb)
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
_VERDICT_TONES: dict[str, Tone] = {
    "regression": "bad",
    "improvement": "good",
    "no_change": "muted",
    "insufficient_data": "warn",
}


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
            [Cell(r.verdict or MISSING, _VERDICT_TONES.get(r.verdict or "", "muted")) for r in rows],
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
        line = Text(f"{label}  ", style=_STYLES["strong"])
        line.append(f"{record.benchmark}  {record.execution_id}  ")
        line.append(record.status.value, style=_STYLES[status_tone(record.status)])
        line.append(f"  {format_time(record.started_at)}  {(record.commit or MISSING)[:12]}",
                    style=_STYLES["muted"])
        console.print(line)
    console.print()
    if rows:
        print_table(console, comparison_view(rows))
    else:
        console.print(Text("Neither result has metrics to compare.", style=_STYLES["muted"]))
