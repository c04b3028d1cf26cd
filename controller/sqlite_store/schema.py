"""The result store's tables, the migrations that bring an older store up to date, and connecting.

The schema is versioned with ``PRAGMA user_version``. :data:`MIGRATIONS` lists the steps; opening a
store applies the missing ones, each in its own transaction, so an old store is upgraded in place and
two processes opening a new store at once both end up with the same schema.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controller.lazy_logging import ModuleLogger
from controller.sqlite_files import open_connection
from controller.sqlite_store.rows import decode_record, pack_doubles
from schemas.errors import StoreError

if TYPE_CHECKING:  # a type only: the reading commands list and find runs without the record's classes
    from schemas.results import ResultRecord

log = ModuleLogger(__name__)  # logging imported on the first message

#: Seconds a writer waits for another one before giving up.
BUSY_TIMEOUT_S = 60.0

Migration = Callable[[sqlite3.Connection], None]


def _v1_runs(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE runs (
            execution_id TEXT PRIMARY KEY,
            run_id       TEXT NOT NULL,
            benchmark    TEXT NOT NULL,
            environment  TEXT NOT NULL,
            status       TEXT NOT NULL,
            started_at   REAL,
            finished_at  REAL,
            sort_time    REAL NOT NULL,  -- started_at, else finished_at, else stored_at
            stored_at    REAL NOT NULL,
            branch       TEXT,
            "commit"     TEXT,
            matrix_point TEXT NOT NULL,  -- canonical JSON (sorted keys)
            record       TEXT NOT NULL   -- ResultRecord.to_dict() as JSON
        )
        """
    )
    conn.execute("CREATE INDEX runs_by_run ON runs (run_id, sort_time)")
    conn.execute("CREATE INDEX runs_by_benchmark ON runs (benchmark, sort_time)")
    conn.execute("CREATE INDEX runs_by_time ON runs (sort_time)")


def _v2_metrics(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE metrics (
            execution_id TEXT NOT NULL REFERENCES runs (execution_id) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            unit         TEXT NOT NULL,
            direction    TEXT NOT NULL,
            n            INTEGER NOT NULL,  -- finite values; the statistics are NULL when 0
            last REAL, mean REAL, median REAL, min REAL, max REAL, stdev REAL,
            PRIMARY KEY (execution_id, name)
        )
        """
    )
    conn.execute("CREATE INDEX metrics_by_name ON metrics (name)")
    conn.execute(
        """
        CREATE TABLE metric_values (
            execution_id TEXT NOT NULL REFERENCES runs (execution_id) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            seq          INTEGER NOT NULL,
            value        REAL,  -- NULL stands for NaN, which SQLite cannot hold
            time         REAL,
            PRIMARY KEY (execution_id, name, seq)
        )
        """
    )
    for execution_id, text in conn.execute("SELECT execution_id, record FROM runs").fetchall():
        _insert_metric_rows_v2(conn, execution_id, decode_record(execution_id, text))


def _insert_metric_rows_v2(conn: sqlite3.Connection, execution_id: str, record: ResultRecord) -> None:
    """The metrics' rows as version 2 laid them out (one row per value): what :func:`_v5_samples`
    then packs."""
    for name, metric in record.metrics.items():
        s = metric.summary()
        conn.execute(
            "INSERT INTO metrics (execution_id, name, unit, direction, n, last, mean, median, min, "
            "max, stdev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (execution_id, name, metric.unit, metric.direction, s.n if s else 0,
             *((s.last, s.mean, s.median, s.min, s.max, s.stdev) if s else (None,) * 6)),
        )
        times = list(metric.times) + [None] * (len(metric.values) - len(metric.times))
        conn.executemany(
            "INSERT INTO metric_values (execution_id, name, seq, value, time) VALUES (?, ?, ?, ?, ?)",
            [
                (execution_id, name, seq, None if math.isnan(value) else value, at)
                for seq, (value, at) in enumerate(zip(metric.values, times))
            ],
        )


def _v3_identity(conn: sqlite3.Connection) -> None:
    for column in ("family_id TEXT", "backend TEXT", "repository TEXT", "pull_request INTEGER"):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    for execution_id, text in conn.execute("SELECT execution_id, record FROM runs").fetchall():
        record = decode_record(execution_id, text)
        conn.execute(
            "UPDATE runs SET family_id = ?, backend = ?, repository = ?, pull_request = ? "
            "WHERE execution_id = ?",
            (record.family_id, record.backend, record.repository, record.pull_request, execution_id),
        )
    conn.execute("CREATE INDEX runs_by_family ON runs (family_id, sort_time)")


def _v4_baseline_resets(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE baseline_resets (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            benchmark   TEXT NOT NULL,
            metric      TEXT,  -- NULL: every metric
            environment TEXT,  -- NULL: every environment
            at          REAL NOT NULL,
            by          TEXT NOT NULL,
            reason      TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX baseline_resets_by_benchmark ON baseline_resets (benchmark, at)")


def _v5_samples(conn: sqlite3.Connection) -> None:
    """A metric's values and times in one row (:mod:`~controller.sqlite_store.rows`), not one row each."""
    conn.execute(
        """
        CREATE TABLE metric_samples (
            execution_id TEXT NOT NULL REFERENCES runs (execution_id) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            "values"     BLOB NOT NULL,  -- little-endian doubles
            times        BLOB NOT NULL,  -- one per value; NaN where unknown
            PRIMARY KEY (execution_id, name)
        )
        """
    )
    insert = 'INSERT INTO metric_samples (execution_id, name, "values", times) VALUES (?, ?, ?, ?)'
    key: tuple[str, str] | None = None
    values: list[float] = []
    times: list[float] = []
    # One metric of one execution in memory at a time (a store may hold thousands of 100,000-value
    # metrics); the rows come in (execution, metric, seq) order from the table's primary key.
    for execution_id, name, value, at in conn.cursor().execute(
        "SELECT execution_id, name, value, time FROM metric_values ORDER BY execution_id, name, seq"
    ):
        if (execution_id, name) != key:
            if key is not None:
                conn.execute(insert, (*key, pack_doubles(values), pack_doubles(times)))
            key, values, times = (execution_id, name), [], []
        values.append(math.nan if value is None else value)
        times.append(math.nan if at is None else at)
    if key is not None:
        conn.execute(insert, (*key, pack_doubles(values), pack_doubles(times)))
    conn.execute("DROP TABLE metric_values")


#: Step ``i`` brings a store from version ``i`` to ``i + 1``. Append, never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v1_runs, _v2_metrics, _v3_identity, _v4_baseline_resets, _v5_samples)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert isinstance(version, int)
    return version


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migration steps up to ``target``, each in its own write transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns the version found before.
    The version is read again under the write lock, so concurrent openers never apply a step twice.
    """
    found: int | None = None
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)
            found = version if found is None else found
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The result store has schema version {version}, newer than this version of "
                    f"Anubis understands ({SCHEMA_VERSION}). Upgrade Anubis to read it."
                )
            if version >= target:
                conn.execute("COMMIT")
                return found
            log.info("migrating result store schema from version %s to %s", version, version + 1)
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, waiting up to :data:`BUSY_TIMEOUT_S` for locks."""
    return open_connection(path, BUSY_TIMEOUT_S, "result store")
