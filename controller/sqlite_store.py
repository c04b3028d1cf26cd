"""The SQLite result store: the embedded default, one file under the data folder.

Each execution is one row of ``runs``: the columns that queries filter and sort on, and the whole
record as JSON (the source of truth, read back with :meth:`ResultRecord.from_dict`). Each metric of
an execution has a row in ``metrics`` (its summary statistics) and one row per value in
``metric_values``, so a metric's history is read without decoding any record.

Several processes may write at once (two ``anubis run`` in two terminals, a controller and a person):
the database runs in WAL mode, every write takes the write lock up front (``BEGIN IMMEDIATE``) and a
busy timeout makes a writer wait its turn instead of failing with "database is locked".

The schema is versioned with ``PRAGMA user_version``. :data:`MIGRATIONS` lists the steps; opening a
store applies the missing ones, each in its own transaction, so an old store is upgraded in place and
two processes opening a new store at once both end up with the same schema.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from controller.store import (
    BaselineReset,
    canonical_matrix_point,
    check_limit,
    pick_reference,
    record_time,
)
from schemas.errors import NotFoundError, StoreError
from schemas.results import ResultRecord
from schemas.status import FINAL_STATUSES, RunStatus

log = logging.getLogger(__name__)

#: Seconds a writer waits for another one before giving up.
BUSY_TIMEOUT_S = 60.0

Migration = Callable[[sqlite3.Connection], None]

_FINAL = tuple(sorted(s.value for s in FINAL_STATUSES))
_ORDER_NEWEST = "ORDER BY sort_time DESC, rowid DESC"


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
        _insert_metrics(conn, execution_id, _decode(execution_id, text))


def _v3_identity(conn: sqlite3.Connection) -> None:
    for column in ("family_id TEXT", "backend TEXT", "repository TEXT", "pull_request INTEGER"):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    for execution_id, text in conn.execute("SELECT execution_id, record FROM runs").fetchall():
        record = _decode(execution_id, text)
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


#: Step ``i`` brings a store from version ``i`` to ``i + 1``. Append, never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v1_runs, _v2_metrics, _v3_identity, _v4_baseline_resets)
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
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("result store %s runs in journal mode %s, not WAL", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass(frozen=True)
class MetricPoint:
    """One execution's summary of one metric, as :meth:`SqliteResultStore.metric_history` returns."""

    execution_id: str
    run_id: str
    status: RunStatus
    at: float  # the record's ordering time (started, else finished, else stored)
    commit: str | None
    unit: str
    direction: str
    n: int
    last: float | None
    mean: float | None
    median: float | None
    min: float | None
    max: float | None
    stdev: float | None
    values: tuple[float, ...]
    times: tuple[float, ...]


class SqliteResultStore:
    """A :class:`~controller.store.ResultStore` in one SQLite file (created, with its folders).

    Use it as a context manager, or call :meth:`close`, to close its connection.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"Cannot create the folder of the result store {self.path}: {e}.") from e
        self._conn: sqlite3.Connection | None = None
        try:
            self._open()
        except sqlite3.Error as e:
            self.close()
            raise StoreError(
                f"Cannot open the result store {self.path}: {e}. Check that the file is an Anubis "
                "result store and that this user may write it."
            ) from e
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------------

    def _open(self) -> None:
        """Connect and migrate, retrying while another process holds a lock that SQLite reports
        without waiting (it can, while a new database file is set up by several processes)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.01
        while True:
            try:
                self._conn = connect(self.path)
                migrate(self._conn)
                return
            except sqlite3.OperationalError as e:
                self.close()
                transient = "locked" in str(e) or "busy" in str(e)
                if not transient or time.monotonic() + pause > deadline:
                    raise
                log.debug("result store %s is busy while opening (%s); retrying", self.path, e)
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteResultStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"The result store {self.path} is closed; open it again to use it.")
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
                action = "written" if write else "read"
                raise StoreError(f"The result store {self.path} could not be {action}: {e}.") from e

    # -- writing ---------------------------------------------------------------------------------

    def put(self, record: ResultRecord) -> bool:
        stored_at = self._clock()
        text = json.dumps(record.to_dict(), separators=(",", ":"))  # key order kept: metric order
        with self._transaction(write=True) as conn:
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
            _insert_metrics(conn, record.execution_id, record)
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

    def resets(self, benchmark: str) -> list[BaselineReset]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT id, benchmark, metric, environment, at, by, reason FROM baseline_resets "
                "WHERE benchmark = ? ORDER BY at, id",
                (benchmark,),
            ).fetchall()
        return [
            BaselineReset(benchmark=b, at=at, by=by, reason=reason, metric=m, environment=e, id=i)
            for i, b, m, e, at, by, reason in rows
        ]

    # -- reading ---------------------------------------------------------------------------------

    def get(self, execution_id: str) -> ResultRecord:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT record FROM runs WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f"No result of execution {execution_id!r} is stored in {self.path}. "
                "List the stored runs with `anubis history <benchmark>`."
            )
        return _decode(execution_id, row[0])

    def find(self, ref: str) -> ResultRecord:
        ref = ref.strip()
        if not ref:
            raise NotFoundError("An empty reference matches no result: give an execution id or a run id.")
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT execution_id, record FROM runs WHERE execution_id = ?", (ref,)
            ).fetchone()
            if row is None:
                row = conn.execute(
                    f"SELECT execution_id, record FROM runs WHERE run_id = ? {_ORDER_NEWEST} LIMIT 1",
                    (ref,),
                ).fetchone()
            if row is None:
                high = ref + "\U0010ffff"
                executions = [
                    r[0]
                    for r in conn.execute(
                        "SELECT execution_id FROM runs WHERE execution_id >= ? AND execution_id < ? "
                        "LIMIT 100",
                        (ref, high),
                    )
                ]
                runs: dict[str, str] = {}
                for run_id, execution_id in conn.execute(
                    "SELECT run_id, execution_id FROM runs WHERE run_id >= ? AND run_id < ? "
                    "ORDER BY run_id, sort_time DESC, rowid DESC",
                    (ref, high),
                ):
                    runs.setdefault(run_id, execution_id)
                chosen = pick_reference(ref, executions, runs)
                row = conn.execute(
                    "SELECT execution_id, record FROM runs WHERE execution_id = ?", (chosen,)
                ).fetchone()
        return _decode(row[0], row[1])

    def latest(self, benchmark: str | None = None) -> ResultRecord | None:
        found = self.list_runs(benchmark, limit=1)
        return found[0] if found else None

    def list_runs(
        self,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[ResultRecord]:
        check_limit(limit)
        where: list[str] = []
        args: list[Any] = []
        if benchmark is not None:
            where.append("benchmark = ?")
            args.append(benchmark)
        if status is not None:
            where.append("status = ?")
            args.append(RunStatus(status).value)
        if since is not None:
            where.append("sort_time >= ?")
            args.append(since)
        return self._select(where, args, limit)

    def history(
        self,
        benchmark: str,
        *,
        environment: str | None = None,
        matrix_point: Mapping[str, Any] | None = None,
        branch: str | None = None,
        limit: int = 100,
    ) -> list[ResultRecord]:
        check_limit(limit)
        where, args = _history_filter(benchmark, environment, matrix_point, branch)
        return list(reversed(self._select(where, args, limit)))

    def metric_history(
        self,
        benchmark: str,
        metric: str,
        *,
        environment: str | None = None,
        matrix_point: Mapping[str, Any] | None = None,
        branch: str | None = None,
        limit: int = 100,
    ) -> list[MetricPoint]:
        """One metric over the newest ``limit`` finished executions that have it, oldest first,
        read from the metric tables (no record is decoded)."""
        check_limit(limit)
        where, args = _history_filter(benchmark, environment, matrix_point, branch)
        where = [f"r.{clause}" for clause in where] + ["m.name = ?"]
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"""
                SELECT r.execution_id, r.run_id, r.status, r.sort_time, r."commit", m.unit,
                       m.direction, m.n, m.last, m.mean, m.median, m.min, m.max, m.stdev
                FROM runs AS r JOIN metrics AS m ON m.execution_id = r.execution_id
                WHERE {" AND ".join(where)}
                ORDER BY r.sort_time DESC, r.rowid DESC LIMIT ?
                """,
                (*args, metric, limit),
            ).fetchall()
            points = []
            for row in reversed(rows):
                samples = conn.execute(
                    "SELECT value, time FROM metric_values WHERE execution_id = ? AND name = ? "
                    "ORDER BY seq",
                    (row[0], metric),
                ).fetchall()
                points.append(
                    MetricPoint(
                        execution_id=row[0],
                        run_id=row[1],
                        status=RunStatus(row[2]),
                        at=row[3],
                        commit=row[4],
                        unit=row[5],
                        direction=row[6],
                        n=row[7],
                        last=row[8],
                        mean=row[9],
                        median=row[10],
                        min=row[11],
                        max=row[12],
                        stdev=row[13],
                        values=tuple(math.nan if v is None else v for v, _ in samples),
                        times=tuple(math.nan if t is None else t for _, t in samples),
                    )
                )
        return points

    def count(self, benchmark: str | None = None) -> int:
        """How many executions are stored (of ``benchmark``, if given)."""
        with self._transaction(write=False) as conn:
            if benchmark is None:
                row = conn.execute("SELECT count(*) FROM runs").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM runs WHERE benchmark = ?", (benchmark,)).fetchone()
        return int(row[0])

    def _select(self, where: Sequence[str], args: Sequence[Any], limit: int) -> list[ResultRecord]:
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT execution_id, record FROM runs {clause} {_ORDER_NEWEST} LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_decode(execution_id, text) for execution_id, text in rows]


def _history_filter(
    benchmark: str,
    environment: str | None,
    matrix_point: Mapping[str, Any] | None,
    branch: str | None,
) -> tuple[list[str], list[Any]]:
    where = ["benchmark = ?", f"status IN ({', '.join('?' for _ in _FINAL)})"]
    args: list[Any] = [benchmark, *_FINAL]
    if environment is not None:
        where.append("environment = ?")
        args.append(environment)
    if matrix_point is not None:
        where.append("matrix_point = ?")
        args.append(canonical_matrix_point(matrix_point))
    if branch is not None:
        where.append("branch = ?")
        args.append(branch)
    return where, args


def _insert_metrics(conn: sqlite3.Connection, execution_id: str, record: ResultRecord) -> None:
    for name, metric in record.metrics.items():
        s = metric.summary()
        conn.execute(
            "INSERT INTO metrics (execution_id, name, unit, direction, n, last, mean, median, min, "
            "max, stdev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                execution_id,
                name,
                metric.unit,
                metric.direction,
                s.n if s else 0,
                *((s.last, s.mean, s.median, s.min, s.max, s.stdev) if s else (None,) * 6),
            ),
        )
        times = list(metric.times) + [None] * (len(metric.values) - len(metric.times))
        conn.executemany(
            "INSERT INTO metric_values (execution_id, name, seq, value, time) VALUES (?, ?, ?, ?, ?)",
            [
                (execution_id, name, seq, None if math.isnan(value) else value, at)
                for seq, (value, at) in enumerate(zip(metric.values, times))
            ],
        )


def _decode(execution_id: str, text: str) -> ResultRecord:
    try:
        return ResultRecord.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(
            f"The stored result of execution {execution_id!r} cannot be read ({e!r}); the store may "
            "have been written by a newer version of Anubis or edited by hand."
        ) from e
