"""``anubis status [RUN_ID] [--watch]``: a run's status history, each transition with its sentence.

``--watch`` follows the run until its final status and exits with a code a script can wait on:
:data:`WATCH_EXIT_CODES` (0 SUCCEEDED; 1 FAILED, ERROR, TIMED_OUT; 3 CANCELED; 2 when the run is not
found, as for every command).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from anubis.cluster_access import ClusterAccess, cluster_options, cluster_view
from anubis.local_runs import close_runs, local_runs, run_document
from anubis.presenting import (
    Cell,
    Console,
    Line,
    OutputFormat,
    emit_json,
    format_duration,
    format_time,
    make_console,
    output_option,
    print_fields,
    status_tone,
)
from anubis.settings import Settings
from controller.journal import Transition
from controller.local.journaling import LocalRuns, RunView
from schemas.errors import NotFoundError
from schemas.status import RunStatus

if TYPE_CHECKING:
    from controller.store import ResultStore
    from schemas.results import ResultRecord

WATCH_EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: 1,
    RunStatus.ERROR: 1,
    RunStatus.TIMED_OUT: 1,
    RunStatus.CANCELED: 3,
}
POLL_INTERVAL = 0.5

@click.command()
@click.argument("run_id", metavar="[RUN_ID]", required=False)
@click.option("--watch", "-w", is_flag=True, help="Follow the run until it ends; the exit code says how it ended.")
@cluster_options
@output_option
@click.pass_obj
def status(
    settings: Settings,
    run_id: str | None,
    watch: bool,
    access: ClusterAccess,
    output: OutputFormat,
) -> None:
    """Show the status history of RUN_ID (an execution id, a run id or the start of one; the latest
    run by default): every status it went through, when, and why.

    With --watch, follow it until its final status. Exit codes: 0 SUCCEEDED; 1 FAILED, ERROR or
    TIMED_OUT (also a run whose `anubis run` vanished); 3 CANCELED; 2 no such run.

    A cluster run (--cluster, or when no local run matches and a kubeconfig exists) is read from its
    Job or MPIJob and pods; a finished one also from the controller's result store (--store).
    """
    if access.asked:
        if run_id is None:
            raise click.UsageError("give the RUN_ID (a run id or an execution id) of the cluster run")
        final = _cluster(settings, run_id, watch, access, output)
        if watch:
            sys.exit(WATCH_EXIT_CODES.get(final, 1))
        return
    runs = local_runs(settings)
    try:
        try:
            view = runs.find(run_id)
        except NotFoundError as local_error:
            if run_id is None or not access.available:
                raise
            close_runs(runs)
            click.echo(f"{local_error} Looking for it on the cluster (kubeconfig).", err=True)
            try:
                final = _cluster(settings, run_id, watch, access, output)
            except NotFoundError as e:
                raise NotFoundError(f"{local_error} On the cluster: {e}") from e
            if watch:
                sys.exit(WATCH_EXIT_CODES.get(final, 1))
            return
        history = runs.journal.transitions(view.execution_id) if runs.journal is not None and view.journaled else []
        if output == "json":
            if watch:
                view, history = _follow(runs, view, history, None)
            emit_json(_document(view, history))
        else:
            console = make_console()
            _header(console, view)
            for previous, transition in zip([None, *history], history):
                _line(console, transition, previous)
            if not history:
                console.print(Line(_no_history(view), "dim"))
            if watch:
                view, history = _follow(runs, view, history, console)
    finally:
        close_runs(runs)
    if watch:
        sys.exit(WATCH_EXIT_CODES.get(view.status, 1))


def _cluster(settings: Settings, ref: str, watch: bool, access: ClusterAccess, output: OutputFormat) -> RunStatus:
    """Show (and with ``watch`` follow) a cluster run; its final or current status."""
    from controller.kubernetes.following import RunWatch, find_run
    from controller.store_location import close_store

    client = access.client()
    store = access.store(settings)
    try:
        try:
            run = find_run(client, ref, access.where(settings))
        except NotFoundError as not_on_cluster:
            record = _stored(store, ref)
            if record is None:
                raise
            view = LocalRuns.from_record(record)
            history = [Transition(1, view.execution_id, view.status, view.reason, view.finished_at or 0.0)]
            _show(view, history, output, note=f"{not_on_cluster}; its result is in the result store.")
            return view.status
        now = time.time()
        decision = run.decision(now)
        record = _stored(store, run.execution_id) if decision.final else None
        view = LocalRuns.from_record(record) if record is not None else cluster_view(run, decision.status, decision.reason)
        history = [Transition(1, view.execution_id, view.status, view.reason,
                              (view.finished_at if view.status.is_final and view.finished_at else now))]
        if not watch or decision.final:
            _show(view, history, output, note=_CLUSTER_NOTE)
            return view.status
        console = make_console() if output != "json" else None
        if console is not None:
            _show(view, history, output, note=_CLUSTER_NOTE)
        for at, seen, decision in RunWatch(client, run).transitions():
            transition = Transition(len(history) + 1, seen.execution_id, decision.status, decision.reason, at)
            if transition.status is history[-1].status:
                continue
            if console is not None:
                _line(console, transition, history[-1])
            history.append(transition)
            view = cluster_view(run, decision.status, decision.reason)
        if console is None:
            emit_json(_document(view, history))
        return view.status
    finally:
        close_store(store)


_CLUSTER_NOTE = "A cluster run: its current status, from its Job or MPIJob and pods (--watch follows it)."


def _stored(store: ResultStore | None, ref: str) -> ResultRecord | None:
    if store is None:
        return None
    try:
        return store.find(ref)
    except NotFoundError:
        return None


def _show(view: RunView, history: list[Transition], output: OutputFormat, *, note: str) -> None:
    if output == "json":
        emit_json(_document(view, history))
        return
    console = make_console()
    _header(console, view)
    for previous, transition in zip([None, *history], history):
        _line(console, transition, previous)
    console.print(Line(note, "dim"))


def _follow(
    runs: LocalRuns, view: RunView, history: list[Transition], console: Console | None
) -> tuple[RunView, list[Transition]]:
    """Poll the journal until the run is final; print each new transition when ``console`` is given."""
    history = list(history)
    while not view.status.is_final:
        time.sleep(POLL_INTERVAL)
        assert runs.journal is not None  # a run that is not final was found in the journal
        new = runs.journal.transitions(view.execution_id, after=history[-1].id if history else 0)
        for transition in new:
            if console is not None:
                _line(console, transition, history[-1] if history else None)
            history.append(transition)
        view = runs.view(runs.journal.get(view.execution_id))
        if view.status.is_final and (not history or history[-1].status is not view.status) and console is not None:
            console.print(Line(f"{format_time(time.time())}  {'':>8}  {view.status.value:<13}  {view.reason}", "bold red"))
    return view, history


def _header(console: Console, view: RunView) -> None:
    reason = f" — {view.reason}" if view.reason else ""
    print_fields(
        console,
        [
            ("execution", Cell(view.execution_id)),
            ("run", Cell(view.run_id)),
            ("benchmark", Cell(view.benchmark)),
            ("environment", Cell(f"{view.environment} ({view.backend})")),
            ("status", Cell(view.status.value + (" (running)" if view.active else "") + reason, status_tone(view.status))),
        ],
    )
    console.print()


def _line(console: Console, transition: Transition, previous: Transition | None) -> None:
    after = f"+{format_duration(transition.at - previous.at)}" if previous is not None else ""
    text = Line(f"{format_time(transition.at)}  {after:>8}  ")
    text.append(f"{transition.status.value:<13}", _style(transition.status))
    if transition.reason:
        text.append(f"  {transition.reason}")
    console.print(text, soft_wrap=True)


def _style(status: RunStatus) -> str:
    return {"good": "green", "bad": "bold red", "warn": "yellow"}.get(status_tone(status), "")


def _no_history(view: RunView) -> str:
    return (
        f"No status history was journaled for this run ({view.backend}); its result was recorded "
        f"{format_time(view.finished_at)}."
    )


def _document(view: RunView, history: list[Transition]) -> dict[str, Any]:
    document = run_document(view, time.time())
    document["final"] = view.status.is_final
    document["history"] = [{"status": t.status.value, "reason": t.reason, "at": t.at} for t in history]
    return document
