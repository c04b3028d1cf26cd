"""The SQLite result store: the embedded default, one file under the data folder.

Each execution is one row of ``runs``: the columns that queries filter and sort on, and the whole
record as JSON (the source of truth, read back with :meth:`ResultRecord.from_dict`). Each metric of
an execution has a row in ``metrics`` (its summary statistics) and one in ``metric_samples`` (its
values and times, packed), so a metric's history is read without decoding any record.

Several processes may write at once (two ``anubis run`` in two terminals, a controller and a person):
the database runs in WAL mode, every write takes the write lock up front (``BEGIN IMMEDIATE``) and a
busy timeout makes a writer wait its turn instead of failing with "database is locked".

The schema is versioned with ``PRAGMA user_version``. :data:`~controller.sqlite_store.schema.MIGRATIONS`
lists the steps; opening a
store applies the missing ones, each in its own transaction, so an old store is upgraded in place and
two processes opening a new store at once both end up with the same schema.
"""

from __future__ import annotations

from controller.sqlite_store.reading import MetricPoint, StoreReading
from controller.sqlite_store.writing import StoreWriting


class SqliteResultStore(StoreWriting, StoreReading):
    """A :class:`~controller.store.ResultStore` in one SQLite file (created, with its folders).

    Use it as a context manager, or call :meth:`close`, to close its connection. Its connection is
    :class:`~controller.sqlite_store.connection.StoreConnection`; what it writes and reads is in
    :mod:`~controller.sqlite_store.writing` and :mod:`~controller.sqlite_store.reading`.
    """


__all__ = ["MetricPoint", "SqliteResultStore"]
