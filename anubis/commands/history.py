"""``anubis history BENCHMARK``: a benchmark's finished executions over time, with sparklines."""

from __future__ import annotations

import click

from anubis.presenting.history import (
    HistoryMarks,
    by_point,
    history_document,
    imported_runs_joined,
    metric_names,
    point_title,
    reset_positions,
    show_history,
)
from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.plain import Line
from anubis.settings import Settings
from anubis.stores import opened_store, similar_benchmarks, store_option, stored_resets
from schemas.errors import NotFoundError


@click.command()
@click.argument("benchmark")
@click.option("--metric", "-m", default=None, help="Show only this metric: its mean, min and max.")
@click.option("--environment", "-e", default=None, help="Only executions in this environment.")
@click.option("--branch", default=None, help="Only executions of descriptors on this branch.")
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
    help="How many of the newest executions to show.",
)
@store_option
@output_option
@click.pass_obj
def history(
    settings: Settings,
    benchmark: str,
    metric: str | None,
    environment: str | None,
    branch: str | None,
    limit: int,
    store: str | None,
    output: OutputFormat,
) -> None:
    """Show the finished executions of BENCHMARK, oldest first, and how each metric moved: where
    its level stepped (a detected change point) and where its baseline was reset."""
    from controller.baselines import change_point_executions

    with opened_store(settings, store) as opened:
        records = imported_runs_joined(opened.history(benchmark, environment=environment, branch=branch, limit=limit))
        resets = [r for r in stored_resets(opened, benchmark) if environment is None or r.environment in (None, environment)]
        similar = similar_benchmarks(opened, benchmark) if not records else ""
    if not records:
        where = "".join(
            f" {label} {value!r}" for label, value in (("in", environment), ("on", branch)) if value
        )
        raise NotFoundError(
            f"No finished executions of benchmark {benchmark!r}{where} are stored. Check the name "
            f"(it is the descriptor's info.name) or run it with `anubis run`.{similar}"
        )
    if metric is not None and metric not in metric_names(records):
        known = ", ".join(metric_names(records)) or "none"
        raise NotFoundError(
            f"Benchmark {benchmark!r} has no metric {metric!r} in these executions. "
            f"Its metrics: {known}."
        )
    names = [metric] if metric is not None else metric_names(records)
    points = by_point(records)
    grouped = [(point, series, HistoryMarks(
        change_points={name: change_point_executions(series, name) for name in names},
        resets=reset_positions(series, resets),
    )) for point, series in points]
    if output == "json":
        filters = {"environment": environment, "branch": branch, "metric": metric, "limit": limit}
        if len(grouped) == 1:
            emit_json(history_document(benchmark, records, filters, grouped[0][2]))
            return
        document = history_document(benchmark, records, filters, HistoryMarks(resets=reset_positions(records, resets)))
        document["metrics"] = {}  # one series per point: a mean across points would mix different measurements
        document["points"] = [
            {"point": point, **{k: v for k, v in history_document(benchmark, series, filters, marks).items()
                                if k in ("metrics", "executions")}}
            for point, series, marks in grouped
        ]
        emit_json(document)
        return
    console = make_console()
    if len(grouped) > 1:
        console.print(Line(f"{benchmark}: {len(grouped)} series (matrix points, environments, --set variants),"
                           " each on its own", "bold"))
    for point, series, marks in grouped:
        if len(grouped) > 1:
            console.print()
            console.print(Line(f"── {point_title(point)} ({len(series)} execution{'s' if len(series) != 1 else ''})",
                               "bold"))
        show_history(console, series, metric, marks)
