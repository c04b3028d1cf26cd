"""Filling the journal's full-text index: the chunks writers stored (:mod:`controller.journal.chunks`)
are indexed in pieces, in bulk, when a search needs them.

Why then, and in pieces (bench/run_output.py measures each): SQLite's FTS5 indexes ~30k rows a second
one row at a time through a trigger, and a few µs a row in bulk whatever the row holds: a row per line
indexed ~130k lines a second, a row per 100 lines ~600k (25–30 MB/s of text on the bench machine).
A benchmark printing 100 MB has ~2.4 M lines. Indexing while the run goes on would take that CPU from
the run (on two cores the reader, the extraction and the compressor already share them); indexing at
its end would add it to the run. So the first search after a chatty run indexes what is waiting (a
few seconds per 100 MB), oldest first, in transactions of a bounded size: a search or a writer
meanwhile waits for one batch at most; a process killed mid-way loses no line (its batch is rolled
back, its chunks still wait, and the next search indexes them).
"""

from __future__ import annotations

import sqlite3

from controller.journal.chunks import chunk_pieces, piece_row
from controller.journal.connection import JournalConnection

#: Bytes of chunks indexed per transaction.
BATCH_BYTES = 8 * 1024 * 1024


class JournalIndexing(JournalConnection):
    """How a :class:`~controller.journal.Journal` indexes the chunks it holds."""

    def index_pending(self, batch_bytes: int = BATCH_BYTES) -> int:
        """Index the chunks waiting, oldest first, about ``batch_bytes`` per transaction. Returns how
        many lines were indexed."""
        done = 0
        while True:
            with self._transaction(write=True) as conn:
                indexed = index_batch(conn, batch_bytes)
            if indexed is None:
                return done
            done += indexed

    def waiting_chunks(self) -> int:
        """How many chunks wait to be indexed."""
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT count(*) FROM log_chunks WHERE indexed = 0").fetchone()[0])


def index_batch(conn: sqlite3.Connection, batch_bytes: int) -> int | None:
    """Index the oldest waiting chunks, at least one and about ``batch_bytes`` (in the caller's
    transaction); the number of lines indexed, ``None`` when none was waiting."""
    rows = conn.execute(
        "SELECT id, lines, length(data) FROM log_chunks WHERE indexed = 0 ORDER BY id LIMIT 1000"
    ).fetchall()
    if not rows:
        return None
    chosen: list[int] = []
    size = lines = 0
    for chunk_id, count, length in rows:
        if chosen and size + length > batch_bytes:
            break
        chosen.append(chunk_id)
        size += length
        lines += count
    for chunk_id in chosen:
        (data,) = conn.execute("SELECT data FROM log_chunks WHERE id = ?", (chunk_id,)).fetchone()
        conn.executemany(
            "INSERT INTO log_text (rowid, text) VALUES (?, ?)",
            ((piece_row(chunk_id, n), text) for n, text in enumerate(chunk_pieces(data))),
        )
    conn.executemany("UPDATE log_chunks SET indexed = 1 WHERE id = ?", ((c,) for c in chosen))
    return lines


def unindex_chunk(conn: sqlite3.Connection, chunk_id: int, data: bytes) -> None:
    """Take an indexed chunk's pieces out of the index (a contentless FTS5 table forgets a row when
    told the text it indexed: the pieces are made again from the chunk, as they were)."""
    conn.executemany(
        "INSERT INTO log_text (log_text, rowid, text) VALUES ('delete', ?, ?)",
        ((piece_row(chunk_id, n), text) for n, text in enumerate(chunk_pieces(data))),
    )
