"""The journal: what happened to every execution, and a full-text index of what it printed.

One SQLite file, ``<data_dir>/journal.sqlite3``, beside the result store but separate from it (the
store keeps one finished record per execution; the journal is written *while* an execution runs):

* ``executions`` — one row per execution: its identity (execution id, run id, benchmark,
  environment, backend, source commit) and its latest status, reason and times;
* ``transitions`` — the status history: every status an execution went through, with its sentence
  (why it is pending, which container failed and how) and the time;
* ``log_lines`` — every line of output, by execution, stream (``output``, ``server``, or a cluster's
  ``pod/container``) and line number (1-based, counted as the kept log counts them), with the time it
  arrived;
* ``log_index`` — an FTS5 index over ``log_lines.text`` (an *external content* table: the text is
  kept once, in ``log_lines``; triggers keep the index in step on insert and delete).

A search asks ``log_index`` (``MATCH``) and joins the few rows it returns; it never scans the lines.
Writers insert lines in batches (:meth:`Journal.add_lines`, one transaction per batch). Several
processes use the file at once (``anubis run`` writing, ``anubis status --watch`` and ``anubis logs
--follow`` reading): WAL mode, ``BEGIN IMMEDIATE`` for writes and a busy timeout, as the result store.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists the steps, applied
in order when the journal is opened.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from controller.store import MAX_CANDIDATES_SHOWN
from schemas.errors import NotFoundError, StoreError
from schemas.status import FINAL_STATUSES, RunStatus

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.sqlite3"
#: Seconds a writer waits for another one before giving up.
BUSY_TIMEOUT_S = 60.0

Migration = Callable[[sqlite3.Connection], None]

_FINAL = tuple(sorted(s.value for s in FINAL_STATUSES))


def journal_path(data_dir: Path) -> Path:
    return data_dir / JOURNAL_FILE


# -- schema ---------------------------------------------------------------------------------------


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


#: Step ``i`` brings a journal from version ``i`` to ``i + 1``. Append, never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("journal %s runs in journal mode %s, not WAL", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
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


# -- values ---------------------------------------------------------------------------------------


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


_ENTRY_COLUMNS = (
    'e.execution_id, e.run_id, e.benchmark, e.environment, e.backend, e."commit", '
    "e.started_at, e.updated_at, e.finished_at, e.status, e.reason"
)


def _entry(row: Sequence[Any]) -> JournalEntry:
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


def quote_query(text: str) -> str:
    """``text`` as FTS5 phrases, one per whitespace-separated word: every word must appear,
    whatever characters it holds (``"out-of-memory" "rc=137"``)."""
    words = text.split()
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


_FTS_ERROR = re.compile(r"fts5|syntax error|no such column|unterminated|unknown special query", re.IGNORECASE)


# -- the journal ----------------------------------------------------------------------------------


class Journal:
    """The journal file at ``path`` (created, with its folder). Thread-safe; use it as a context
    manager or call :meth:`close`."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._keys: dict[str, int] = {}
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except (OSError, sqlite3.Error) as e:
            self.close()
            raise StoreError(
                f"Cannot open the journal {self.path}: {e}. Check that the file is an Anubis journal and "
                "that this user may write it (removing it loses only status histories and the log index)."
            ) from e

    def _open(self) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.01
        while True:
            try:
                self._conn = _connect(self.path)
                _migrate(self._conn)
                return
            except sqlite3.OperationalError as e:
                self.close()
                if not ("locked" in str(e) or "busy" in str(e)) or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"The journal {self.path} is closed; open it again to use it.")
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise StoreError(
                    f"The journal {self.path} could not be {'written' if write else 'read'}: {e}."
                ) from e

    # -- writing -------------------------------------------------------------------------------

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
            conn.executemany(
                "INSERT INTO log_lines (execution, stream, line, at, text) VALUES (?, ?, ?, ?, ?)", values
            )
        return len(values)

    def purge(self, execution_id: str) -> bool:
        """Remove an execution's history and indexed lines; ``False`` if the journal had none."""
        with self._transaction(write=True) as conn:
            key = self._key(conn, execution_id, missing_ok=True)
            if key is None:
                return False
            conn.execute("DELETE FROM log_lines WHERE execution = ?", (key,))
            conn.execute("DELETE FROM transitions WHERE execution = ?", (key,))
            conn.execute("DELETE FROM executions WHERE id = ?", (key,))
        self._keys.pop(execution_id, None)
        return True

    def optimize(self) -> None:
        """Merge the index's segments (worth it after a large import; searches work without it)."""
        with self._transaction(write=True) as conn:
            conn.execute("INSERT INTO log_index (log_index) VALUES ('optimize')")

    def _key(self, conn: sqlite3.Connection, execution_id: str, *, missing_ok: bool = False) -> int | None:
        key = self._keys.get(execution_id)
        if key is None:
            row = conn.execute("SELECT id FROM executions WHERE execution_id = ?", (execution_id,)).fetchone()
            if row is None:
                if missing_ok:
                    return None
                raise NotFoundError(f"The journal has no execution {execution_id!r}.")
            key = int(row[0])
            self._keys[execution_id] = key
        return key

    # -- reading executions --------------------------------------------------------------------

    def get(self, execution_id: str) -> JournalEntry:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id = ?", (execution_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The journal has no execution {execution_id!r}.")
        return _entry(row)

    def find(self, ref: str) -> JournalEntry:
        """An execution id, a run id (its latest execution) or a unique prefix of either."""
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._transaction(write=False) as conn:
            exact = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id = ?", (ref,)
            ).fetchone() or conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM executions AS e WHERE e.run_id = ? "
                "ORDER BY e.started_at DESC, e.id DESC LIMIT 1",
                (ref,),
            ).fetchone()
            if exact is not None:
                return _entry(exact)
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM executions AS e WHERE e.execution_id LIKE ? ESCAPE '\\' "
                "OR e.run_id LIKE ? ESCAPE '\\' ORDER BY e.started_at DESC, e.id DESC LIMIT 200",
                (like, like),
            ).fetchall()
        entries = [_entry(r) for r in rows]
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
            placeholders = ", ".join("?" for _ in _FINAL)
            where.append(f"e.status {'NOT IN' if active else 'IN'} ({placeholders})")
            args.extend(_FINAL)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM executions AS e {clause} ORDER BY e.started_at DESC, e.id DESC "
                "LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_entry(r) for r in rows]

    def transitions(self, execution_id: str, *, after: int = 0) -> list[Transition]:
        """The status history of an execution, oldest first (those after transition id ``after``)."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT t.id, e.execution_id, t.status, t.reason, t.at FROM transitions AS t "
                "JOIN executions AS e ON e.id = t.execution WHERE e.execution_id = ? AND t.id > ? ORDER BY t.id",
                (execution_id, after),
            ).fetchall()
        return [Transition(r[0], r[1], RunStatus(r[2]), r[3], r[4]) for r in rows]

    # -- reading lines -------------------------------------------------------------------------

    def streams(self, execution_id: str) -> list[str]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT DISTINCT l.stream FROM log_lines AS l JOIN executions AS e ON e.id = l.execution "
                "WHERE e.execution_id = ? ORDER BY l.stream",
                (execution_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def lines(self, execution_id: str, stream: str, *, after: int = 0, limit: int = 1000) -> list[LogRow]:
        """Indexed lines of one stream with numbers above ``after``, in order (a page of ``limit``)."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT l.line, l.at, l.text FROM log_lines AS l JOIN executions AS e ON e.id = l.execution "
                "WHERE e.execution_id = ? AND l.stream = ? AND l.line > ? ORDER BY l.line LIMIT ?",
                (execution_id, stream, after, limit),
            ).fetchall()
        return [LogRow(execution_id, stream, r[0], r[1], r[2]) for r in rows]

    # -- search --------------------------------------------------------------------------------

    def _search_sql(
        self, *, benchmark: str | None, run: str | None, since: float | None
    ) -> tuple[str, list[Any]]:
        where = ["log_index MATCH ?"]
        args: list[Any] = []
        if benchmark is not None:
            where.append("e.benchmark = ?")
            args.append(benchmark)
        if run is not None:
            where.append("(e.execution_id = ? OR e.run_id = ?)")
            args.extend([run, run])
        if since is not None:
            where.append("l.at >= ?")
            args.append(since)
        sql = (
            "SELECT e.execution_id, e.run_id, e.benchmark, l.stream, l.line, l.at, l.text "
            "FROM log_index JOIN log_lines AS l ON l.id = log_index.rowid "
            "JOIN executions AS e ON e.id = l.execution "
            f"WHERE {' AND '.join(where)} ORDER BY log_index.rowid DESC LIMIT ?"
        )
        return sql, args

    def search(
        self,
        query: str,
        *,
        benchmark: str | None = None,
        run: str | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> SearchResult:
        """Lines matching ``query`` (FTS5 syntax), newest first. Input that is not valid FTS5 is
        searched for as plain words (:func:`quote_query`) rather than failing."""
        if not query.strip():
            raise NotFoundError("Give something to search for.")
        sql, args = self._search_sql(benchmark=benchmark, run=run, since=since)
        try:
            return SearchResult(self._hits(sql, [query, *args, limit]), query, False)
        except sqlite3.OperationalError as e:
            if not _FTS_ERROR.search(str(e)):
                raise StoreError(f"The journal {self.path} could not be searched: {e}.") from e
            log.debug("%r is not an FTS5 query (%s); searching for its words", query, e)
        quoted = quote_query(query)
        try:
            return SearchResult(self._hits(sql, [quoted, *args, limit]), quoted, True)
        except sqlite3.Error as e:
            raise StoreError(f"The journal {self.path} could not be searched for {quoted}: {e}.") from e

    def _hits(self, sql: str, args: Sequence[Any]) -> list[SearchHit]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"The journal {self.path} is closed; open it again to use it.")
            rows = self._conn.execute(sql, args).fetchall()  # autocommit: one statement, one snapshot
        return [SearchHit(*r) for r in rows]

    def explain_search(self, query: str, **filters: Any) -> list[str]:
        """The query plan of :meth:`search` (what ``bench/search.py`` shows)."""
        sql, args = self._search_sql(
            benchmark=filters.get("benchmark"), run=filters.get("run"), since=filters.get("since")
        )
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", [query, *args, 50]).fetchall()
        return [str(r[-1]) for r in rows]

    def count_lines(self) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT count(*) FROM log_lines").fetchone()[0])


def open_journal(data_dir: Path) -> Journal | None:
    """The journal under ``data_dir`` for reading, or ``None`` when nothing was journaled there yet."""
    path = journal_path(data_dir)
    return Journal(path) if path.exists() else None
