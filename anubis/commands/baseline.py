"""``anubis baseline show|reset BENCHMARK``: the baseline a benchmark is judged against, and
accepting a deliberate step (a reset, recorded with who, when and why)."""

from __future__ import annotations

import getpass
import time
from typing import TYPE_CHECKING

import click

from anubis.presenting.formatting import format_numbers, format_time
from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.tables import Cell, Column, TableView, print_table
from anubis.settings import Settings
from anubis.stores import locate, opened_store, reset_store, similar_benchmarks, store_option, stored_resets
from controller.baselines import HISTORY_LIMIT
from controller.store import BaselineReset
from schemas.errors import NotFoundError

if TYPE_CHECKING:
    from schemas.results import ResultRecord


@click.group()
def baseline() -> None:
    """Show or reset the baseline a benchmark is judged against."""


@baseline.command()
@click.argument("benchmark")
@click.option("--metric", "-m", default=None, help="Reset only this metric (default: every metric).")
@click.option("--environment", "-e", default=None, help="Reset only in this environment (default: every one).")
@click.option("--reason", default="", help="Why the step is accepted (shown in `anubis history`).")
@click.option("--by", "by", default=None, help="Who accepts it (default: this user).")
@store_option
@click.pass_obj
def reset(settings: Settings, benchmark: str, metric: str | None, environment: str | None, reason: str, by: str | None,
          store: str | None) -> None:
    """Accept the current level of BENCHMARK: executions before now are no longer its baseline, so
    a deliberate step (a new model, a new instance type) stops being reported as a regression."""
    where = locate(settings, store)
    with opened_store(settings, store) as opened:
        if opened.latest(benchmark) is None:
            raise NotFoundError(
                f"No executions of benchmark {benchmark!r} are stored in {where}, so it has "
                f"no baseline to reset. Check the name (the descriptor's info.name) and --store."
                f"{similar_benchmarks(opened, benchmark)}"
            )
        if metric is not None or environment is not None:  # a misspelt one would reset nothing judged
            _check_scope(opened.list_runs(benchmark, limit=HISTORY_LIMIT), benchmark, metric, environment)
        done = reset_store(opened, str(where)).add_reset(
            BaselineReset(
                benchmark=benchmark,
                at=time.time(),
                by=by or _user(),
                reason=reason or "no reason given",
                metric=metric,
                environment=environment,
            )
        )
    scope = ", ".join(x for x in (f"metric {metric}" if metric else "", f"environment {environment}" if environment else "") if x)
    click.echo(
        f"Baseline of {benchmark}{' (' + scope + ')' if scope else ''} reset at {format_time(done.at)} by {done.by}: "
        "the next executions start a new baseline."
    )


def _check_scope(runs: list[ResultRecord], benchmark: str, metric: str | None, environment: str | None) -> None:
    """A reset's ``metric`` and ``environment`` must be ones of the benchmark's stored executions."""
    for option, wanted, found in (("--metric", metric, {name for r in runs for name in r.metrics}),
                                  ("--environment", environment, {r.environment for r in runs})):
        if wanted is not None and wanted not in found:
            what = option.removeprefix("--")
            raise NotFoundError(
                f"No stored execution of benchmark {benchmark!r} has the {what} {wanted!r} (its {what}s: "
                f"{', '.join(sorted(found))}), so resetting it would change nothing that is judged. "
                f"Check {option}."
            )


@baseline.command()
@click.argument("benchmark")
@click.option("--environment", "-e", default=None, help="Only this environment.")
@store_option
@output_option
@click.pass_obj
def show(settings: Settings, benchmark: str, environment: str | None, store: str | None, output: OutputFormat) -> None:
    """Show what the next execution of BENCHMARK would be judged against: per environment, matrix
    point and metric, the baseline executions, their centre and spread, and the resets."""
    from anubis.judging import judge_stored

    with opened_store(settings, store) as opened:
        latest = opened.list_runs(benchmark, limit=200)
        if environment is not None:
            latest = [r for r in latest if r.environment == environment]
        if not latest:
            where = f" in environment {environment!r}" if environment is not None else ""
            raise NotFoundError(f"No executions of benchmark {benchmark!r}{where} are stored."
                                f"{similar_benchmarks(opened, benchmark)}")
        seen: set[tuple[str, str]] = set()
        heads = []
        for record in latest:  # newest first: the newest of each environment and matrix point
            key = (record.environment, repr(sorted(record.matrix_point.items())))
            if key not in seen and record.metrics:
                seen.add(key)
                heads.append(record)
        judged = [(record, judge_stored(settings, opened, record)) for record in heads]
        resets = stored_resets(opened, benchmark)
    if output == "json":
        emit_json(
            {
                "benchmark": benchmark,
                "latest": [
                    {
                        "execution_id": record.execution_id,
                        "environment": record.environment,
                        "matrix_point": record.matrix_point,
                        "verdicts": {name: j.to_dict() for name, j in judgements.items()},
                    }
                    for record, judgements in judged
                ],
                "resets": [
                    {"at": r.at, "by": r.by, "reason": r.reason, "metric": r.metric, "environment": r.environment}
                    for r in resets
                ],
            }
        )
        return
    view = TableView(
        columns=[
            Column("where", "environment / point"),
            Column("metric", "metric"),
            Column("n", "runs", "right"),
            Column("centre", "centre", "right"),
            Column("spread", "spread", "right"),
            Column("since", "since"),
            Column("latest", "latest verdict"),
        ],
        title=f"Baseline of {benchmark} (judging each point's latest execution)",
    )
    for record, judgements in judged:
        point = ", ".join(f"{k}={v}" for k, v in sorted(record.matrix_point.items()))
        for name, j in judgements.items():
            b = j.verdict.baseline
            centre, spread = format_numbers([b.center, b.spread]) if b else ("—", "—")
            if b is not None and b.compared and j.change_point:
                since = f"before the step at {j.change_point} ({len(b.compared) + 1} runs at the new level)"
            elif j.change_point:
                since = f"since the step at {j.change_point}"
            elif j.history.reset is not None:
                since = f"since the reset of {format_time(j.history.reset.at)}"
            else:
                since = "all history"
            view.rows.append(
                {
                    "where": Cell(record.environment + (f" [{point}]" if point else "")),
                    "metric": Cell(name, "strong"),
                    "n": Cell(str(b.n if b else 0)),
                    "centre": Cell(centre),
                    "spread": Cell(spread),
                    "since": Cell(since, "muted"),
                    "latest": Cell(j.verdict.verdict.replace("_", " ")),
                }
            )
    console = make_console()
    print_table(console, view)
    for r in resets:
        scope = ", ".join(x for x in (r.metric, r.environment) if x) or "every metric"
        console.print(f"reset {format_time(r.at)} by {r.by} ({scope}): {r.reason}", markup=False, highlight=False)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
