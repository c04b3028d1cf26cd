"""Writing the journal: status transitions as they happen, log lines in batches or as chunks (split
and indexed later, in bulk), and purging."""

from __future__ import annotations

from collections.abc import Sequence

from controller.journal.connection import JournalConnection
from controller.journal.entries import ExecutionInfo, LogRow
from controller.journal.indexing import insert_indexed
from schemas.status import RunStatus


class JournalWriting(JournalConnection):
    """What a :class:`~controller.journal.Journal` writes. Writes take the lock up front (``BEGIN
    IMMEDIATE``), so a writer waits its turn rather than failing."""

    def record_transition(
        self, info: ExecutionInfo, status: RunStatus, reason: str = "", at: float | None = None
    ) -> None:
        """Add ``status`` to the history of ``info.execution_id`` (creating its row on first use)."""
        when = self._clock() if at is None else at
        status = RunStatus(status)
        finished = when if status.is_final else None
        with self._transaction(write=True) as conn:
            conn.execute(
                """
                INSERT INTO executions (execution_id, run_id, benchmark, environment, backend, "commit",
                                        started_at, updated_at, finished_at, status, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (execution_id) DO UPDATE SET
                    updated_at = excluded.updated_at, finished_at = excluded.finished_at,
                    status = excluded.status, reason = excluded.reason,
                    "commit" = coalesce(excluded."commit", "commit")
                """,
                (
                    info.execution_id, info.run_id, info.benchmark, info.environment, info.backend,
                    info.commit, when, when, finished, status.value, reason,
                ),
            )
            key = self._key(conn, info.execution_id)
            conn.execute(
                "INSERT INTO transitions (execution, status, reason, at) VALUES (?, ?, ?, ?)",
                (key, status.value, reason, when),
            )

    def add_lines(self, rows: Sequence[LogRow]) -> int:
        """Index ``rows`` in one transaction; rows of executions the journal does not know are
        skipped. Returns how many were added."""
        if not rows:
            return 0
        with self._transaction(write=True) as conn:
            values = []
            for row in rows:
                key = self._key(conn, row.execution_id, missing_ok=True)
                if key is not None:
                    values.append((key, row.stream, row.line, row.at, row.text))
            insert_indexed(conn, values)
        return len(values)

    def add_chunk(self, execution_id: str, stream: str, first_line: int, lines: int, at: float, data: bytes) -> bool:
        """Store ``lines`` lines of ``stream`` numbered from ``first_line`` as one chunk (see
        :mod:`controller.journal.chunks`); ``False`` when the journal does not know the execution."""
        if lines <= 0:
            return False
        with self._transaction(write=True) as conn:
            key = self._key(conn, execution_id, missing_ok=True)
            if key is None:
                return False
            conn.execute(
                "INSERT INTO log_chunks (execution, stream, first_line, lines, at, data) VALUES (?, ?, ?, ?, ?, ?)",
                (key, stream, first_line, lines, at, data),
            )
        return True

    def purge(self, execution_id: str) -> bool:
        """Remove an execution's history and indexed lines; ``False`` if the journal had none."""
        with self._transaction(write=True) as conn:
            key = self._key(conn, execution_id, missing_ok=True)
            if key is None:
                return False
            conn.execute("DELETE FROM log_chunks WHERE execution = ?", (key,))
            conn.execute("DELETE FROM log_lines WHERE execution = ?", (key,))
            conn.execute("DELETE FROM transitions WHERE execution = ?", (key,))
            conn.execute("DELETE FROM executions WHERE id = ?", (key,))
        self._keys.pop(execution_id, None)
        return True

    def optimize(self) -> None:
        """Merge the index's segments (worth it after a large import; searches work without it)."""
        with self._transaction(write=True) as conn:
            conn.execute("INSERT INTO log_index (log_index) VALUES ('optimize')")

