"""The result store's connection: opening (and migrating) the file, retrying while another process
sets it up, and one transaction at a time across threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from controller.sqlite_files import open_migrated, transaction
from controller.sqlite_store.schema import BUSY_TIMEOUT_S, connect, migrate
from schemas.errors import StoreError


class StoreConnection:
    """The open store file at ``path`` (created, with its folders, and migrated): the connection,
    the lock that makes it thread-safe, and transactions."""

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
        self._conn = open_migrated(connect, migrate, self.path, BUSY_TIMEOUT_S)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
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
        with transaction(self._conn, self._lock, write=write, what="The result store", path=self.path) as conn:
            yield conn

