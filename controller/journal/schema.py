"""The journal's file and tables, and the migrations that bring an older journal up to date.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists the steps, applied in
order when the journal is opened, each in its own write transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.lazy_logging import ModuleLogger
from controller.sqlite_files import open_connection
from schemas.errors import StoreError

log = ModuleLogger(__name__)  # logging imported on the first message

JOURNAL_FILE = "journal.sqlite3"
#: Seconds a writer waits for another one before giving up.
BUSY_TIMEOUT_S = 60.0

Migration = Callable[[sqlite3.Connection], None]

def journal_path(data_dir: Path) -> Path:
    return data_dir / JOURNAL_FILE


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE executions (
            id           INTEGER PRIMARY KEY,
            execution_id TEXT NOT NULL UNIQUE,
            run_id       TEXT NOT NULL,
            benchmark    TEXT NOT NULL,
            environment  TEXT NOT NULL,
            backend      TEXT NOT NULL,
            "commit"     TEXT,
            started_at   REAL NOT NULL,   -- when the journal first heard of it
            updated_at   REAL NOT NULL,   -- its latest transition
            finished_at  REAL,            -- its final transition
            status       TEXT NOT NULL,   -- its latest status
            reason       TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX executions_by_run ON executions (run_id, started_at)")
    conn.execute("CREATE INDEX executions_by_benchmark ON executions (benchmark, started_at)")
    conn.execute("CREATE INDEX executions_by_time ON executions (started_at)")
    conn.execute(
        """
        CREATE TABLE transitions (
            id        INTEGER PRIMARY KEY,
            execution INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
            status    TEXT NOT NULL,
            reason    TEXT NOT NULL,
            at        REAL NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX transitions_by_execution ON transitions (execution, id)")
    conn.execute(
        """
        CREATE TABLE log_lines (
            id        INTEGER PRIMARY KEY,
            execution INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
            stream    TEXT NOT NULL,
            line      INTEGER NOT NULL,
            at        REAL NOT NULL,
            text      TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX log_lines_by_execution ON log_lines (execution, stream, line)")
    conn.execute(
        "CREATE VIRTUAL TABLE log_index USING fts5(text, content='log_lines', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "CREATE TRIGGER log_lines_indexed AFTER INSERT ON log_lines BEGIN "
        "INSERT INTO log_index (rowid, text) VALUES (new.id, new.text); END"
    )
    conn.execute(
        "CREATE TRIGGER log_lines_unindexed AFTER DELETE ON log_lines BEGIN "
        "INSERT INTO log_index (log_index, rowid, text) VALUES ('delete', old.id, old.text); END"
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Output arrives as chunks of whole lines (``log_chunks``: one row per stream per flush, a few a
    second whatever the benchmark prints) and is split into ``log_lines`` and indexed later, in bulk
    (:meth:`~controller.journal.writing.JournalWriting.index_pending`). The per-row trigger goes: the
    index is filled with one ``INSERT … SELECT`` per batch, ten times faster (bench/run_output.py)."""
    conn.execute("DROP TRIGGER log_lines_indexed")
    conn.execute(
        """
        CREATE TABLE log_chunks (
            id         INTEGER PRIMARY KEY,
            execution  INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
            stream     TEXT NOT NULL,
            first_line INTEGER NOT NULL,  -- the number of its first line (1-based, per stream)
            lines      INTEGER NOT NULL,  -- how many lines it holds
            at         REAL NOT NULL,     -- when its lines arrived
            data       BLOB NOT NULL      -- the lines, each ending with a newline but maybe the last
        )
        """
    )
    conn.execute("CREATE INDEX log_chunks_by_execution ON log_chunks (execution, stream, first_line)")


TOKENIZER = "unicode61 remove_diacritics 2"


def _v3(conn: sqlite3.Connection) -> None:
    """Chunks are kept (lines are read from them, never copied into ``log_lines``) and indexed in
    pieces (:mod:`controller.journal.chunks`): ``log_text``, a contentless FTS5 table, one row per
    piece of :data:`~controller.journal.chunks.PIECE_LINES` lines; ``indexed`` marks the chunks whose
    pieces it holds. The lines version 2 had indexed one by one become chunks again (consecutive
    lines of a stream that arrived at one time), in the order they were indexed, before the chunks
    still waiting (renumbered in that order: a chunk's id says how new it is); they are indexed again
    by the next search."""
    conn.execute(
        """
        CREATE TABLE log_chunks_v3 (
            id         INTEGER PRIMARY KEY,
            execution  INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
            stream     TEXT NOT NULL,
            first_line INTEGER NOT NULL,  -- the number of its first line (1-based, per stream)
            lines      INTEGER NOT NULL,  -- how many lines it holds
            at         REAL NOT NULL,     -- when its lines arrived
            data       BLOB NOT NULL,     -- the lines, each ending with a newline but maybe the last
            indexed    INTEGER NOT NULL DEFAULT 0  -- 1 once log_text holds its pieces
        )
        """
    )
    group: list[Any] = []  # execution, stream, first line, count, at, texts

    def store() -> None:
        if group:
            data = "".join(text + "\n" for text in group[5]).encode("utf-8")
            conn.execute(
                "INSERT INTO log_chunks_v3 (execution, stream, first_line, lines, at, data) VALUES (?, ?, ?, ?, ?, ?)",
                (group[0], group[1], group[2], group[3], group[4], data),
            )

    for execution, stream, line, at, text in conn.execute(  # read as it goes: constant memory
        "SELECT execution, stream, line, at, text FROM log_lines ORDER BY id"
    ):
        if group and (group[0], group[1], group[4]) == (execution, stream, at) and group[2] + group[3] == line:
            group[3] += 1
            group[5].append(text)
            continue
        store()
        group = [execution, stream, line, 1, at, [text]]
    store()
    conn.execute(
        "INSERT INTO log_chunks_v3 (execution, stream, first_line, lines, at, data) "
        "SELECT execution, stream, first_line, lines, at, data FROM log_chunks ORDER BY id"
    )
    conn.execute("DROP TRIGGER log_lines_unindexed")
    conn.execute("DROP TABLE log_index")
    conn.execute("DROP TABLE log_lines")
    conn.execute("DROP TABLE log_chunks")
    conn.execute("ALTER TABLE log_chunks_v3 RENAME TO log_chunks")
    conn.execute("CREATE INDEX log_chunks_by_execution ON log_chunks (execution, stream, first_line)")
    conn.execute("CREATE INDEX log_chunks_waiting ON log_chunks (id) WHERE indexed = 0")
    conn.execute(f"CREATE VIRTUAL TABLE log_text USING fts5(text, content='', tokenize='{TOKENIZER}')")
    # merged 64 segments at a time when a level fills, not a few at every commit: a third less CPU
    # to index a run's lines in bulk; a search looks a word up in at most 64 segments a level
    conn.execute("INSERT INTO log_text (log_text, rank) VALUES ('automerge', 0)")
    conn.execute("INSERT INTO log_text (log_text, rank) VALUES ('crisismerge', 64)")


#: Step ``i`` brings a journal from version ``i`` to ``i + 1``. Append, never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, waiting up to :data:`BUSY_TIMEOUT_S` for locks."""
    return open_connection(path, BUSY_TIMEOUT_S, "journal")


def migrate(conn: sqlite3.Connection) -> None:
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The journal has schema version {version}, newer than this Anubis knows "
                    f"({SCHEMA_VERSION}); upgrade Anubis to read it."
                )
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
            log.info("journal upgraded to schema version %d", version + 1)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
