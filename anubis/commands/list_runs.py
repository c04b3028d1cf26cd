"""``anubis list``: recent runs, in progress and finished, as a table or JSON."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anubis.cluster_access import ClusterAccess, cluster_options, cluster_view
from anubis.presenting.formatting import format_duration, format_time, status_tone
from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.tables import Cell, Column, TableView, print_table
from anubis.settings import Settings
from schemas.status import RunStatus

if TYPE_CHECKING:  # the controller's modules are imported where used: `anubis search` imports this one
    from controller.local.journaling import LocalRuns, RunView

F = TypeVar("F", bound=Callable[..., Any])

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``3d``, ``1w`` ago, or an ISO date or time (``2024-05-01``,
    ``2024-05-01T12:00``; UTC unless it says otherwise) → unix seconds."""
    current = time.time() if now is None else now
    match = _AGO.match(text)
    if match:
        return current - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a time: give an age such as 30m, 2h, 3d or 1w, or an ISO date such as 2024-05-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def since_option(help_text: str) -> Callable[[F], F]:
    """``--since WHEN``, converted to unix seconds by :func:`parse_since`."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        return None if value is None else parse_since(value)

    return click.option("--since", metavar="WHEN", default=None, callback=convert, help=help_text)


STATUS_CHOICE = click.Choice([s.value for s in RunStatus], case_sensitive=False)


def local_runs(settings: Settings) -> LocalRuns:
    """Journal, registry and store of this machine (each only if it exists: reading creates nothing).
    An execution whose `anubis run` was killed is stopped and recorded as ERROR when seen."""
    from controller.journal import open_journal
    from controller.local.journaling import LocalRuns
    from controller.local.registry import Registry, journal_orphans
    from controller.sqlite_store import SqliteResultStore

    store = SqliteResultStore(settings.store_path) if settings.store_path.exists() else None
    journal = open_journal(settings.data_dir)
    return LocalRuns(journal, Registry(settings.data_dir, on_orphan=journal_orphans(journal)), store)


def close_runs(runs: LocalRuns) -> None:
    from controller.sqlite_store import SqliteResultStore

    if runs.journal is not None:
        runs.journal.close()
    if isinstance(runs.store, SqliteResultStore):
        runs.store.close()


def run_document(view: RunView, now: float) -> dict[str, Any]:
    return {
        "execution_id": view.execution_id,
        "run_id": view.run_id,
        "benchmark": view.benchmark,
        "environment": view.environment,
        "backend": view.backend,
        "status": view.status.value,
        "reason": view.reason,
        "active": view.active,
        "started_at": view.started_at,
        "finished_at": view.finished_at,
        "duration_seconds": view.duration(now),
        "commit": view.commit,
    }


@click.command("list")
@click.option("--benchmark", "-b", default=None, help="Only runs of this benchmark.")
@click.option("--status", "-s", type=STATUS_CHOICE, default=None, help="Only runs in this status.")
@since_option("Only runs started since: 30m, 2h, 3d, 1w or an ISO date.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many runs.")
@cluster_options
@output_option
@click.pass_obj
def list_runs(
    settings: Settings, benchmark: str | None, status: str | None, since: float | None, limit: int,
    access: ClusterAccess, output: OutputFormat,
) -> None:
    """List recent runs, newest first: those running on this machine and those finished.

    A run whose `anubis run` process vanished without a final status shows as ERROR. With --cluster,
    also the cluster's runs: its Jobs and MPIJobs (status as the controller decides it) and the
    controller's result store (--store).
    """
    wanted = RunStatus(status.upper()) if status else None
    runs = local_runs(settings)
    try:
        views = runs.recent(benchmark=benchmark, status=wanted, since=since, limit=limit)
    finally:
        close_runs(runs)
    if access.asked:
        views = _with_cluster(settings, access, views, benchmark=benchmark, status=wanted, since=since, limit=limit)
    now = time.time()
    if output == "json":
        emit_json({"runs": [run_document(v, now) for v in views]})
        return
    console = make_console()
    if not views:
        console.print("No runs found." + ("" if benchmark or status or since else " Start one with `anubis run benchmarks/<name>`."))
        return
    view = TableView(
        columns=[
            # on a narrow terminal the lowest priorities are left out first; status always stays
            Column("run", "run id", priority=60),
            Column("execution", "execution id", priority=10),
            Column("benchmark", "benchmark", priority=50),
            Column("environment", "environment", priority=20),
            Column("status", "status"),
            Column("started", "started", priority=40),
            Column("duration", "duration", justify="right", priority=30),
            Column("commit", "source commit", priority=15),
        ]
    )
    for v in views:
        view.rows.append(
            {
                "run": Cell(v.run_id),
                "execution": Cell(v.execution_id),
                "benchmark": Cell(v.benchmark),
                "environment": Cell(v.environment),
                "status": Cell(v.status.value + (" …" if v.active else ""), status_tone(v.status)),
                "started": Cell(format_time(v.started_at)),
                "duration": Cell(format_duration(v.duration(now))),
                "commit": Cell((v.commit or "")[:12]),
            }
        )
    print_table(console, view)


def _with_cluster(settings: Settings, access: ClusterAccess, views: list[RunView], *, benchmark: str | None,
                  status: RunStatus | None, since: float | None, limit: int) -> list[RunView]:
    """``views`` with the cluster's runs: live Jobs and MPIJobs, then the controller's stored results
    (a stored result is final, so it wins over the object it came from)."""
    from controller.kubernetes.following import list_cluster_runs
    from controller.local.journaling import LocalRuns
    from controller.store_location import close_store

    found = {v.execution_id: v for v in views}
    now = time.time()
    for run in list_cluster_runs(access.client(), access.where(settings)):
        decision = run.decision(now)
        found.setdefault(run.execution_id, cluster_view(run, decision.status, decision.reason))
    store = access.store(settings) if access.store_url is not None else None
    try:
        if store is not None:
            for record in store.list_runs(benchmark=benchmark, status=status, since=since, limit=limit):
                found[record.execution_id] = LocalRuns.from_record(record)
    finally:
        close_store(store)
    kept = [v for v in found.values()
            if (benchmark is None or v.benchmark == benchmark) and (status is None or v.status is status)
            and (since is None or (v.started_at or 0.0) >= since)]
    kept.sort(key=lambda v: v.started_at if v.started_at is not None else 0.0, reverse=True)
    return kept[:limit]
