"""What Anubis' SQLite files (the result store, the journal) share: how a connection is opened (WAL,
busy timeout, foreign keys) and how a transaction runs (immediate for writes, rolled back on any
error, SQLite's errors turned into a :class:`~schemas.errors.StoreError` that names the file)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.lazy_logging import ModuleLogger
from controller.retrying import RetryPolicy
from schemas.errors import StoreError

log = ModuleLogger(__name__)  # logging imported on the first message

#: Opening a file another process is setting up: 10 ms doubled up to 0.5 s, until the busy timeout.
OPEN_RETRY = RetryPolicy(attempts=0, base_delay=0.01, max_delay=0.5, jitter=0.0)


def open_connection(path: Path, busy_timeout_s: float, what: str) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, waiting up to ``busy_timeout_s`` for locks."""
    conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000):d}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s %s runs in journal mode %s, not WAL", what, path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(
    conn: sqlite3.Connection | None, lock: threading.Lock | threading.RLock, *, write: bool, what: str, path: Path
) -> Iterator[sqlite3.Connection]:
    """One transaction on ``conn`` under ``lock``; ``what`` ("The journal") names the file in errors."""
    with lock:
        if conn is None:
            raise StoreError(f"{what} {path} is closed; open it again to use it.")
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
            raise StoreError(f"{what} {path} could not be {'written' if write else 'read'}: {e}.") from e


def open_migrated(
    connect: Callable[[Path], sqlite3.Connection],
    migrate: Callable[[sqlite3.Connection], object],
    path: Path,
    busy_timeout_s: float,
) -> sqlite3.Connection:
    """Connect and migrate, retrying while another process holds a lock that SQLite reports without
    waiting (it can, while several processes set up a new database file at once)."""
    deadline = time.monotonic() + busy_timeout_s
    failures = 0
    while True:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(path)  # switching a new file to WAL can be refused at once, too
            migrate(conn)
            return conn
        except sqlite3.OperationalError as e:
            if conn is not None:
                conn.close()
            transient = "locked" in str(e) or "busy" in str(e)
            failures += 1
            pause = OPEN_RETRY.delay(failures)
            if not transient or time.monotonic() + pause > deadline:
                raise
            log.debug("%s is busy while opening (%s); retrying", path, e)
            time.sleep(pause)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
