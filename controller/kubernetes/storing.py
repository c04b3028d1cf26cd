"""Storing finished runs from many workers at once: a group commit.

A burst of completions (a thousand runs of a sweep ending within a second) has every reconcile
worker storing a result at the same moment. Each :meth:`ResultStore.put` is a transaction of its own
under the store's one lock: the workers queued behind it, each waiting for every commit before its
own. :class:`GroupCommit` keeps ``put``'s contract (the record is stored, or found stored, when it
returns; its errors are raised in the caller's thread) and writes what is waiting together: the first
worker to arrive writes its record; the records handed over meanwhile wait, and the first of them
then writes them all in one :meth:`BatchStore.put_many` transaction, and so on. No thread of its own,
nothing held back: a record alone is written at once, as before, and each caller returns as soon as
its own record is written.

A batch that fails (the disk is full, the file is locked past the busy timeout) is written again one
record at a time, so that each caller gets its own record's answer or error, never another's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from controller.store import ResultStore
from schemas.errors import StoreError
from schemas.results import ResultRecord

MAX_BATCH = 256
"""Records written in one transaction at most (a transaction holds the store's lock throughout)."""


@runtime_checkable
class BatchStore(Protocol):
    def put_many(self, records: Sequence[ResultRecord]) -> list[bool]:
        """:meth:`ResultStore.put` of each record, in one transaction."""
        ...


@dataclass
class _Pending:
    record: ResultRecord
    wake: threading.Event = field(default_factory=threading.Event)  # answered, or made the writer
    answered: bool = False
    stored: bool = False
    error: BaseException | None = None


class GroupCommit:
    """``put`` for many threads, written in batches to ``store``; a store that cannot write batches
    (the S3 store: one object per record, written concurrently) is called by each thread directly."""

    def __init__(self, store: ResultStore, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self._batches = isinstance(store, BatchStore)
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Pending] = []
        self._writing = False  # a caller is writing a batch (or has just been made the writer)
        self.batches = 0  # transactions written (for tests and the benchmark)

    def put(self, record: ResultRecord) -> bool:
        """Store ``record`` (``False`` if its execution id is already stored); raises what the store
        raises for it."""
        if not self._batches:  # each caller its own put, in its own thread, at once (S3: concurrent writes)
            return self.store.put(record)
        pending = _Pending(record)
        with self._lock:
            self._waiting.append(pending)
            lead = not self._writing
            self._writing = True
        if not lead:
            pending.wake.wait()
        if not pending.answered:  # the writer: its record is first in line, so in the batch it writes
            self._write_next()
        if pending.error is not None:
            raise pending.error
        return pending.stored

    def _write_next(self) -> None:
        """Write what waits (one batch), then make the first caller still waiting the next writer:
        each caller returns once its own record is written, never writing others' afterwards."""
        with self._lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].wake.set()
                else:
                    self._writing = False

    def _write(self, batch: list[_Pending]) -> None:
        try:
            if isinstance(self.store, BatchStore) and len(batch) > 1:
                try:
                    answers = self.store.put_many([p.record for p in batch])
                except Exception:  # noqa: BLE001 - written again one at a time: each caller gets its own error
                    answers = None
                if answers is not None:
                    for pending, stored in zip(batch, answers, strict=True):
                        pending.stored, pending.answered = stored, True
            for pending in batch:
                if not pending.answered:
                    try:
                        pending.stored = self.store.put(pending.record)
                    except Exception as e:  # noqa: BLE001 - raised in the caller's thread
                        pending.error = e
                    pending.answered = True
        finally:
            self.batches += 1
            for pending in batch:
                if not pending.answered:  # the writer was interrupted (KeyboardInterrupt, SystemExit)
                    pending.error = StoreError("the result was not stored: the thread writing it was interrupted")
                    pending.answered = True
                pending.wake.set()
