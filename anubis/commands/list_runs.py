"""``anubis list``: recent runs, in progress and finished, as a table or JSON."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from anubis.cluster_access import ClusterAccess, cluster_options, cluster_view
from anubis.local_runs import STATUS_CHOICE, close_runs, local_runs, run_document, since_option
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
    from controller.local.journaling import RunView

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
