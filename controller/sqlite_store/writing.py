"""Writing the result store: a finished record (once per execution), and baseline resets."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controller.lazy_logging import ModuleLogger
from controller.sqlite_store.connection import StoreConnection
from controller.sqlite_store.rows import METRICS_INSERT, SAMPLES_INSERT, metric_rows, record_text
from controller.store import BaselineReset, canonical_matrix_point, record_time

if TYPE_CHECKING:  # a type only: the reading commands list and find runs without the record's classes
    from schemas.results import ResultRecord

log = ModuleLogger(__name__)  # logging imported on the first message

RUNS_INSERT = (
    "INSERT INTO runs (execution_id, run_id, family_id, benchmark, environment, backend, status, started_at, "
    'finished_at, sort_time, stored_at, repository, branch, "commit", pull_request, matrix_point, record) VALUES '
)
MAX_VARIABLES = 999
"""Bound parameters of one statement at most: SQLite's limit before 3.32 (32,766 since)."""


def _stored_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` the store holds (one statement; a batch is at most a few hundred)."""
    found: set[str] = set()
    for first in range(0, len(ids), MAX_VARIABLES):
        part = ids[first : first + MAX_VARIABLES]
        marks = ",".join("?" * len(part))
        found.update(row[0] for row in conn.execute(f"SELECT execution_id FROM runs WHERE execution_id IN ({marks})", part))
    return found


def _insert_rows(conn: sqlite3.Connection, insert: str, rows: list[tuple[object, ...]]) -> None:
    """``insert`` (``INSERT INTO t (...) VALUES``) of every row, in as few statements as may be."""
    if not rows:
        return
    per_statement = max(1, MAX_VARIABLES // len(rows[0]))
    for first in range(0, len(rows), per_statement):
        part = rows[first : first + per_statement]
        one = "(" + ",".join("?" * len(part[0])) + ")"
        conn.execute(insert + ",".join([one] * len(part)), [value for row in part for value in row])


def _run_row(record: ResultRecord, text: str, stored_at: float) -> tuple[object, ...]:
    return (
        record.execution_id,
        record.run_id,
        record.family_id,
        record.benchmark,
        record.environment,
        record.backend,
        record.status.value,
        record.started_at,
        record.finished_at,
        record_time(record, stored_at),
        stored_at,
        record.repository,
        record.branch,
        record.commit,
        record.pull_request,
        canonical_matrix_point(record.matrix_point),
        text,
    )


class StoreWriting(StoreConnection):
    """What a :class:`~controller.sqlite_store.SqliteResultStore` writes."""

    def put(self, record: ResultRecord) -> bool:
        return self.put_many([record])[0]

    def put_many(self, records: Sequence[ResultRecord]) -> list[bool]:
        """:meth:`put` of each record, in one transaction (one commit for a burst of finished runs).

        One statement per table for the whole batch (the ids already stored, then the new runs,
        their metrics and their samples, each a multi-row ``INSERT``), not one per row: Python's
        sqlite3 gives up the GIL around every statement's step, and in a burst of completions each
        give-up was a wait to take it back from the other workers while the batch held the store's
        lock (a batch of 5 records of 2 metrics: 27 statements before, 6 now)."""
        stored_at = self._clock()
        texts = [record_text(record) for record in records]
        with self._transaction(write=True) as conn:
            seen = _stored_ids(conn, [record.execution_id for record in records])
            answers: list[bool] = []
            runs: list[tuple[object, ...]] = []
            metrics: list[tuple[object, ...]] = []
            samples: list[tuple[object, ...]] = []
            for record, text in zip(records, texts, strict=True):
                if record.execution_id in seen:
                    log.debug("execution %s is already stored; not stored again", record.execution_id)
                    answers.append(False)
                    continue
                seen.add(record.execution_id)
                answers.append(True)
                runs.append(_run_row(record, text, stored_at))
                for row, sample in metric_rows(record.execution_id, record):
                    metrics.append(row)
                    samples.append(sample)
            _insert_rows(conn, RUNS_INSERT, runs)
            _insert_rows(conn, METRICS_INSERT, metrics)
            _insert_rows(conn, SAMPLES_INSERT, samples)
        for record, stored in zip(records, answers, strict=True):
            if stored:
                log.debug("stored execution %s of run %s", record.execution_id, record.run_id)
        return answers

    def add_reset(self, reset: BaselineReset) -> BaselineReset:
        """Record a baseline reset (see :class:`~controller.store.ResetStore`)."""
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO baseline_resets (benchmark, metric, environment, at, by, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (reset.benchmark, reset.metric, reset.environment, reset.at, reset.by, reset.reason),
            )
        log.info("baseline of %s reset by %s: %s", reset.benchmark, reset.by, reset.reason)
        return BaselineReset(
            benchmark=reset.benchmark,
            at=reset.at,
            by=reset.by,
            reason=reset.reason,
            metric=reset.metric,
            environment=reset.environment,
            id=cursor.lastrowid,
        )
