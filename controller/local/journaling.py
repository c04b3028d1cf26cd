"""Journaling a local execution as it runs, and reading back what this machine knows of runs.

:class:`JournalTap` is the :class:`~controller.local.runner.ExecutionTap` that ``anubis run`` hands the
runner. It writes each status change to the journal at once (so ``anubis status --watch`` sees it), and
cuts each process's output at its last newline, numbering lines per stream as the kept log numbers
them (by counting newlines: no per-line work while the benchmark runs), and stores the whole lines
as chunks (:mod:`controller.journal.chunks`): one row per stream, written by a background thread
when :data:`BATCH_LINES` lines are pending or the oldest is :data:`FLUSH_INTERVAL` seconds old,
whichever comes first, all pending chunks in one transaction, and always before the final status is
recorded — so once the journal says an execution is final, every one of its lines is there. The
thread that reads the benchmark's pipe only cuts and counts; it writes to the journal itself only when
:data:`BEHIND_BYTES` are waiting (the journal is slower than the benchmark: memory stays bounded).
``anubis logs`` reads the lines at once; the first ``anubis search`` indexes them, in bulk
(:mod:`controller.journal.indexing`). A line's time is its chunk's: when the first of the chunk's
lines arrived (at most :data:`FLUSH_INTERVAL` earlier).

Limits, so that one noisy benchmark cannot swamp the journal: at most :data:`MAX_LINE_BYTES` of a
line and :data:`DEFAULT_INDEX_CAP` bytes of lines per execution are indexed (the kept log has them
all, up to its own cap). Journaling never fails a run: a journal error is logged and the run goes on.

:class:`LocalRuns` is the reading side the commands share (``anubis list``, ``status``, ``logs``,
``purge``): the journal, the registry of active runs and the result store, seen together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from controller.journal import ExecutionInfo, Journal, JournalEntry
from controller.journal.chunks import CUT_BYTES, MAX_LINE_BYTES
from controller.lazy_logging import ModuleLogger
from schemas.errors import AnubisError, NotFoundError
from schemas.status import RunStatus

if TYPE_CHECKING:  # types only: `anubis list` and `search` start without the store and RunSpec modules
    from controller.local.registry import Registry
    from controller.sqlite_store import SqliteResultStore
    from controller.sqlite_store.reading import StoredRun
    from schemas.results import ResultRecord
    from schemas.runspec import RunSpec

log = ModuleLogger(__name__)  # logging imported on the first message

BATCH_LINES = 50_000
BEHIND_BYTES = 64 * 1024 * 1024  # pending bytes past which the reader writes them itself (bounded memory)
FLUSH_INTERVAL = 0.5  # seconds
DEFAULT_INDEX_CAP = 64 * 1024 * 1024  # bytes of lines indexed per execution


# The writer's two records are plain classes: `anubis list` and `status` import this module for
# LocalRuns, and a dataclass is compiled at import.


class _Stream:
    __slots__ = ("execution_id", "line", "name", "partial", "partial_dropped")

    def __init__(self, execution_id: str, name: str) -> None:
        self.execution_id = execution_id
        self.name = name
        self.line = 0  # lines numbered so far
        self.partial = b""  # the start of a line whose newline has not come yet
        self.partial_dropped = False  # that line is longer than MAX_LINE_BYTES: the rest is dropped


class _Chunk:
    """Whole lines of one stream waiting to be stored."""

    __slots__ = ("at", "execution_id", "first_line", "lines", "parts", "stream")

    def __init__(self, execution_id: str, stream: str, first_line: int, lines: int, at: float,
                 parts: list[bytes]) -> None:
        self.execution_id = execution_id
        self.stream = stream
        self.first_line = first_line
        self.lines = lines
        self.at = at
        self.parts = parts


class JournalTap:
    """Records executions in ``journal`` (see the module's docstring). Call :meth:`close` at the end."""

    def __init__(
        self,
        journal: Journal,
        *,
        batch_lines: int = BATCH_LINES,
        flush_interval: float = FLUSH_INTERVAL,
        index_cap_bytes: int = DEFAULT_INDEX_CAP,
        clock: Callable[[], float] = time.time,
        owns_journal: bool = False,
    ) -> None:
        self.journal = journal
        self.owns_journal = owns_journal
        self.batch_lines = batch_lines
        self.flush_interval = flush_interval
        self.index_cap = index_cap_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: list[_Chunk] = []
        self._pending_lines = 0
        self._pending_bytes = 0
        self._oldest: float | None = None
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._indexed: dict[str, int] = {}  # execution id -> bytes indexed
        self._capped: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a batch is full: the flusher writes it
        self._flusher: threading.Thread | None = None

    # -- the runner's calls ----------------------------------------------------------------------

    def status(self, spec: RunSpec, execution_id: str, status: RunStatus, detail: str) -> None:
        if status.is_final:
            self._finish_streams(execution_id)
            self.flush()
        info = ExecutionInfo(
            execution_id=execution_id,
            run_id=spec.run_id,
            benchmark=spec.benchmark,
            environment=spec.environment,
            backend="local",
            commit=spec.source.commit,
        )
        try:
            self.journal.record_transition(info, status, detail)
        except AnubisError as e:
            log.warning("could not journal %s of %s: %s", status, execution_id, e)
        if status.is_final:
            with self._lock:
                self._indexed.pop(execution_id, None)
                self._capped.discard(execution_id)

    def output_sink(self, spec: RunSpec, execution_id: str, role: str) -> Callable[[bytes], None]:
        with self._lock:
            stream = self._streams.setdefault((execution_id, role), _Stream(execution_id, role))
        self._start_flusher()

        def sink(chunk: bytes) -> None:
            self._feed(stream, chunk)

        return sink

    def close(self) -> None:
        """Stop the background flusher and write what is pending (and close the journal if this
        tap owns it)."""
        self._stop.set()
        self._wake.set()
        if self._flusher is not None and self._flusher.is_alive():
            self._flusher.join()
        self.flush()
        if self.owns_journal:
            self.journal.close()

    def __enter__(self) -> JournalTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lines ---------------------------------------------------------------------------------------

    def _feed(self, stream: _Stream, chunk: bytes) -> None:
        now = self.clock()
        with self._lock:
            head = b""
            if stream.partial_dropped:  # inside an over-long line: drop up to its newline
                newline = chunk.find(b"\n")
                if newline < 0:
                    return
                head = stream.partial + CUT_BYTES + b"\n"
                stream.partial, stream.partial_dropped = b"", False
                chunk = chunk[newline + 1 :]
            last = chunk.rfind(b"\n")
            if last < 0:
                whole, rest = b"", stream.partial + chunk
            else:
                whole, rest = stream.partial + chunk[: last + 1], chunk[last + 1 :]
            if len(rest) > MAX_LINE_BYTES:
                rest, stream.partial_dropped = rest[:MAX_LINE_BYTES], True
            stream.partial = rest
            whole = head + whole
            if whole:
                self._add(stream, whole, whole.count(b"\n"), now)
            full = self._pending_lines >= self.batch_lines
            behind = self._pending_bytes >= BEHIND_BYTES or (full and self._flusher is None)
        if behind:  # the flusher cannot keep up (or there is none): the reader waits for the journal
            self.flush()
        elif full:  # the flusher writes it, while this thread goes back to reading the pipe
            self._wake.set()

    def _add(self, stream: _Stream, data: bytes, lines: int, at: float) -> None:
        """Queue ``lines`` whole lines of ``stream`` (the lock is held), up to the execution's cap."""
        execution_id = stream.execution_id
        if execution_id in self._capped or lines == 0:
            return
        used = self._indexed.get(execution_id, 0)
        size = len(data) - data.count(b"\n")  # the cap counts the lines' bytes, not their newlines
        if used + size > self.index_cap:
            data, lines, size = _within(data, self.index_cap - used)
            self._capped.add(execution_id)
            log.warning(
                "%s printed more than %d bytes; the rest of its lines are kept in its log but not indexed",
                execution_id,
                self.index_cap,
            )
            if not lines:
                return
        self._indexed[execution_id] = used + size
        first = stream.line + 1
        stream.line += lines
        tail = self._pending[-1] if self._pending else None
        if tail is not None and tail.execution_id == execution_id and tail.stream == stream.name:
            tail.parts.append(data)
            tail.lines += lines
        else:
            self._pending.append(_Chunk(execution_id, stream.name, first, lines, at, [data]))
        self._pending_lines += lines
        self._pending_bytes += len(data)
        if self._oldest is None:
            self._oldest = at

    def _finish_streams(self, execution_id: str) -> None:
        """The execution ended: its last line, if it had no newline, is a line too."""
        now = self.clock()
        with self._lock:
            for key in [k for k in self._streams if k[0] == execution_id]:
                stream = self._streams.pop(key)
                if stream.partial or stream.partial_dropped:
                    last = stream.partial + (CUT_BYTES if stream.partial_dropped else b"")
                    self._add(stream, last, 1, now)
                    stream.partial, stream.partial_dropped = b"", False

    def flush(self) -> None:
        """Store the pending lines: one chunk per stream, all in one transaction."""
        with self._write_lock:
            with self._lock:
                batch, self._pending, self._pending_lines, self._oldest = self._pending, [], 0, None
                self._pending_bytes = 0
            if not batch:
                return
            try:
                self.journal.add_chunks(
                    [(c.execution_id, c.stream, c.first_line, c.lines, c.at, b"".join(c.parts)) for c in batch]
                )
            except AnubisError as e:
                log.warning("could not journal %d log lines: %s", sum(c.lines for c in batch), e)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None or self._stop.is_set():
                return
            self._flusher = threading.Thread(target=self._flush_loop, name="journal-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.flush_interval / 2)
            self._wake.clear()
            with self._lock:
                due = self._oldest is not None and (
                    woken or self._pending_lines >= self.batch_lines or self.clock() - self._oldest >= self.flush_interval
                )
            if due:
                self.flush()


def _within(data: bytes, room: int) -> tuple[bytes, int, int]:
    """The whole lines at the start of ``data`` whose bytes (newlines not counted) fit in ``room``:
    ``(lines' data, how many, their bytes)``."""
    kept, size, count = 0, 0, 0
    while True:
        newline = data.find(b"\n", kept)
        end = len(data) if newline < 0 else newline
        if end == kept and newline < 0:
            break
        if size + (end - kept) > room:
            break
        size += end - kept
        count += 1
        kept = end + 1 if newline >= 0 else end
        if newline < 0:
            break
    return data[:kept], count, size


# -- reading: the journal, the registry of active runs and the result store together --------------

LOST_REASON = (
    "its `anubis run` process ended without recording a final status (it was killed, or the machine "
    "restarted); the last status it recorded was {status}"
)


class RunView(NamedTuple):
    """One execution as the commands show it, from whichever source knows it best (a named tuple,
    as the journal's entries: cheaper to define at import than a frozen dataclass)."""

    execution_id: str
    run_id: str
    benchmark: str
    environment: str
    backend: str
    status: RunStatus
    reason: str
    started_at: float | None
    finished_at: float | None
    commit: str | None
    active: bool  # running on this machine now
    journaled: bool  # the journal has its status history

    def duration(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else (now if self.active else None)
        return None if end is None else max(0.0, end - self.started_at)


class LocalRuns:
    """What this machine knows of executions: the journal (status histories, runs in progress), the
    registry of active runs (is its ``anubis run`` still there?) and the result store (finished
    records, also of runs never journaled here). Any of the three may be missing."""

    def __init__(self, journal: Journal | None, registry: Registry, store: SqliteResultStore | None) -> None:
        self.journal = journal
        self.registry = registry
        self.store = store

    def active_ids(self) -> set[str]:
        return {run.execution_id for run in self.registry.active()}

    def view(self, entry: JournalEntry, active: set[str] | None = None) -> RunView:
        """The journal's entry, with a run whose process vanished shown as ERROR (never left
        RUNNING for ever)."""
        ids = self.active_ids() if active is None else active
        status, reason, finished = entry.status, entry.reason, entry.finished_at
        running = entry.execution_id in ids
        if not status.is_final and not running and entry.backend == "local":
            if self.journal is not None:  # it may have ended between the two reads
                entry = self.journal.get(entry.execution_id)
                status, reason, finished = entry.status, entry.reason, entry.finished_at
            if not status.is_final:
                status, reason = RunStatus.ERROR, LOST_REASON.format(status=entry.status.value)
        return RunView(
            execution_id=entry.execution_id,
            run_id=entry.run_id,
            benchmark=entry.benchmark,
            environment=entry.environment,
            backend=entry.backend,
            status=status,
            reason=reason,
            started_at=entry.started_at,
            finished_at=finished,
            commit=entry.commit,
            active=running and not status.is_final,
            journaled=True,
        )

    @staticmethod
    def from_record(record: ResultRecord | StoredRun, *, journaled: bool = False) -> RunView:
        """The view of a stored execution: its record, or what the store lists of it (``StoredRun``:
        the same fields, read from the columns)."""
        return RunView(
            execution_id=record.execution_id,
            run_id=record.run_id,
            benchmark=record.benchmark,
            environment=record.environment,
            backend=record.backend,
            status=record.status,
            reason=record.reason,
            started_at=record.started_at,
            finished_at=record.finished_at,
            commit=record.commit,
            active=False,
            journaled=journaled,
        )

    def find(self, ref: str | None) -> RunView:
        """An execution id, a run id (its latest execution) or a unique prefix; the latest execution
        when ``ref`` is ``None``. The journal answers first, then the result store."""
        journal_error: NotFoundError | None = None
        if self.journal is not None:
            try:
                entry = self.journal.find(ref) if ref is not None else self.journal.latest()
                if entry is not None:
                    return self.view(entry)
            except NotFoundError as e:
                journal_error = e
        if self.store is not None:
            try:
                record = self.store.find(ref) if ref is not None else self.store.latest()
            except NotFoundError as e:
                if journal_error is None or "ambiguous" in str(e):
                    raise
                raise journal_error from None
            if record is not None:
                return self.from_record(record)
        if journal_error is not None:
            raise journal_error
        raise NotFoundError(
            "No run is known on this machine yet (no journal, no stored result). Run a benchmark first, "
            "for example `anubis run benchmarks/<name>`."
        )

    def recent(
        self,
        *,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[RunView]:
        """Executions newest first: those in progress and those finished, each once."""
        views: dict[str, RunView] = {}
        active = self.active_ids()
        if self.journal is not None:
            entries = []
            if status is None:
                entries = self.journal.executions(benchmark=benchmark, since=since, limit=limit)
            else:
                entries = self.journal.executions(benchmark=benchmark, status=status, since=since, limit=limit)
                if status is RunStatus.ERROR:  # a lost run shows as ERROR
                    entries += self.journal.executions(benchmark=benchmark, since=since, active=True, limit=limit)
            for entry in entries:
                views[entry.execution_id] = self.view(entry, active)
        if self.store is not None:
            for run in self.store.stored_runs(benchmark=benchmark, status=status, since=since, limit=limit):
                views[run.execution_id] = self.from_record(run, journaled=run.execution_id in views)
        found = [v for v in views.values() if status is None or v.status is status]
        found.sort(key=lambda v: v.started_at if v.started_at is not None else 0.0, reverse=True)
        return found[:limit]
