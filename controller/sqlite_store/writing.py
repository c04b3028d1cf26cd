"""Writing the result store: a finished record (once per execution), and baseline resets."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controller.lazy_logging import ModuleLogger
from controller.sqlite_store.connection import StoreConnection
from controller.sqlite_store.rows import insert_metrics, record_text
from controller.store import BaselineReset, canonical_matrix_point, record_time

if TYPE_CHECKING:  # a type only: the reading commands list and find runs without the record's classes
    from schemas.results import ResultRecord

log = ModuleLogger(__name__)  # logging imported on the first message


class StoreWriting(StoreConnection):
    """What a :class:`~controller.sqlite_store.SqliteResultStore` writes."""

    def put(self, record: ResultRecord) -> bool:
        return self.put_many([record])[0]

    def put_many(self, records: Sequence[ResultRecord]) -> list[bool]:
        """:meth:`put` of each record, in one transaction (one commit for a burst of finished runs)."""
        stored_at = self._clock()
        texts = [record_text(record) for record in records]
        with self._transaction(write=True) as conn:
            return [self._insert(conn, record, text, stored_at) for record, text in zip(records, texts, strict=True)]

    @staticmethod
    def _insert(conn: sqlite3.Connection, record: ResultRecord, text: str, stored_at: float) -> bool:
        cursor = conn.execute(
            """
            INSERT INTO runs (execution_id, run_id, family_id, benchmark, environment, backend,
                              status, started_at, finished_at, sort_time, stored_at, repository,
                              branch, "commit", pull_request, matrix_point, record)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (execution_id) DO NOTHING
            """,
            (
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
            ),
        )
        if cursor.rowcount != 1:
            log.debug("execution %s is already stored; not stored again", record.execution_id)
            return False
        insert_metrics(conn, record.execution_id, record)
        log.debug("stored execution %s of run %s", record.execution_id, record.run_id)
        return True

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
