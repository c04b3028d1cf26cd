"""Reading the journal: executions (by id, run id or prefix, or filtered), their status histories,
and their indexed lines in order."""

from __future__ import annotations

from typing import Any

from controller.journal.chunks import chunk_lines, line_text
from controller.journal.connection import JournalConnection
from controller.journal.entries import (
    ENTRY_COLUMNS,
    JournalEntry,
    LogRow,
    Transition,
    entry_from_row,
)
from schemas.errors import NotFoundError
from schemas.status import FINAL_STATUSES, RunStatus

FINAL = tuple(sorted(s.value for s in FINAL_STATUSES))


class JournalReading(JournalConnection):
    """What a :class:`~controller.journal.Journal` reads."""

    def get(self, execution_id: str) -> JournalEntry:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id = ?", (execution_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The journal has no execution {execution_id!r}.")
        return entry_from_row(row)

    def find(self, ref: str) -> JournalEntry:
        """An execution id, a run id (its latest execution) or a unique prefix of either."""
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._transaction(write=False) as conn:
            exact = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id = ?", (ref,)
            ).fetchone() or conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM executions AS e WHERE e.run_id = ? "
                "ORDER BY e.started_at DESC, e.id DESC LIMIT 1",
                (ref,),
            ).fetchone()
            if exact is not None:
                return entry_from_row(exact)
            rows = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id LIKE ? ESCAPE '\\' "
                "OR e.run_id LIKE ? ESCAPE '\\' ORDER BY e.started_at DESC, e.id DESC LIMIT 200",
                (like, like),
            ).fetchall()
        entries = [entry_from_row(r) for r in rows]
        runs = {e.run_id for e in entries if e.run_id.startswith(ref)}
        if entries and len(runs) == 1 and all(e.run_id in runs for e in entries):
            return entries[0]  # the start of one run id: its latest execution
        if len(entries) == 1:
            return entries[0]
        if not entries:
            raise NotFoundError(
                f"The journal has no execution matching {ref!r} (an execution id, a run id, or the start "
                "of one). `anubis list` shows recent runs."
            )
        from controller.store import MAX_CANDIDATES_SHOWN  # the store's module: not needed to read

        names = sorted({e.execution_id for e in entries})
        shown = ", ".join(names[:MAX_CANDIDATES_SHOWN]) + (" …" if len(names) > MAX_CANDIDATES_SHOWN else "")
        raise NotFoundError(f"{ref!r} is ambiguous: it is the start of {shown}. Give more characters.")

    def latest(self) -> JournalEntry | None:
        found = self.executions(limit=1)
        return found[0] if found else None

    def executions(
        self,
        *,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        run_id: str | None = None,
        active: bool | None = None,
        limit: int = 50,
    ) -> list[JournalEntry]:
        """Executions, newest first. ``active=True``: only those whose latest status is not final."""
        where: list[str] = []
        args: list[Any] = []
        if benchmark is not None:
            where.append("e.benchmark = ?")
            args.append(benchmark)
        if status is not None:
            where.append("e.status = ?")
            args.append(RunStatus(status).value)
        if since is not None:
            where.append("e.started_at >= ?")
            args.append(since)
        if run_id is not None:
            where.append("e.run_id = ?")
            args.append(run_id)
        if active is not None:
            placeholders = ", ".join("?" for _ in FINAL)
            where.append(f"e.status {'NOT IN' if active else 'IN'} ({placeholders})")
            args.extend(FINAL)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM executions AS e {clause} ORDER BY e.started_at DESC, e.id DESC "
                "LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [entry_from_row(r) for r in rows]

    def transitions(self, execution_id: str, *, after: int = 0) -> list[Transition]:
        """The status history of an execution, oldest first (those after transition id ``after``)."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT t.id, e.execution_id, t.status, t.reason, t.at FROM transitions AS t "
                "JOIN executions AS e ON e.id = t.execution WHERE e.execution_id = ? AND t.id > ? ORDER BY t.id",
                (execution_id, after),
            ).fetchall()
        return [Transition(r[0], r[1], RunStatus(r[2]), r[3], r[4]) for r in rows]

    # -- lines ---------------------------------------------------------------------------------

    def streams(self, execution_id: str) -> list[str]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT DISTINCT c.stream FROM log_chunks AS c JOIN executions AS e ON e.id = c.execution "
                "WHERE e.execution_id = ? ORDER BY 1",
                (execution_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def lines(self, execution_id: str, stream: str, *, after: int = 0, limit: int = 1000) -> list[LogRow]:
        """Lines of one stream with numbers above ``after``, in order (a page of ``limit``), read
        from the chunks that hold them."""
        found: list[LogRow] = []
        with self._transaction(write=False) as conn:
            chunks = conn.execute(
                "SELECT c.first_line, c.at, c.data FROM log_chunks AS c JOIN executions AS e ON e.id = c.execution "
                "WHERE e.execution_id = ? AND c.stream = ? AND c.first_line + c.lines - 1 > ? ORDER BY c.first_line",
                (execution_id, stream, after),
            )
            try:
                last = after
                for first_line, at, data in chunks:
                    skip = max(0, last - first_line + 1)
                    for offset, line in enumerate(chunk_lines(data)[skip : skip + limit - len(found)]):
                        found.append(LogRow(execution_id, stream, first_line + skip + offset, at, line_text(line)))
                    if len(found) >= limit:
                        break
                    last = found[-1].line if found else last
            finally:
                chunks.close()
        return found

    def count_lines(self) -> int:
        """Lines in the journal."""
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT coalesce(sum(lines), 0) FROM log_chunks").fetchone()[0])
