"""What the journal holds and answers, as values: executions, transitions, log lines, search hits.

Each is a :class:`~typing.NamedTuple`, immutable as a frozen dataclass would be, and made for rows:
every command that reads the journal imports this module, and Python 3.11 builds a frozen
dataclass's methods from source at import (~0.6 ms a class against ~0.15 ms for a named tuple).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from schemas.status import RunStatus


class ExecutionInfo(NamedTuple):
    """Who an execution is: what a writer tells the journal with each transition."""

    execution_id: str
    run_id: str
    benchmark: str
    environment: str
    backend: str = "local"
    commit: str | None = None


class JournalEntry(NamedTuple):
    """An execution as the journal knows it: identity and latest status."""

    execution_id: str
    run_id: str
    benchmark: str
    environment: str
    backend: str
    commit: str | None
    started_at: float
    updated_at: float
    finished_at: float | None
    status: RunStatus
    reason: str


class Transition(NamedTuple):
    id: int  # increasing: a watcher asks for the transitions after the last one it saw
    execution_id: str
    status: RunStatus
    reason: str
    at: float


class LogRow(NamedTuple):
    """One line to index: ``line`` is 1-based within the execution's ``stream``."""

    execution_id: str
    stream: str
    line: int
    at: float
    text: str


class SearchHit(NamedTuple):
    execution_id: str
    run_id: str
    benchmark: str
    stream: str
    line: int
    at: float
    text: str


class SearchResult(NamedTuple):
    hits: list[SearchHit]
    query: str  # the FTS5 query that was run
    quoted: bool  # the input was not valid FTS5 and was searched for as plain words


ENTRY_COLUMNS = (
    'e.execution_id, e.run_id, e.benchmark, e.environment, e.backend, e."commit", '
    "e.started_at, e.updated_at, e.finished_at, e.status, e.reason"
)


def entry_from_row(row: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        execution_id=row[0],
        run_id=row[1],
        benchmark=row[2],
        environment=row[3],
        backend=row[4],
        commit=row[5],
        started_at=row[6],
        updated_at=row[7],
        finished_at=row[8],
        status=RunStatus(row[9]),
        reason=row[10],
    )
