"""The journal's connection: opening (and migrating) the file, one transaction at a time across
threads, and the cache of execution ids to row keys that writers share."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from controller.journal.schema import BUSY_TIMEOUT_S, connect, migrate
from controller.sqlite_files import open_migrated, transaction
from schemas.errors import NotFoundError, StoreError


class JournalConnection:
    """The open journal file at ``path`` (created, with its folder, and migrated): the connection,
    the lock that makes it thread-safe, transactions, and the execution-key cache."""

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
        self._conn = open_migrated(connect, migrate, self.path, BUSY_TIMEOUT_S)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        with transaction(self._conn, self._lock, write=write, what="The journal", path=self.path) as conn:
            yield conn

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
