"""``anubis status [RUN_ID] [--watch]``: a run's status history, each transition with its sentence.

``--watch`` follows the run until its final status and exits with a code a script can wait on:
:data:`WATCH_EXIT_CODES` (0 SUCCEEDED; 1 FAILED, ERROR, TIMED_OUT; 3 CANCELED; 2 when the run is not
found, as for every command).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from anubis.commands.list_runs import close_runs, local_runs, run_document
from anubis.presenting import (
    Cell,
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
from schemas.errors import BackendError
from schemas.status import RunStatus

WATCH_EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: 1,
    RunStatus.ERROR: 1,
    RunStatus.TIMED_OUT: 1,
    RunStatus.CANCELED: 3,
}
POLL_INTERVAL = 0.5

CLUSTER_UNAVAILABLE = (
    "reading a cluster run's status from Kubernetes is not in this build: the cluster controller records "
    "each run's result in the environment's result store, where `anubis list` and `anubis results` find it "
    "once it is final; follow a run in progress with `kubectl get jobs,pods -l anubis.dev/run-id=<run id>`"
)


@click.command()
@click.argument("run_id", metavar="[RUN_ID]", required=False)
@click.option("--watch", "-w", is_flag=True, help="Follow the run until it ends; the exit code says how it ended.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Read a cluster run from this cluster.")
@click.option("--cluster", "context", default=None, help="The kubeconfig context of the cluster to read.")
@output_option
@click.pass_obj
def status(
    settings: Settings,
    run_id: str | None,
    watch: bool,
    kubeconfig: str | None,
    context: str | None,
    output: OutputFormat,
) -> None:
    """Show the status history of RUN_ID (an execution id, a run id or the start of one; the latest
    run by default): every status it went through, when, and why.

    With --watch, follow it until its final status. Exit codes: 0 SUCCEEDED; 1 FAILED, ERROR or
    TIMED_OUT (also a run whose `anubis run` vanished); 3 CANCELED; 2 no such run.
    """
    if kubeconfig is not None or context is not None:
        raise BackendError(CLUSTER_UNAVAILABLE)
    runs = local_runs(settings)
    try:
        view = runs.find(run_id)
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
                console.print(Text(_no_history(view), style="dim"))
            if watch:
                view, history = _follow(runs, view, history, console)
    finally:
        close_runs(runs)
    if watch:
        sys.exit(WATCH_EXIT_CODES.get(view.status, 1))


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
            console.print(Text(f"{format_time(time.time())}  {'':>8}  {view.status.value:<13}  {view.reason}", style="bold red"))
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
    text = Text(f"{format_time(transition.at)}  {after:>8}  ")
    text.append(f"{transition.status.value:<13}", style=_style(transition.status))
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
