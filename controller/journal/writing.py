"""Writing the journal: status transitions as they happen, log lines as chunks (indexed later, in
bulk: :mod:`controller.journal.indexing`), and purging."""

from __future__ import annotations

from collections.abc import Sequence

from controller.journal.connection import JournalConnection
from controller.journal.entries import ExecutionInfo, LogRow
from controller.journal.indexing import unindex_chunk
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
        """Store ``rows`` in one transaction, as chunks (consecutive lines of one stream that arrived
        at one time share one); rows of executions the journal does not know are skipped. Returns how
        many were added."""
        groups: list[list[LogRow]] = []
        for row in rows:
            last = groups[-1][-1] if groups else None
            if last is not None and (last.execution_id, last.stream, last.at, last.line + 1) == (
                row.execution_id, row.stream, row.at, row.line
            ):
                groups[-1].append(row)
            else:
                groups.append([row])
        added = 0
        with self._transaction(write=True) as conn:
            for group in groups:
                key = self._key(conn, group[0].execution_id, missing_ok=True)
                if key is None:
                    continue
                conn.execute(
                    "INSERT INTO log_chunks (execution, stream, first_line, lines, at, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, group[0].stream, group[0].line, len(group), group[0].at,
                     "".join(row.text.replace("\n", " ") + "\n" for row in group).encode("utf-8")),
                )
                added += len(group)
        return added

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

    def add_chunks(self, chunks: Sequence[tuple[str, str, int, int, float, bytes]]) -> int:
        """Store several chunks, ``(execution id, stream, first line, lines, at, data)`` each as
        :meth:`add_chunk` takes them, in one transaction; returns how many lines were stored."""
        stored = 0
        with self._transaction(write=True) as conn:
            for execution_id, stream, first_line, lines, at, data in chunks:
                key = self._key(conn, execution_id, missing_ok=True)
                if key is None or lines <= 0:
                    continue
                conn.execute(
                    "INSERT INTO log_chunks (execution, stream, first_line, lines, at, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, stream, first_line, lines, at, data),
                )
                stored += lines
        return stored

    def purge(self, execution_id: str) -> bool:
        """Remove an execution's history and indexed lines; ``False`` if the journal had none."""
        with self._transaction(write=True) as conn:
            key = self._key(conn, execution_id, missing_ok=True)
            if key is None:
                return False
            for chunk_id, data in conn.execute(
                "SELECT id, data FROM log_chunks WHERE execution = ? AND indexed = 1", (key,)
            ).fetchall():
                unindex_chunk(conn, chunk_id, data)
            conn.execute("DELETE FROM log_chunks WHERE execution = ?", (key,))
            conn.execute("DELETE FROM transitions WHERE execution = ?", (key,))
            conn.execute("DELETE FROM executions WHERE id = ?", (key,))
        self._keys.pop(execution_id, None)
        return True

    def optimize(self) -> None:
        """Merge the index's segments (worth it after a large import; searches work without it)."""
        with self._transaction(write=True) as conn:
            conn.execute("INSERT INTO log_text (log_text) VALUES ('optimize')")

