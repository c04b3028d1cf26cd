"""Filling the journal's full-text index: lines go into ``log_lines`` and the FTS5 table in bulk, and
the chunks writers stored (:mod:`controller.journal.chunks`) are split into lines when a search needs
them.

Why lazily: SQLite indexes ~30k lines a second one row at a time (a trigger per insert) and ~300k a
second with one ``INSERT … SELECT`` per batch; a benchmark printing 100 MB has ~2.5 M lines. Storing
chunks while the run goes on costs a few inserts a second; the first search afterwards pays for the
split and the index, in bulk (bench/run_output.py prints both).
"""

from __future__ import annotations

import sqlite3

from controller.journal.chunks import split_chunk
from controller.journal.connection import JournalConnection


class JournalIndexing(JournalConnection):
    """How a :class:`~controller.journal.Journal` indexes the chunks it holds."""

    def index_pending(self, lines_per_transaction: int = 100_000) -> int:
        """Split the stored chunks into lines and index them, oldest first, a bounded batch per
        transaction (a writer storing chunks meanwhile waits for one batch at most). Returns how many
        lines were indexed. Readers see each line once throughout: in its chunk, then as a line."""
        done = 0
        while True:
            with self._transaction(write=True) as conn:
                chunks = conn.execute(
                    "SELECT id, execution, stream, first_line, lines, at, data FROM log_chunks ORDER BY id LIMIT ?",
                    (max(1, lines_per_transaction // 1000),),
                ).fetchall()
                if not chunks:
                    return done
                values: list[tuple[int, str, int, float, str]] = []
                last = chunks[0][0]
                for chunk_id, execution, stream, first_line, _, at, data in chunks:
                    values.extend((execution, stream, n, at, text) for n, text in split_chunk(data, first_line))
                    last = chunk_id
                    if len(values) >= lines_per_transaction:
                        break
                insert_indexed(conn, values)
                conn.execute("DELETE FROM log_chunks WHERE id <= ?", (last,))
                done += len(values)


def insert_indexed(conn: sqlite3.Connection, values: list[tuple[int, str, int, float, str]]) -> None:
    """Insert lines and index them in bulk: one ``INSERT … SELECT`` into the FTS table for the new
    rows (~10x the rate of a per-row trigger)."""
    if not values:
        return
    before = int(conn.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()[0])
    conn.executemany("INSERT INTO log_lines (execution, stream, line, at, text) VALUES (?, ?, ?, ?, ?)", values)
    conn.execute("INSERT INTO log_index (rowid, text) SELECT id, text FROM log_lines WHERE id > ?", (before,))
