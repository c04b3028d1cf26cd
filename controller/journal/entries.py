"""What the journal holds and answers, as values: executions, transitions, log lines, search hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.status import RunStatus


@dataclass(frozen=True)
class ExecutionInfo:
    """Who an execution is: what a writer tells the journal with each transition."""

    execution_id: str
    run_id: str
    benchmark: str
    environment: str
    backend: str = "local"
    commit: str | None = None


@dataclass(frozen=True)
class JournalEntry:
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


@dataclass(frozen=True)
class Transition:
    id: int  # increasing: a watcher asks for the transitions after the last one it saw
    execution_id: str
    status: RunStatus
    reason: str
    at: float


@dataclass(frozen=True)
class LogRow:
    """One line to index: ``line`` is 1-based within the execution's ``stream``."""

    execution_id: str
    stream: str
    line: int
    at: float
    text: str


@dataclass(frozen=True)
class SearchHit:
    execution_id: str
    run_id: str
    benchmark: str
    stream: str
    line: int
    at: float
    text: str


@dataclass(frozen=True)
class SearchResult:
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
