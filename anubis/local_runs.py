"""This machine's runs as the follow-up commands read them (``list``, ``status``, ``logs``, ``search``,
``purge``): the journal, registry and store opened without creating anything, the ``--since`` option,
and a run's JSON document."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anubis.settings import Settings
from schemas.status import RunStatus

if TYPE_CHECKING:  # the controller's modules are imported where used: `anubis search` imports this one
    from controller.local.journaling import LocalRuns, RunView


F = TypeVar("F", bound=Callable[..., Any])

_AGO = r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$"  # compiled (and cached by re) when --since is given
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``3d``, ``1w`` ago, or an ISO date or time (``2024-05-01``,
    ``2024-05-01T12:00``; UTC unless it says otherwise) → unix seconds."""
    current = time.time() if now is None else now
    match = re.match(_AGO, text, re.IGNORECASE)
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
